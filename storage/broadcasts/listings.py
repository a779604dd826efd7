"""What organisers read: summaries of broadcasts with their list and counts, and the lists
they can broadcast to."""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.broadcasts.deliveries import BroadcastCounts
from storage.broadcasts.tables import Broadcast, BroadcastKind, BroadcastStatus
from storage.broadcasts.versions import LanguageCount, sent_by_language
from storage.lists.models import Chat, MailingList, Subscription


@dataclasses.dataclass(frozen=True)
class BroadcastSummary:
    """A broadcast with its list and counts, detached from the session, for reports and listings."""

    id: int
    status: BroadcastStatus
    list_slug: str
    list_title: str
    text: str
    media_kind: str | None
    created_by: int | None
    send_at: dt.datetime | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    counts: BroadcastCounts
    possible_duplicates: int
    problem: str | None = None
    kind: str = BroadcastKind.ALERT.value
    urgent: bool = False  # rings even in quiet hours
    approved_by: int | None = None  # the second organiser, for a broadcast that needed approval
    list_id: int | None = None
    # Sent per version, the original first, when it went in several languages (else empty).
    by_language: tuple[LanguageCount, ...] = ()


def _summary(broadcast: Broadcast, mailing_list: MailingList) -> BroadcastSummary:
    return BroadcastSummary(
        id=broadcast.id, status=broadcast.state, list_slug=mailing_list.slug, list_title=mailing_list.title,
        text=broadcast.text, media_kind=broadcast.media_kind, created_by=broadcast.created_by,
        send_at=broadcast.send_at, created_at=broadcast.created_at, started_at=broadcast.started_at,
        finished_at=broadcast.finished_at, counts=BroadcastCounts.of(broadcast),
        possible_duplicates=broadcast.possible_duplicates, problem=broadcast.problem, kind=broadcast.kind,
        urgent=broadcast.urgent, approved_by=broadcast.approved_by, list_id=broadcast.list_id,
    )


async def broadcast_summary(session: AsyncSession, *, broadcast_id: int) -> BroadcastSummary | None:
    row = (await session.execute(
        select(Broadcast, MailingList).join(MailingList, MailingList.id == Broadcast.list_id)
        .where(Broadcast.id == broadcast_id)
    )).first()
    if row is None:
        return None
    by_language = tuple(await sent_by_language(session, broadcast_id=broadcast_id))
    return dataclasses.replace(_summary(row[0], row[1]), by_language=by_language)


async def recent_broadcasts(session: AsyncSession, *, limit: int = 10) -> list[BroadcastSummary]:
    """Everything waiting (for approval, scheduled, overdue), sending or paused, then the most
    recent others; newest first."""
    active = (BroadcastStatus.SCHEDULED.value, BroadcastStatus.SENDING.value, BroadcastStatus.PAUSED.value,
              BroadcastStatus.OVERDUE.value, BroadcastStatus.FOR_APPROVAL.value)
    query = (
        select(Broadcast, MailingList)
        .join(MailingList, MailingList.id == Broadcast.list_id)
        .where(Broadcast.status != BroadcastStatus.DRAFT.value)
        # Notices to organisers that went out are not broadcasts anyone needs to look after.
        .where(or_(Broadcast.kind != BroadcastKind.REPORT.value, Broadcast.status != BroadcastStatus.DONE.value))
        .order_by(Broadcast.status.in_(active).desc(), Broadcast.id.desc())
        .limit(limit)
    )
    return [_summary(broadcast, mailing_list) for broadcast, mailing_list in (await session.execute(query)).all()]


# ------------------------------------------------------------------ for organisers choosing a list


@dataclasses.dataclass(frozen=True)
class ListChoice:
    id: int
    slug: str
    title: str
    subscribers: int


async def lists_to_broadcast_to(session: AsyncSession) -> list[ListChoice]:
    """Every list, public or not, with how many reachable chats are on it."""
    counts = (
        select(Subscription.list_id, func.count().label("subscribers"))
        .join(Chat, Chat.id == Subscription.chat_id)
        .where(Chat.active.is_(True))
        .group_by(Subscription.list_id)
        .subquery()
    )
    query = (
        select(MailingList.id, MailingList.slug, MailingList.title, func.coalesce(counts.c.subscribers, 0))
        .outerjoin(counts, counts.c.list_id == MailingList.id)
        .order_by(MailingList.title)
    )
    return [ListChoice(*row) for row in (await session.execute(query)).all()]


async def list_to_broadcast_to(session: AsyncSession, *, list_id: int | None = None,
                               name: str | None = None) -> ListChoice | None:
    """One list by id, or by short name or title (ignoring case), with its subscriber count."""
    for choice in await lists_to_broadcast_to(session):
        if choice.id == list_id or (name is not None and name.strip().lower() in (choice.slug, choice.title.lower())):
            return choice
    return None
