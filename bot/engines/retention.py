"""The retention sweep, run hourly (and at once on taking over) by the process that holds the
scheduler lease. What it does is in `storage/retention.py`; this module only decides when."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable

from telegram.ext import ContextTypes, JobQueue

from storage import retention
from storage.clock import Clock
from storage.db import Database

logger = logging.getLogger(__name__)

SWEEP_JOB = "retention-sweep"
SWEEP_EVERY = 3600.0  # seconds: the promise is in days, so an hour late is of no consequence


class RetentionSweeper:
    def __init__(self, *, db: Database, clock: Clock, keep_for: dt.timedelta, job_queue: JobQueue | None,
                 on_erased: Callable[[], None] = lambda: None) -> None:
        self.db = db
        # Told after a sweep erased chats, so that nothing this process keeps about them outlives
        # them (the cache of chats' languages).
        self.on_erased = on_erased
        self.clock = clock
        self.keep_for = keep_for
        self.job_queue = job_queue
        self._sweeping = asyncio.Lock()
        # Set after each sweep, so a caller (a test, a benchmark) can wait for the first one.
        self.swept = asyncio.Event()
        self.last_report: retention.SweepReport | None = None
        self._first_sweep: asyncio.Task | None = None
        # False once this process stops sweeping: a sweep under way ends after its current batch.
        self._sweeping_allowed = False

    @property
    def _jobs(self):
        if self.job_queue is None:
            raise RuntimeError("python-telegram-bot was installed without its job-queue extra")
        return self.job_queue

    def activate(self) -> None:
        """This process holds the scheduler lease: sweep now, then every SWEEP_EVERY seconds."""
        self._jobs.run_repeating(self._job, interval=SWEEP_EVERY, first=SWEEP_EVERY, name=SWEEP_JOB,
                                 job_kwargs={"id": SWEEP_JOB, "replace_existing": True, "coalesce": True,
                                             "misfire_grace_time": None})
        self._sweeping_allowed = True
        # APScheduler cannot run a job "now" (PTB's run_repeating documents that first=0 does not
        # work), so the first sweep is a task of this object's own; start-up does not wait for it.
        # It is never cancelled mid-transaction: `deactivate` makes it stop after its batch.
        if self._first_sweep is None or self._first_sweep.done():
            self._first_sweep = asyncio.get_running_loop().create_task(self._job(None), name=SWEEP_JOB)

    def deactivate(self) -> None:
        self._sweeping_allowed = False
        for job in self._jobs.get_jobs_by_name(SWEEP_JOB):
            job.schedule_removal()

    async def stop(self) -> None:
        """At shutdown, before the scheduler lease is released and the database closed: no more
        sweeps, and one under way has finished its batch."""
        self.deactivate()
        if self._first_sweep is not None:
            await self._first_sweep  # _job logs rather than raises
        async with self._sweeping:
            pass

    async def _job(self, context: ContextTypes.DEFAULT_TYPE | None) -> None:
        try:
            await self.sweep_now()
        except Exception:
            # The database says nothing personal in its errors (hide_parameters), so this is safe to log.
            logger.exception("the retention sweep failed; it runs again within the hour")

    async def sweep_now(self) -> retention.SweepReport:
        """One sweep on the injected clock, while this process holds the scheduler lease (otherwise
        it does nothing); the job calls this, and so may a test."""
        async with self._sweeping:
            report = await retention.sweep(self.db, now=self.clock.now(), keep_for=self.keep_for,
                                           keep_going=lambda: self._sweeping_allowed)
        if report.chats_erased:
            self.on_erased()
        self.last_report = report
        self.swept.set()
        if report.deliveries_reduced or report.chats_erased:
            logger.info("retention: %d delivery rows reduced to counts, %d chats erased",
                        report.deliveries_reduced, report.chats_erased)
        return report
