"""The broadcast engine's recorder: send outcomes wait here and are committed in batches.

An outcome that cannot be stored with the others (its lesson about the chat, a new id or an
unreachable chat, breaks a constraint, say) is recorded alone, without that lesson, so the rest
of its batch is not rolled back with it. Only when the database refuses every outcome does the
batch go back to be tried again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable

from bot.telegram_io.sending import SendOutcome
from storage.broadcasts.deliveries import DeliveryOutcome, record_outcomes
from storage.broadcasts.tables import DeliveryStatus
from storage.clock import Clock
from storage.db import Database

logger = logging.getLogger(__name__)

DELIVERY_STATUS_OF = {
    SendOutcome.SENT: DeliveryStatus.SENT,
    SendOutcome.BLOCKED: DeliveryStatus.BLOCKED,
    SendOutcome.GONE: DeliveryStatus.GONE,
    SendOutcome.FAILED: DeliveryStatus.FAILED,
    # Once the message has reached someone, a refusal is about that one recipient after all.
    SendOutcome.REFUSED: DeliveryStatus.FAILED,
}


class OutcomeRecorder:
    def __init__(self, *, db: Database, clock: Clock, flush_interval: float,
                 on_recorded: Callable[[list[DeliveryOutcome]], Awaitable[None]]) -> None:
        self.db = db
        self.clock = clock
        self.flush_interval = flush_interval
        # Told of every outcome once it is committed (the engine frees its send slot).
        self.on_recorded = on_recorded
        self._waiting: list[DeliveryOutcome] = []
        self._ready = asyncio.Event()

    @property
    def empty(self) -> bool:
        return not self._waiting

    def add(self, outcomes: Iterable[DeliveryOutcome]) -> None:
        self._waiting.extend(outcomes)
        self._ready.set()

    def hurry(self) -> None:
        """Record what is waiting at the next turn (someone is waiting for it)."""
        self._ready.set()

    def forget(self) -> None:
        """Drops what is waiting, unrecorded, as a kill would."""
        self._waiting.clear()

    async def record_forever(self) -> None:
        while True:
            await self._ready.wait()
            await asyncio.sleep(self.flush_interval)
            try:
                await self.flush()
            except Exception:
                logger.exception("could not record deliveries; trying again")
                await asyncio.sleep(1.0)

    async def flush(self) -> None:
        self._ready.clear()
        if not self._waiting:
            return
        batch, self._waiting = self._waiting, []
        try:
            async with self.db.transaction() as session:
                await record_outcomes(session, outcomes=batch, now=self.clock.now())
        except Exception:
            logger.exception("could not record %d outcomes together; recording them one by one", len(batch))
            batch = await self._record_one_by_one(batch)
        except BaseException:
            self._waiting[:0] = batch
            self._ready.set()
            raise
        await self.on_recorded(batch)

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
            self._waiting[:0] = batch
            self._ready.set()
            raise RuntimeError("the database refused every outcome")
        self._waiting[:0] = again
        return recorded
