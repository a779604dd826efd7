"""The broadcast engine: sends what the database says is due, and records what happened.

One `Broadcaster` runs inside the bot's Application (started at start-up, stopped at shutdown).
Its loop starts scheduled broadcasts when the injected clock says they are due, and runs one
delivery task per SENDING broadcast. A delivery task reads pending deliveries in keyset pages,
claims a few at a time (marks them SENDING in one commit) just before handing them to the
`Sender`, and a single recorder commits the outcomes in batches.

Crash safety rests on one rule: a send may start only while fewer than `concurrency` deliveries
are claimed and not yet recorded. Whatever the moment of a kill, at most that many deliveries are
left SENDING; at start-up they are put back in the queue, sent again and counted in
`possible_duplicates`. Everything else is either recorded or still pending, so nobody is skipped.

Pausing and cancelling are status changes in the database, seen at the next claim; sends already
claimed finish and are recorded.

A row that cannot be handled is reported and skipped, never retried for ever: a broadcast that
cannot be put together (its text with the list's footer over Telegram's limit, say) is marked
FAILED with the reason; an outcome whose lesson about the chat cannot be stored is recorded
without it, alone, so the rest of its batch is not rolled back with it.

A circuit breaker (`bot/engines/breaker.py`) watches each broadcast's first sends: when Telegram refuses
them for what the message is, the broadcast pauses itself with the reason and those deliveries go
back in the queue for Resume. It is never failed recipient by recipient.

What the organiser is told (the report at the end, a pause, a failure) is recorded as a notice
in the same transaction as the status change and sent by this engine like any broadcast.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
import uuid
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Bot
from telegram.ext import Application

from bot.engines.breaker import CircuitBreaker
from bot.services import Services
from bot.telegram_io.sending import Outgoing, RepliesInTheSendingWindow, Sender, SendOutcome, SendResult, TelegramSender
from bot.telegram_io.transport import AiohttpRequest
from messages import render
from storage.broadcasts.claims import claim_deliveries, requeue_interrupted_deliveries
from storage.broadcasts.deliveries import (
    BroadcastCounts,
    DeliveryOutcome,
    PendingDelivery,
    pending_deliveries,
    record_outcomes,
)
from storage.broadcasts.listings import BroadcastSummary, broadcast_summary
from storage.broadcasts.notices import broadcasts_awaiting_report, record_notice, record_report, report_of
from storage.broadcasts.status import (
    TextTooLong,
    check_length,
    fail_broadcast,
    finish_broadcast,
    next_scheduled_time,
    pause_for_problem,
    sending_broadcast_ids,
    start_due_broadcasts,
)
from storage.broadcasts.tables import (
    Broadcast,
    BroadcastKind,
    BroadcastStatus,
    DeliveryStatus,
    MediaKind,
    get_broadcast,
)
from storage.clock import Clock
from storage.db import Database
from storage.leases import RENEW_EVERY, live_workers
from storage.lists import organisers
from storage.lists.models import MailingList

logger = logging.getLogger(__name__)

_STATUS_OF = {
    SendOutcome.SENT: DeliveryStatus.SENT,
    SendOutcome.BLOCKED: DeliveryStatus.BLOCKED,
    SendOutcome.GONE: DeliveryStatus.GONE,
    SendOutcome.FAILED: DeliveryStatus.FAILED,
    # Once the message has reached someone, a refusal is about that one recipient after all.
    SendOutcome.REFUSED: DeliveryStatus.FAILED,
}

# Renders the message recipients get (the text and the list's footer) from a broadcast.
Composer = Callable[[Broadcast, MailingList], Outgoing]
# Renders what the organiser is told about a broadcast (done, paused by the engine, or failed).
Reporter = Callable[[BroadcastSummary], str]


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
        flush_interval: float = 0.05,
        poll_interval: float = 5.0,
        claimer: str | None = None,
        configured_organisers: frozenset[int] = frozenset(),
    ) -> None:
        self.db = db
        # Whose claims these are: the process's name (its worker lease says it is alive).
        self.claimer = claimer or f"engine:{uuid.uuid4().hex[:12]}"
        self.sender = sender
        self.clock = clock
        self.compose = compose
        self.report = report
        # The organisers of the settings (those in the database are read when needed): who is told
        # when a broadcast nobody created (a reminder, one queued from the terminal) goes wrong.
        self.configured_organisers = configured_organisers
        self.rate = rate
        self.concurrency = concurrency or default_concurrency(rate)
        self.flush_interval = flush_interval
        self.poll_interval = poll_interval
        # How many deliveries one claim takes: about a tenth of a second of sending.
        self.claim_size = max(1, min(self.concurrency // 2, math.ceil(rate * 0.1)))
        self.page_size = max(50, min(1000, math.ceil(rate * 2)))
        self._slots = asyncio.Semaphore(self.concurrency)
        self._wake = asyncio.Event()
        self._progress = asyncio.Condition()
        self._outcomes: list[DeliveryOutcome] = []
        self._outcomes_ready = asyncio.Event()
        self._outstanding: dict[int, int] = {}
        self._delivery_tasks: dict[int, asyncio.Task] = {}
        self._send_tasks: set[asyncio.Task] = set()
        self._loop_task: asyncio.Task | None = None
        self._recorder_task: asyncio.Task | None = None
        self._stopping = False
        self._looking = False
        self.requeued_after_restart = 0
        # Broadcasts whose delivery task must start its pass again from the first pending row.
        self._rewind: set[int] = set()
        self._breakers: dict[int, CircuitBreaker] = {}

    # ------------------------------------------------------------------ life cycle

    def start(self, create_task: Callable[[Awaitable], asyncio.Task] = asyncio.ensure_future) -> None:
        """Starts the loop and the recorder (pass `application.create_task` so the Application owns them)."""
        self._stopping = False
        self._recorder_task = create_task(self._record_forever())
        self._loop_task = create_task(self._run_forever())

    async def stop(self, *, timeout: float = 10.0) -> None:
        """Stops claiming, lets sends in flight finish (up to `timeout`) and records them."""
        self._stopping = True
        self._wake.set()
        tasks = [t for t in (self._loop_task, *self._delivery_tasks.values()) if t is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)
        for task in tasks:
            task.cancel()
        if self._send_tasks:
            await asyncio.wait(list(self._send_tasks), timeout=timeout)
        for task in list(self._send_tasks):
            task.cancel()
        await asyncio.gather(*tasks, *self._send_tasks, return_exceptions=True)
        if self._recorder_task is not None:
            self._recorder_task.cancel()
            await asyncio.gather(self._recorder_task, return_exceptions=True)
        # Refusals held by a breaker were not delivered: back in the queue, not counted as duplicates.
        for breaker in list(self._breakers.values()):
            self._requeue_held(breaker)
        # Whatever was sent and not yet recorded is recorded now, so a clean stop leaves no duplicates.
        await self._flush()

    def halt_as_if_killed(self) -> None:
        """Stops every task at once and records nothing, leaving the database as a kill -9 would
        (for tests of the restart; a real shutdown calls `stop`)."""
        self._stopping = True
        tasks = [self._loop_task, self._recorder_task, *self._delivery_tasks.values(), *self._send_tasks]
        for task in tasks:
            if task is not None:
                task.cancel()
        self._outcomes.clear()

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
                await self._progress_or(0.5)

    async def wait_until_idle(self, *, timeout: float = 30.0) -> None:
        """Waits until no broadcast is being delivered by this process."""
        async with asyncio.timeout(timeout):
            while self._delivery_tasks or self._wake.is_set() or self._looking:
                await self._progress_or(0.5)

    async def _progress_or(self, seconds: float) -> None:
        """Waits until the engine records or finishes something, or `seconds` pass."""
        async with self._progress:
            try:
                await asyncio.wait_for(self._progress.wait(), seconds)
            except TimeoutError:
                pass

    async def _notify(self) -> None:
        async with self._progress:
            self._progress.notify_all()

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
            await self._notify()
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
            started = await start_due_broadcasts(session, now=now)
        for broadcast_id in started:
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
                task = asyncio.ensure_future(self._deliver(broadcast_id))
                self._delivery_tasks[broadcast_id] = task
                task.add_done_callback(lambda _t, b=broadcast_id: self._delivery_tasks.pop(b, None))
        for broadcast_id in awaiting_report:
            if broadcast_id not in self._delivery_tasks:
                async with self.db.transaction() as session:
                    await self._record_report(session, broadcast_id)
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
            await self._notify()
        self._wake.set()

    async def _deliver_pages(self, broadcast_id: int) -> None:
        async with self.db.transaction() as session:
            broadcast = await get_broadcast(session, broadcast_id=broadcast_id)
            mailing_list = await session.get(MailingList, broadcast.list_id) if broadcast else None
        if broadcast is None or mailing_list is None:
            return
        try:
            message = self.compose(broadcast, mailing_list)
            check_length(message.text, media_kind=broadcast.media_kind)
        except Exception as problem:  # whatever it is, retrying will not change it
            await self._fail(broadcast_id, problem)
            return
        breaker = self._breakers[broadcast_id] = CircuitBreaker(broadcast_id)
        try:
            await self._deliver_with(breaker, message)
        finally:
            self._breakers.pop(broadcast_id, None)

    async def _deliver_with(self, breaker: CircuitBreaker, message: Outgoing) -> None:
        broadcast_id = breaker.broadcast_id
        after_id = 0
        while not self._stopping:
            if broadcast_id in self._rewind:
                self._rewind.discard(broadcast_id)
                after_id = 0
            async with self.db.transaction() as session:
                page = await pending_deliveries(session, broadcast_id=broadcast_id, after_id=after_id,
                                                limit=self.page_size)
            if not page:
                await self._drain(broadcast_id, breaker)
                async with self.db.transaction() as session:
                    done = await finish_broadcast(session, broadcast_id=broadcast_id, now=self.clock.now())
                    if done:
                        # In the same transaction: a kill after it commits cannot lose the report,
                        # and the report cannot be sent twice.
                        await self._record_report(session, broadcast_id)
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
            for start in range(0, len(page), self.claim_size):
                chunk = page[start:start + self.claim_size]
                if not await self._claim_and_send(breaker, chunk, message):
                    await self._drain(broadcast_id, breaker)
                    return
                if self._stopping:
                    break
        await self._drain(broadcast_id, breaker)

    async def _claim_and_send(self, breaker: CircuitBreaker, chunk: list[PendingDelivery], message: Outgoing) -> bool:
        """Claims `chunk` and starts its sends; False if the broadcast is no longer sending."""
        broadcast_id = breaker.broadcast_id
        wanted = sum(1 for d in chunk if d.reachable)
        for _ in range(wanted):
            await self._slots.acquire()
        try:
            async with self.db.transaction() as session:
                claimed = await claim_deliveries(session, broadcast_id=broadcast_id, deliveries=chunk,
                                                 claimer=self.claimer)
        except BaseException:
            for _ in range(wanted):
                self._slots.release()
            raise
        for _ in range(wanted - len(claimed or [])):
            self._slots.release()
        if claimed is None:
            return False
        self._outstanding[broadcast_id] = self._outstanding.get(broadcast_id, 0) + len(claimed)
        breaker.in_flight += len(claimed)
        for delivery in claimed:
            task = asyncio.ensure_future(self._send_one(breaker, delivery, message))
            self._send_tasks.add(task)
            task.add_done_callback(self._send_tasks.discard)
        return True

    async def _send_one(self, breaker: CircuitBreaker, delivery: PendingDelivery, message: Outgoing) -> None:
        broadcast_id = breaker.broadcast_id
        try:
            result = await self.sender.send(delivery.telegram_id, message)
        except Exception:
            # The Sender promises not to raise; if one does anyway, count a failure and go on.
            logger.exception("sender raised for broadcast %s", broadcast_id)
            result = SendResult(SendOutcome.FAILED)
        finally:
            breaker.in_flight -= 1
        outcome = DeliveryOutcome(broadcast_id, delivery.id, delivery.telegram_id, _STATUS_OF[result.outcome],
                                  result.new_chat_id)
        to_record, trip = breaker.take(outcome, result)
        if to_record:
            self._outcomes.extend(to_record)
            self._outcomes_ready.set()
        if trip:
            await self._trip(breaker)
        elif breaker.tripped and not breaker.paused:
            await self._pause(breaker)  # the pause could not be committed before: try again
        elif breaker.every_send_refused:
            await self._notify()  # a drain may be waiting to see whether every send was refused

    async def _trip(self, breaker: CircuitBreaker) -> None:
        """The message itself is refused: pause the broadcast, then put the held deliveries back."""
        breaker.trip()
        logger.error("broadcast %s: its first %d sends were refused for what the message is; pausing it",
                     breaker.broadcast_id, len(breaker.held))
        # Paused first, so the deliveries going back in the queue are not claimed again meanwhile.
        await self._pause(breaker)
        self._requeue_held(breaker)

    def _requeue_held(self, breaker: CircuitBreaker) -> None:
        self._outcomes.extend(breaker.release_held())
        self._outcomes_ready.set()

    async def _pause(self, breaker: CircuitBreaker) -> None:
        try:
            async with self.db.transaction() as session:
                if await pause_for_problem(session, broadcast_id=breaker.broadcast_id,
                                           reason=breaker.reason):
                    await self._record_notice(session, breaker.broadcast_id)
        except Exception:
            # Tried again at the next refusal; until then the deliveries stay in the queue.
            logger.exception("could not pause broadcast %s", breaker.broadcast_id)
            return
        breaker.paused = True
        self._wake.set()  # the organiser's notice is a broadcast of its own

    async def _drain(self, broadcast_id: int, breaker: CircuitBreaker) -> None:
        """Waits until every delivery this process claimed for the broadcast is recorded."""
        while self._outstanding.get(broadcast_id, 0) > 0:
            if breaker.every_send_refused and not self._stopping:
                await self._trip(breaker)
            self._outcomes_ready.set()
            await self._progress_or(1.0)
            if not self._send_tasks and not self._outcomes and self._stopping:
                return

    # ------------------------------------------------------------------ recording

    async def _record_forever(self) -> None:
        while True:
            await self._outcomes_ready.wait()
            await asyncio.sleep(self.flush_interval)
            try:
                await self._flush()
            except Exception:
                logger.exception("could not record deliveries; trying again")
                await asyncio.sleep(1.0)

    async def _flush(self) -> None:
        self._outcomes_ready.clear()
        if not self._outcomes:
            return
        batch, self._outcomes = self._outcomes, []
        try:
            async with self.db.transaction() as session:
                await record_outcomes(session, outcomes=batch, now=self.clock.now())
        except Exception:
            logger.exception("could not record %d outcomes together; recording them one by one", len(batch))
            batch = await self._record_one_by_one(batch)
        except BaseException:
            self._outcomes[:0] = batch
            self._outcomes_ready.set()
            raise
        for outcome in batch:
            self._outstanding[outcome.broadcast_id] -= 1
            self._slots.release()
        await self._notify()

    async def _record_one_by_one(self, batch: list[DeliveryOutcome]) -> list[DeliveryOutcome]:
        """Records each outcome alone, so one that cannot be stored does not take the others with
        it; returns those recorded. One whose lesson about the chat (a new id, unreachable) cannot
        be stored is recorded without it. If none can be stored at all, the database is the
        trouble: the batch goes back to be tried again."""
        recorded, again = [], []
        for outcome in batch:
            for learn in (True, False):
                try:
                    async with self.db.transaction() as session:
                        await record_outcomes(session, outcomes=[outcome], learn=learn,
                                              now=self.clock.now())
                except Exception:
                    continue
                if not learn:
                    logger.error("delivery %s of broadcast %s: recorded, but what it said about the chat "
                                 "could not be stored", outcome.delivery_id, outcome.broadcast_id)
                recorded.append(outcome)
                break
            else:
                again.append(outcome)
        if not recorded:
            self._outcomes[:0] = batch
            self._outcomes_ready.set()
            raise RuntimeError("the database refused every outcome")
        self._outcomes[:0] = again
        return recorded

    # ------------------------------------------------------------------ reports

    def _organiser_text(self, summary: BroadcastSummary | None) -> str | None:
        """What organisers are told about the broadcast now, or None (no reporter, or it cannot be rendered)."""
        if summary is None or self.report is None:
            return None
        try:
            return self.report(summary)
        except Exception:
            logger.exception("could not put together the notice about broadcast %s; nobody is told", summary.id)
            return None

    async def _record_report(self, session: AsyncSession, broadcast_id: int) -> None:
        """Queues the final report in the caller's transaction (the one that finished the broadcast)."""
        summary = await broadcast_summary(session, broadcast_id=broadcast_id)
        text = self._organiser_text(summary) if summary is not None and summary.created_by is not None else None
        await record_report(session, broadcast_id=broadcast_id, text=text, now=self.clock.now())

    async def _record_notice(self, session: AsyncSession, broadcast_id: int) -> None:
        """Queues, in the caller's transaction, a notice that the engine paused the broadcast (or
        failed one nobody created): to its creator, or else to every organiser. Never about a
        notice to an organiser, which would otherwise beget notices about itself."""
        summary = await broadcast_summary(session, broadcast_id=broadcast_id)
        if summary is None:
            return
        if summary.created_by is not None:
            recipients = [summary.created_by]
        elif summary.kind == BroadcastKind.REPORT.value:
            recipients = []
        else:
            recipients = await organisers.all_organiser_ids(session, configured=self.configured_organisers)
        text = self._organiser_text(summary)
        if text is None or not recipients:
            logger.warning("broadcast %s is %s and nobody is told", broadcast_id, summary.status.value)
            return
        broadcast = await get_broadcast(session, broadcast_id=broadcast_id)
        for telegram_id in recipients:
            await record_notice(session, list_id=broadcast.list_id, telegram_id=telegram_id, text=text,
                                now=self.clock.now())

    async def _fail(self, broadcast_id: int, problem: Exception) -> None:
        """The broadcast cannot be put together: FAILED with the reason, its creator told once."""
        if isinstance(problem, TextTooLong):
            reason = f"the message with its footer is {problem}"
        else:
            reason = f"the message could not be put together ({type(problem).__name__})"
        logger.error("broadcast %s cannot be sent: %s", broadcast_id, reason, exc_info=problem)
        async with self.db.transaction() as session:
            if await fail_broadcast(session, broadcast_id=broadcast_id, reason=reason,
                                    now=self.clock.now()):
                await self._record_report(session, broadcast_id)  # its creator, if it has one
                broadcast = await get_broadcast(session, broadcast_id=broadcast_id)
                if broadcast.created_by is None:
                    await self._record_notice(session, broadcast_id)



# ------------------------------------------------------------------ the message, and wiring into the bot


def compose_message(*, text: str, media_kind: str | None, media_file_id: str | None,
                    mailing_list: MailingList) -> Outgoing:
    """What every recipient gets: the organiser's text and the list's one-line footer."""
    body = f"{text}\n\n{render('broadcast_footer.html', mailing_list=mailing_list)}"
    if media_kind == MediaKind.PHOTO.value:
        return Outgoing(body, photo=media_file_id)
    if media_kind == MediaKind.DOCUMENT.value:
        return Outgoing(body, document=media_file_id)
    return Outgoing(body)


def compose_broadcast(broadcast: Broadcast, mailing_list: MailingList) -> Outgoing:
    if broadcast.kind == BroadcastKind.REPORT.value:
        return Outgoing(broadcast.text)  # to an organiser, about a broadcast: no list footer
    return compose_message(text=broadcast.text, media_kind=broadcast.media_kind,
                           media_file_id=broadcast.media_file_id, mailing_list=mailing_list)


def check_message_length(*, text: str, media_kind: str | None, mailing_list: MailingList) -> None:
    """Raises TextTooLong if the text with its footer is over Telegram's limit for a message or caption."""
    composed = compose_message(text=text, media_kind=media_kind, media_file_id=None, mailing_list=mailing_list)
    check_length(composed.text, media_kind=media_kind)


def eta_seconds(counts: BroadcastCounts, *, rate: float) -> float:
    return counts.pending / rate if rate > 0 else 0.0


async def start_broadcasting(application: Application) -> Broadcaster:
    """Builds the sender (its own Bot on the aiohttp transport) and the engine, and starts it.

    Called from `on_startup`; the engine is kept on `Services.broadcaster` for handlers and reminders.
    """
    services: Services = application.bot_data["services"]
    settings = services.settings
    rate = settings.sending_rate
    concurrency = default_concurrency(rate)
    app_bot = application.bot
    sending_bot = Bot(token=app_bot.token, base_url=lambda _token: app_bot.base_url,
                      base_file_url=lambda _token: app_bot.base_file_url,
                      request=AiohttpRequest(connections=concurrency))
    await sending_bot.initialize()
    sender = TelegramSender(sending_bot, rate=rate, paid=settings.paid_broadcast)

    def report(summary: BroadcastSummary) -> str:
        return render("broadcast_report.html", broadcast=summary, tz=settings.tz)

    broadcaster = Broadcaster(db=services.db, sender=sender, clock=services.clock, compose=compose_broadcast,
                              report=report, rate=rate, concurrency=concurrency, claimer=services.process_name,
                              configured_organisers=settings.organiser_ids)
    async with services.db.transaction() as session:
        others = len(await live_workers(session, now=dt.datetime.now(dt.UTC)) - {services.process_name})
    if others:
        # The processes already sending learn of this one at their next lease renewal; until
        # then their shares still add up to the whole rate, so this one waits that long.
        broadcaster.share_rate_with(others + 1)
        sender.throttle.hold(RENEW_EVERY + 1.0)
    replies = application.bot.rate_limiter
    if isinstance(replies, RepliesInTheSendingWindow):
        replies.throttle = sender.throttle
    services.broadcaster = broadcaster
    broadcaster.start()
    return broadcaster


async def stop_broadcasting(application: Application) -> None:
    """Called from `on_shutdown`, before the database closes: sends in flight finish and are recorded."""
    services: Services = application.bot_data["services"]
    broadcaster = services.broadcaster
    if broadcaster is None:
        return
    await broadcaster.stop()
    sender = broadcaster.sender
    if isinstance(sender, TelegramSender):
        await sender.bot.shutdown()
    services.broadcaster = None
