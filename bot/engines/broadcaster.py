"""The broadcast engine: sends what the database says is due, and records what happened.

One `Broadcaster` runs inside the bot's Application (started at start-up, stopped at shutdown).
Its loop starts scheduled broadcasts when the injected clock says they are due, and runs one
delivery task per SENDING broadcast. A delivery task reads pending deliveries in keyset pages,
claims a few at a time (marks them SENDING in one commit) just before handing them to the
`Sender`, and a single recorder commits the outcomes in batches. Claiming, sending, recording and
the breakers are the send side, `bot/engines/dispatch.py`; this module decides what to send.

Crash safety rests on one rule, kept by `bot/engines/claims.py`: at most `concurrency`
deliveries are claimed and not yet recorded, so a kill leaves at most that many to send again.

Pausing and cancelling are status changes in the database, seen at the next claim; sends already
claimed finish and are recorded.

A row that cannot be handled is reported and skipped, never retried for ever: a broadcast that
cannot be put together is marked FAILED with the reason (`bot/engines/notices.py`); an outcome
that cannot be stored with its batch is recorded alone (`bot/engines/recorder.py`).

A circuit breaker (`bot/engines/breaker.py`) watches each broadcast's first sends: when Telegram refuses
them for what the message is, the broadcast pauses itself with the reason and those deliveries go
back in the queue for Resume. It is never failed recipient by recipient. What organisers are
told (the report, a pause, a failure) is a notice this engine sends like any broadcast.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import math
import uuid
from collections.abc import Callable

from bot.engines.breaker import CircuitBreaker
from bot.engines.claims import Progress
from bot.engines.collections_pacing import RelaxedCollections
from bot.engines.dispatch import Dispatcher, Versions
from bot.engines.notices import OrganiserNotices, OverdueReviewer, Reporter
from bot.telegram_io.sending import Outgoing, Sender, TelegramSender
from storage.broadcasts.claims import requeue_interrupted_deliveries
from storage.broadcasts.deliveries import pending_deliveries
from storage.broadcasts.listings import BroadcastSummary, broadcast_summary
from storage.broadcasts.notices import broadcasts_awaiting_report, report_of
from storage.broadcasts.status import (
    check_length,
    finish_broadcast,
    next_scheduled_time,
    sending_broadcast_ids,
    start_due_broadcasts,
)
from storage.broadcasts.tables import BroadcastStatus, get_broadcast
from storage.broadcasts.versions import versions_to_send
from storage.clock import Clock
from storage.db import Database
from storage.leases import live_workers
from storage.lists.alert_settings import QuietPolicy
from storage.lists.models import MailingList

logger = logging.getLogger(__name__)

# Renders the message recipients get (the text and the list's footer) from a broadcast: its
# original, or with `version=` one of its versions in another language.
Composer = Callable[..., Outgoing]


# Seconds between looks at deliveries another process holds, while nothing else is left to send.
CLAIMS_ELSEWHERE_RECHECK = 1.0


def default_concurrency(rate: float) -> int:
    """Enough claimed-but-unrecorded sends to keep the pace with ~0.3 s of latency and batching."""
    return max(8, min(1024, math.ceil(rate * 0.6)))


class Broadcaster:
    def __init__(
        self,
        *,
        db: Database,
        sender: Sender,
        clock: Clock,
        compose: Composer,
        report: Reporter | None = None,
        rate: float = 25.0,
        concurrency: int | None = None,
        flush_interval: float = 0.2,
        poll_interval: float = 5.0,
        claimer: str | None = None,
        configured_organisers: frozenset[int] = frozenset(),
        quiet: QuietPolicy | None = None,
        overdue_after: dt.timedelta | None = None,
        review_overdue: OverdueReviewer | None = None,
    ) -> None:
        self.db = db
        self.quiet = quiet
        # Whose claims these are: the process's name (its worker lease says it is alive).
        self.claimer = claimer or f"engine:{uuid.uuid4().hex[:12]}"
        self.sender = sender
        self.clock = clock
        self.compose = compose
        # What organisers are told about broadcasts (the report, the engine's pauses and failures).
        self.notices = OrganiserNotices(clock=clock, report=report, configured_organisers=configured_organisers,
                                        review_overdue=review_overdue)
        # A scheduled broadcast started later than this (the bot was down) waits for an organiser.
        self.overdue_after = overdue_after
        self.rate = rate
        self.concurrency = concurrency or default_concurrency(rate)
        # Outcomes are committed every 0.2 s: one commit for ~200 at 1000/s (a commit costs about as much CPU
        # as sending a few dozen messages), while a kill still leaves at most `concurrency` to send again.
        self.flush_interval = flush_interval
        self.poll_interval = poll_interval
        self.page_size = max(50, min(1000, math.ceil(rate * 2)))
        self._wake = asyncio.Event()
        self.progress = Progress()
        # The send side: claims, sends in flight, breakers and the recorder, for every broadcast.
        self.dispatch = Dispatcher(
            db=db, sender=sender, clock=clock, notices=self.notices, claimer=self.claimer,
            concurrency=self.concurrency,
            # How many deliveries one claim takes: a quarter of a second of sending. Each claim is a
            # transaction (a tenth of the bot's CPU at 1000/s with claims of 100), and what a kill
            # can leave claimed but unsent is bounded by the concurrency, not by this.
            claim_size=max(1, min(self.concurrency // 2, math.ceil(rate * 0.25))),
            flush_interval=flush_interval, quiet=quiet, progress=self.progress, wake=self.wake,
        )
        self._delivery_tasks: dict[int, asyncio.Task] = {}
        self._loop_task: asyncio.Task | None = None
        self._recorder_task: asyncio.Task | None = None
        self._stopping = False
        self._looking = False
        self.requeued_after_restart = 0
        # Broadcasts whose delivery task must start its pass again from the first pending row.
        self._rewind: set[int] = set()
        self._collections = RelaxedCollections()

    @property
    def report(self) -> Reporter | None:
        return self.notices.report

    @property
    def configured_organisers(self) -> frozenset[int]:
        return self.notices.configured_organisers

    # ------------------------------------------------------------------ life cycle

    def start(self) -> None:
        """Starts the loop and the recorder. The engine owns every task it starts and `stop` (from
        on_shutdown) awaits them all: PTB's `Application.create_task` would not do, since it only
        tracks tasks made while the Application runs and awaits them in `stop`, before on_shutdown."""
        self._stopping = self.dispatch.stopping = False
        self._recorder_task = asyncio.create_task(self.dispatch.recorder.record_forever(), name="broadcast-recorder")
        self._loop_task = asyncio.create_task(self._run_forever(), name="broadcaster")

    async def stop(self, *, timeout: float = 10.0) -> None:
        """Stops claiming, lets sends in flight finish (up to `timeout`) and records them."""
        self._stopping = self.dispatch.stopping = True
        self._wake.set()
        tasks = [t for t in (self._loop_task, *self._delivery_tasks.values()) if t is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)
        for task in tasks:
            task.cancel()
        await self.dispatch.stop(timeout=timeout)
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._recorder_task is not None:
            self._recorder_task.cancel()
            await asyncio.gather(self._recorder_task, return_exceptions=True)
        self.dispatch.requeue_every_held()
        # Whatever was sent and not yet recorded is recorded now, so a clean stop leaves no duplicates.
        await self.dispatch.recorder.flush()

    def halt_as_if_killed(self) -> None:
        """Stops every task at once and records nothing, leaving the database as a kill -9 would
        (for tests of the restart; a real shutdown calls `stop`)."""
        self._stopping = self.dispatch.stopping = True
        tasks = [self._loop_task, self._recorder_task, *self._delivery_tasks.values()]
        for task in tasks:
            if task is not None:
                task.cancel()
        self.dispatch.cancel_sends()
        self.dispatch.recorder.forget()

    def _delivery_done(self, broadcast_id: int) -> None:
        self._delivery_tasks.pop(broadcast_id, None)
        self._collections.leave()

    def share_rate_with(self, processes: int) -> None:
        """`processes` engines send for this bot now; this one keeps to its part of the rate."""
        if isinstance(self.sender, TelegramSender):
            self.sender.throttle.share_with(processes)

    async def _requeue_claims_of_the_dead(self, broadcast_id: int) -> int:
        """Puts back in the queue what processes that are no longer alive had claimed."""
        async with self.db.transaction() as session:
            alive = await live_workers(session, now=dt.datetime.now(dt.UTC)) | {self.claimer}
            requeued = await requeue_interrupted_deliveries(session, broadcast_id=broadcast_id,
                                                                       alive=alive)
        if requeued:
            self.requeued_after_restart += requeued
            logger.warning("broadcast %s: %s deliveries were in flight in a process that stopped; sending again",
                           broadcast_id, requeued)
        return requeued

    def wake(self) -> None:
        """Look at the database again now: a broadcast was created, scheduled, resumed or cancelled."""
        self._wake.set()

    async def wait_until_finished(self, broadcast_id: int, *, timeout: float = 30.0) -> BroadcastSummary:
        """Waits until the broadcast is DONE, FAILED or CANCELLED (and its report, if any, is sent)."""
        async with asyncio.timeout(timeout):
            while True:
                async with self.db.transaction() as session:
                    summary = await broadcast_summary(session, broadcast_id=broadcast_id)
                    awaiting_report = broadcast_id in await broadcasts_awaiting_report(session)
                    report = await report_of(session, broadcast_id=broadcast_id)
                    report_done = report is None or report.state.finished
                if summary is None:
                    raise LookupError(f"no broadcast {broadcast_id}")
                if (summary.status.finished and not awaiting_report and report_done
                        and broadcast_id not in self._delivery_tasks):
                    return summary
                await self.progress.wait(0.5)

    async def wait_until_idle(self, *, timeout: float = 30.0) -> None:
        """Waits until no broadcast is being delivered by this process."""
        async with asyncio.timeout(timeout):
            while self._delivery_tasks or self._wake.is_set() or self._looking:
                await self.progress.wait(0.5)

    # ------------------------------------------------------------------ the loop

    async def _run_forever(self) -> None:
        while not self._stopping:
            self._wake.clear()
            self._looking = True
            try:
                next_due = await self._look_at_database()
            except Exception:
                logger.exception("broadcaster could not read the database; trying again shortly")
                next_due = None
            finally:
                self._looking = False
            await self.progress.tell()
            if self._stopping:
                break
            timeout = self.poll_interval
            if next_due is not None:
                timeout = max(0.0, min(timeout, (next_due - self.clock.now()).total_seconds()))
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except TimeoutError:
                pass

    async def _look_at_database(self):
        now = self.clock.now()
        async with self.db.transaction() as session:
            due = await start_due_broadcasts(session, now=now, overdue_after=self.overdue_after)
            for broadcast_id in due.overdue:
                await self.notices.ask_about_overdue(session, broadcast_id)
        for broadcast_id in due.started:
            logger.info("scheduled broadcast %s is due and begins sending", broadcast_id)
        async with self.db.transaction() as session:
            sending = await sending_broadcast_ids(session)
            awaiting_report = await broadcasts_awaiting_report(session)
            next_due = await next_scheduled_time(session)
        for broadcast_id in sending:
            # A process that died mid-broadcast left claims; they are sent again as soon as its
            # lease has run out, not only when this process reaches the end of the queue.
            if await self._requeue_claims_of_the_dead(broadcast_id):
                self._rewind.add(broadcast_id)  # the requeued rows may lie behind its cursor
            if broadcast_id not in self._delivery_tasks and not self._stopping:
                task = asyncio.create_task(self._deliver(broadcast_id), name=f"broadcast-{broadcast_id}")
                self._delivery_tasks[broadcast_id] = task
                self._collections.enter()
                task.add_done_callback(lambda _t, b=broadcast_id: self._delivery_done(b))
        for broadcast_id in awaiting_report:
            if broadcast_id not in self._delivery_tasks:
                async with self.db.transaction() as session:
                    await self.notices.record_report(session, broadcast_id)
                self._wake.set()  # the report is a broadcast of its own, to be sent at the next look
        return next_due

    # ------------------------------------------------------------------ one broadcast

    async def _deliver(self, broadcast_id: int) -> None:
        try:
            await self._deliver_pages(broadcast_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("delivering broadcast %s failed; it resumes at the next look", broadcast_id)
            await asyncio.sleep(1.0)
        finally:
            await self.progress.tell()
        self._wake.set()

    async def _deliver_pages(self, broadcast_id: int) -> None:
        async with self.db.transaction() as session:
            broadcast = await get_broadcast(session, broadcast_id=broadcast_id)
            mailing_list = await session.get(MailingList, broadcast.list_id) if broadcast else None
            versions = await versions_to_send(session, broadcast_id=broadcast_id) if broadcast else []
        if broadcast is None or mailing_list is None:
            return
        try:
            # Every version composed once here; each recipient's send picks one of them.
            messages: Versions = {None: self.compose(broadcast, mailing_list)}
            for version in versions:
                messages[version.language] = self.compose(broadcast, mailing_list, version=version)
            for message in messages.values():
                check_length(message.text, media_kind=broadcast.media_kind)
        except Exception as problem:  # whatever it is, retrying will not change it
            await self.notices.fail(self.db, broadcast_id, problem)
            return
        # The same messages without their notification, for chats in their quiet hours (unless urgent).
        quiet_messages = None if broadcast.urgent or self.quiet is None else {
            language: dataclasses.replace(message, silent=True) for language, message in messages.items()}
        breaker = self.dispatch.breaker_for(broadcast_id)
        try:
            await self._deliver_with(breaker, messages, quiet_messages)
        finally:
            self.dispatch.forget_breaker(broadcast_id)

    async def _deliver_with(self, breaker: CircuitBreaker, messages: Versions, quiet_messages: Versions | None) -> None:
        broadcast_id = breaker.broadcast_id
        after_id = 0
        while not self._stopping:
            if broadcast_id in self._rewind:
                self._rewind.discard(broadcast_id)
                after_id = 0
            async with self.db.transaction() as session:
                page = await pending_deliveries(session, broadcast_id=broadcast_id, after_id=after_id,
                                                limit=self.page_size, now=self.clock.now())
            if not page:
                await self.dispatch.drain(broadcast_id, breaker)
                async with self.db.transaction() as session:
                    done = await finish_broadcast(session, broadcast_id=broadcast_id, now=self.clock.now())
                    if done:
                        # In the same transaction: a kill after it commits cannot lose the report,
                        # and the report cannot be sent twice.
                        await self.notices.record_report(session, broadcast_id)
                    state = await get_broadcast(session, broadcast_id=broadcast_id)
                if done:
                    logger.info("broadcast %s is done", broadcast_id)
                    return
                if state is None or state.state is not BroadcastStatus.SENDING:
                    return
                # What is left is claimed elsewhere: a living process will record it; a dead one's
                # claims come back to the queue once its worker lease has run out.
                if not await self._requeue_claims_of_the_dead(broadcast_id):
                    await asyncio.sleep(CLAIMS_ELSEWHERE_RECHECK)
                after_id = 0
                continue
            after_id = page[-1].id
            claim_size = self.dispatch.claim_size
            for start in range(0, len(page), claim_size):
                chunk = page[start:start + claim_size]
                if not await self.dispatch.claim_and_send(breaker, chunk, messages, quiet_messages):
                    await self.dispatch.drain(broadcast_id, breaker)
                    return
                if self._stopping:
                    break
        await self.dispatch.drain(broadcast_id, breaker)
