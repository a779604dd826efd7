"""What the broadcast engine tells organisers about a broadcast, with the status change that
prompts it: the report at the end, a pause the engine made, a failure. Each is queued as a notice
in the transaction that changes the broadcast's status, so a kill can neither lose it nor send it
twice; the engine then sends it like any broadcast."""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession

from messages import render
from storage.broadcasts.listings import BroadcastSummary, broadcast_summary
from storage.broadcasts.notices import record_notice, record_report
from storage.broadcasts.reviews import Review, record_review
from storage.broadcasts.status import TextTooLong, fail_broadcast, pause_for_problem
from storage.broadcasts.tables import Broadcast, BroadcastKind, get_broadcast
from storage.clock import Clock
from storage.db import Database
from storage.lists import organisers
from storage.lists.models import MailingList

logger = logging.getLogger(__name__)

# Renders what the organiser is told about a broadcast (done, paused by the engine, or failed).
Reporter = Callable[[BroadcastSummary], str]
# Renders what organisers are asked about an overdue broadcast: what it is, and its preview with
# Send now and Drop (the buttons' data is the handlers' business, so this is handed in).
OverdueReviewer = Callable[[BroadcastSummary, Broadcast, MailingList], Review]


class OrganiserNotices:
    def __init__(self, *, clock: Clock, report: Reporter | None, configured_organisers: frozenset[int],
                 review_overdue: OverdueReviewer | None = None) -> None:
        self.clock = clock
        self.report = report
        self.review_overdue = review_overdue
        # The organisers of the settings (those in the database are read when needed): who is told
        # when a broadcast nobody created (a reminder, one queued from the terminal) goes wrong.
        self.configured_organisers = configured_organisers

    def text(self, summary: BroadcastSummary | None) -> str | None:
        """What organisers are told about the broadcast now, or None (no reporter, or it cannot be rendered)."""
        if summary is None or self.report is None:
            return None
        try:
            return self.report(summary)
        except Exception:
            logger.exception("could not put together the notice about broadcast %s; nobody is told", summary.id)
            return None

    async def record_report(self, session: AsyncSession, broadcast_id: int) -> None:
        """Queues the final report in the caller's transaction (the one that finished the broadcast)."""
        summary = await broadcast_summary(session, broadcast_id=broadcast_id)
        text = self.text(summary) if summary is not None and summary.created_by is not None else None
        await record_report(session, broadcast_id=broadcast_id, text=text, now=self.clock.now())

    async def record_notice(self, session: AsyncSession, broadcast_id: int) -> None:
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
        text = self.text(summary)
        if text is None or not recipients:
            logger.warning("broadcast %s is %s and nobody is told", broadcast_id, summary.status.value)
            return
        broadcast = await get_broadcast(session, broadcast_id=broadcast_id)
        for telegram_id in recipients:
            await record_notice(session, list_id=broadcast.list_id, telegram_id=telegram_id, text=text,
                                           now=self.clock.now())

    async def ask_about_overdue(self, session: AsyncSession, broadcast_id: int) -> None:
        """Queues, in the transaction that made the broadcast OVERDUE, its review to every
        organiser: they decide whether it still makes sense to send."""
        summary = await broadcast_summary(session, broadcast_id=broadcast_id)
        broadcast = await get_broadcast(session, broadcast_id=broadcast_id)
        mailing_list = await session.get(MailingList, broadcast.list_id) if broadcast is not None else None
        if summary is None or mailing_list is None or self.review_overdue is None:
            return
        try:
            review = self.review_overdue(summary, broadcast, mailing_list)
        except Exception:
            logger.exception("could not put together the review of overdue broadcast %s; /broadcasts shows it",
                             broadcast_id)
            return
        recipients = await organisers.all_organiser_ids(session, configured=self.configured_organisers)
        logger.warning("scheduled broadcast %s is overdue; %d organisers are asked whether to send it",
                       broadcast_id, len(recipients))
        await record_review(session, broadcast=broadcast, review=review, telegram_ids=sorted(recipients),
                            now=self.clock.now())

    async def pause(self, db: Database, broadcast_id: int, *, reason: str) -> bool:
        """The engine pauses the broadcast (its message is refused), telling organisers in the same
        transaction. False if that could not be committed: the engine tries again at the next refusal,
        and until then the deliveries stay in the queue."""
        try:
            async with db.transaction() as session:
                if await pause_for_problem(session, broadcast_id=broadcast_id, reason=reason):
                    await self.record_notice(session, broadcast_id)
        except Exception:
            logger.exception("could not pause broadcast %s", broadcast_id)
            return False
        return True

    async def fail(self, db: Database, broadcast_id: int, problem: Exception) -> None:
        """The broadcast cannot be put together: FAILED with the reason, its creator told once."""
        reason = render("broadcast_failure.txt", too_long=problem if isinstance(problem, TextTooLong) else None,
                        error_type=type(problem).__name__)
        logger.error("broadcast %s cannot be sent: %s", broadcast_id, reason, exc_info=problem)
        async with db.transaction() as session:
            if await fail_broadcast(session, broadcast_id=broadcast_id, reason=reason,
                                               now=self.clock.now()):
                await self.record_report(session, broadcast_id)  # its creator, if it has one
                broadcast = await get_broadcast(session, broadcast_id=broadcast_id)
                if broadcast.created_by is None:
                    await self.record_notice(session, broadcast_id)
