"""The broadcast engine's send side: claims deliveries, hands them to the `Sender`, records what
happened, and pauses a broadcast whose message Telegram refuses.

The `Broadcaster` decides which broadcast to work on and walks its pending deliveries page by page;
a `Dispatcher` does the rest for every broadcast at once, through one claim window
(`bot/engines/claims.py`), one recorder (`bot/engines/recorder.py`) and one circuit breaker per
broadcast (`bot/engines/breaker.py`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from bot.engines.breaker import CircuitBreaker
from bot.engines.claims import ClaimWindow, Progress
from bot.engines.notices import OrganiserNotices
from bot.engines.recorder import DELIVERY_STATUS_OF, OutcomeRecorder
from bot.telegram_io.sending import Outgoing, Sender, SendOutcome, SendResult
from storage.broadcasts.claims import claim_deliveries
from storage.broadcasts.deliveries import DeliveryOutcome, PendingDelivery
from storage.clock import Clock
from storage.db import Database
from storage.lists.alert_settings import QuietPolicy

logger = logging.getLogger(__name__)


class Dispatcher:
    def __init__(
        self,
        *,
        db: Database,
        sender: Sender,
        clock: Clock,
        notices: OrganiserNotices,
        claimer: str,
        concurrency: int,
        claim_size: int,
        flush_interval: float,
        quiet: QuietPolicy | None,
        progress: Progress,
        wake: Callable[[], None],
    ) -> None:
        self.db = db
        self.sender = sender
        self.clock = clock
        self.notices = notices
        self.claimer = claimer
        self.claim_size = claim_size
        # Whose quiet hours a send falls in (sent silently then); None: every send rings.
        self.quiet = quiet
        self.progress = progress
        # The engine looks at the database again: a pause or a failure notice is a broadcast of its own.
        self.wake = wake
        self.claims = ClaimWindow(concurrency)
        self.recorder = OutcomeRecorder(db=db, clock=clock, flush_interval=flush_interval,
                                        on_recorded=self._recorded)
        self.send_tasks: set[asyncio.Task] = set()
        self.breakers: dict[int, CircuitBreaker] = {}
        self.stopping = False

    def breaker_for(self, broadcast_id: int) -> CircuitBreaker:
        breaker = self.breakers[broadcast_id] = CircuitBreaker(broadcast_id)
        return breaker

    def forget_breaker(self, broadcast_id: int) -> None:
        self.breakers.pop(broadcast_id, None)

    async def stop(self, *, timeout: float) -> None:
        """Lets sends in flight finish (up to `timeout`), then puts back what breakers hold."""
        if self.send_tasks:
            await asyncio.wait(list(self.send_tasks), timeout=timeout)
        for task in list(self.send_tasks):
            task.cancel()
        await asyncio.gather(*self.send_tasks, return_exceptions=True)

    def requeue_every_held(self) -> None:
        # Refusals held by a breaker were not delivered: back in the queue, not counted as duplicates.
        for breaker in list(self.breakers.values()):
            self._requeue_held(breaker)

    def cancel_sends(self) -> None:
        for task in list(self.send_tasks):
            task.cancel()

    async def claim_and_send(self, breaker: CircuitBreaker, chunk: list[PendingDelivery], message: Outgoing,
                             quiet_message: Outgoing | None) -> bool:
        """Claims `chunk` and starts its sends (silent ones for chats in their quiet hours); False
        if the broadcast is no longer sending."""
        broadcast_id = breaker.broadcast_id
        wanted = sum(1 for d in chunk if d.reachable and not d.paused)
        await self.claims.reserve(wanted)
        try:
            async with self.db.transaction() as session:
                claimed = await claim_deliveries(session, broadcast_id=broadcast_id, deliveries=chunk,
                                                            claimer=self.claimer)
        except BaseException:
            self.claims.give_back(wanted)
            raise
        self.claims.give_back(wanted - len(claimed or []))
        if claimed is None:
            return False
        self.claims.claimed(broadcast_id, len(claimed))
        breaker.in_flight += len(claimed)
        local_time = self.quiet.local_time(self.clock.now()) if quiet_message is not None else None
        for delivery in claimed:
            silent = local_time is not None and self.quiet.silent(delivery.quiet_hours, local_time)
            task = asyncio.create_task(self._send_one(breaker, delivery, quiet_message if silent else message))
            self.send_tasks.add(task)
            task.add_done_callback(self.send_tasks.discard)
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
        outcome = DeliveryOutcome(broadcast_id, delivery.id, delivery.telegram_id, DELIVERY_STATUS_OF[result.outcome],
                                  result.new_chat_id, silent=message.silent)
        to_record, trip = breaker.take(outcome, result)
        if to_record:
            self.recorder.add(to_record)
        if trip:
            await self._trip(breaker)
        elif breaker.tripped and not breaker.paused:
            await self._pause(breaker)  # the pause could not be committed before: try again
        elif breaker.every_send_refused:
            await self.progress.tell()  # a drain may be waiting to see whether every send was refused

    async def _trip(self, breaker: CircuitBreaker) -> None:
        """The message itself is refused: pause the broadcast, then put the held deliveries back."""
        breaker.trip()
        logger.error("broadcast %s: its first %d sends were refused for what the message is; pausing it",
                     breaker.broadcast_id, len(breaker.held))
        # Paused first, so the deliveries going back in the queue are not claimed again meanwhile.
        await self._pause(breaker)
        self._requeue_held(breaker)

    def _requeue_held(self, breaker: CircuitBreaker) -> None:
        self.recorder.add(breaker.release_held())

    async def _pause(self, breaker: CircuitBreaker) -> None:
        if await self.notices.pause(self.db, breaker.broadcast_id, reason=breaker.reason):
            breaker.paused = True
            self.wake()

    async def drain(self, broadcast_id: int, breaker: CircuitBreaker) -> None:
        """Waits until every delivery this process claimed for the broadcast is recorded."""
        while self.claims.unrecorded(broadcast_id) > 0:
            if breaker.every_send_refused and not self.stopping:
                await self._trip(breaker)
            self.recorder.hurry()
            await self.progress.wait(1.0)
            if not self.send_tasks and self.recorder.empty and self.stopping:
                return

    async def _recorded(self, outcomes: list[DeliveryOutcome]) -> None:
        """The recorder committed these: their send slots are free again."""
        self.claims.recorded(outcomes)
        await self.progress.tell()
