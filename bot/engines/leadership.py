"""Which processes are alive, and which one runs the reminder scheduler.

Every process holds a worker lease of its own (`worker:<holder>`), renewed every few seconds:
deliveries it claimed are its own while that lease lives, and any process may put them back in
the queue once it has run out (the claimer died). Exactly one process also holds the
"scheduler" lease and runs the reminder scheduler. Every process tries to take it at start-up
and then every few seconds; when the holder dies (even by SIGKILL) its lease runs out after
`LEASE_TTL` (storage/leases.py) and the next process to try takes it over and rebuilds the schedule from the
database. A single process (the usual case) simply holds both from start-up on.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable

from bot.engines.reminders import ReminderScheduler
from bot.engines.retention import RetentionSweeper
from storage.db import Database
from storage.leases import (
    FORGET_DEAD_WORKERS_AFTER,
    LEASE_TTL,
    RENEW_EVERY,
    forget_dead_workers,
    live_workers,
    release_lease,
    take_or_renew_lease,
    worker_lease_name,
)

logger = logging.getLogger(__name__)

LEASE_NAME = "scheduler"


def wall_clock() -> dt.datetime:
    # Lease expiry is about real processes dying, so it uses real time even when tests
    # drive reminders with a manual clock.
    return dt.datetime.now(dt.UTC)


class SchedulerLease:
    def __init__(self, *, db: Database, holder: str, scheduler: ReminderScheduler, retention: RetentionSweeper,
                 share_rate: Callable[[int], None], now: Callable[[], dt.datetime] = wall_clock) -> None:
        self.db = db
        # What the lease holder does: the reminder scheduler and the retention sweep.
        self.scheduler = scheduler
        self.retention = retention
        # Told how many processes are alive at each renewal, to share the sending rate among them.
        self.share_rate = share_rate
        self.now = now
        self.holder = holder
        self.held = False
        self._task: asyncio.Task | None = None

    async def step(self) -> bool:
        """Renew this process's worker lease, take or renew the scheduler lease, and start or
        stop scheduling to match. Returns whether the scheduler lease is held."""
        try:
            async with self.db.transaction() as session:
                now = self.now()
                await take_or_renew_lease(session, name=worker_lease_name(self.holder), holder=self.holder, now=now,
                                          ttl=LEASE_TTL)
                held = await take_or_renew_lease(session, name=LEASE_NAME, holder=self.holder, now=now,
                                                 ttl=LEASE_TTL)
                if held:
                    await forget_dead_workers(session, expired_before=now - FORGET_DEAD_WORKERS_AFTER)
                processes = len(await live_workers(session, now=now))
        except Exception:
            # A database we cannot reach is a lease we cannot prove we hold.
            logger.warning("could not renew the scheduler lease", exc_info=True)
            held = False
        else:
            self.share_rate(processes)
        if held and not self.held:
            logger.info("this process (%s) now runs the reminder scheduler", self.holder)
            self.held = True
            await self.scheduler.activate()
            self.retention.activate()
        elif not held and self.held:
            logger.warning("this process (%s) no longer runs the reminder scheduler", self.holder)
            self.held = False
            self.scheduler.deactivate()
            self.retention.deactivate()
        return held

    async def keep_renewing(self) -> None:
        while True:
            await asyncio.sleep(RENEW_EVERY)
            await self.step()

    def start(self) -> None:
        # Started from on_startup, before the Application runs, so PTB's create_task would not
        # track it; this object owns the task and `stop` (from on_shutdown) cancels and awaits it.
        self._task = asyncio.get_running_loop().create_task(self.keep_renewing(), name="scheduler-lease")

    async def stop(self) -> None:
        if self._task is None:
            return  # never started (start-up failed before): nothing was taken
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        if self.held:
            self.scheduler.deactivate()
            self.retention.deactivate()
            self.held = False
        async with self.db.transaction() as session:
            await release_lease(session, name=LEASE_NAME, holder=self.holder)
            await release_lease(session, name=worker_lease_name(self.holder), holder=self.holder)


async def start_scheduler_lease(lease: SchedulerLease) -> None:
    """Try for the lease once now (so a lone process schedules at start-up), then keep trying."""
    await lease.step()
    lease.start()
