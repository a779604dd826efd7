"""Deliveries: one row per recipient of a broadcast, queued when sending begins, with the
counters on the broadcast row that count their outcomes.

When sending begins, one delivery is created for each recipient as the list stood at that
moment; later joiners are not added. Counters on the broadcast row are kept in the same
transaction as the deliveries they count, so progress is one row read however large the
broadcast. Nothing here knows Telegram: the engine in `bot/engines/broadcaster.py` reads the
pending deliveries, claims them (`claims.py`) and records their outcomes here in batches.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import and_, exists, func, insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Select

from storage.broadcasts.tables import (
    Broadcast,
    BroadcastKind,
    BroadcastVersion,
    Delivery,
    DeliveryStatus,
    DeliveryTally,
    get_broadcast,
)
from storage.broadcasts.versions import count_version_sends
from storage.db import few_shapes, utcnow
from storage.lists.chats import mark_chats_unreachable, move_chat
from storage.lists.models import Chat, Subscription

# Core tables, for the statements run for every batch, where the ORM's bookkeeping would cost more than the SQL.
_broadcasts = Broadcast.__table__
_deliveries = Delivery.__table__

# The counter on the broadcast row of each finished delivery status.
_COUNTER_OF = {
    DeliveryStatus.SENT: "sent_count",
    DeliveryStatus.BLOCKED: "blocked_count",
    DeliveryStatus.GONE: "gone_count",
    DeliveryStatus.FAILED: "failed_count",
    DeliveryStatus.SKIPPED: "skipped_count",
    DeliveryStatus.PAUSED: "paused_count",
}


@dataclasses.dataclass(frozen=True)
class BroadcastCounts:
    recipients: int
    sent: int
    blocked: int
    gone: int
    failed: int
    skipped: int
    paused: int = 0  # held for chats that had paused alerts (/pause)
    silent: int = 0  # of those sent, how many without a notification (quiet hours)

    @property
    def finished(self) -> int:
        return self.sent + self.blocked + self.gone + self.failed + self.skipped + self.paused

    @property
    def pending(self) -> int:
        return max(0, self.recipients - self.finished)

    @classmethod
    def of(cls, broadcast: Broadcast) -> BroadcastCounts:
        return cls(broadcast.recipients, broadcast.sent_count, broadcast.blocked_count, broadcast.gone_count,
                   broadcast.failed_count, broadcast.skipped_count, broadcast.paused_count, broadcast.silent_count)


@dataclasses.dataclass(frozen=True)
class PendingDelivery:
    """One recipient whose turn has come, with what the engine needs to send or skip."""

    id: int
    chat_id: int
    telegram_id: int
    reachable: bool
    # The chat's quiet hours as stored (None: the default), read by the engine at the send.
    quiet_hours: str | None = None
    # The chat has paused alerts and this broadcast is an ordinary alert: held, not sent.
    paused: bool = False
    # The version it gets, as stamped when it was queued (None: the original).
    language: str | None = None


@dataclasses.dataclass(frozen=True)
class DeliveryOutcome:
    broadcast_id: int
    delivery_id: int
    telegram_id: int
    status: DeliveryStatus
    # Set when the chat turned out to have moved (a group became a supergroup).
    new_telegram_id: int | None = None
    silent: bool = False  # sent without a notification (quiet hours)
    language: str | None = None  # the version it was sent in (None: the original)


# ------------------------------------------------------------------ queueing


def everyone_on_list(list_id: int) -> Select:
    return (
        select(Subscription.chat_id)
        .join(Chat, Chat.id == Subscription.chat_id)
        .where(Subscription.list_id == list_id, Chat.active.is_(True))
    )


async def create_deliveries(session: AsyncSession, *, broadcast_id: int, chat_rows: Select) -> int:
    """One PENDING delivery per distinct chat id that `chat_rows` selects; returns how many.

    Each is stamped with the version its chat gets: the broadcast's version in the chat's
    language if it has one, else the original (None). Stamped here, once, so the choice never
    changes afterwards, whatever the chat does meanwhile or however often the send is resumed."""
    chosen = chat_rows.subquery()
    # The first selected column is the chat id, whatever the caller named it.
    chat_id_column = list(chosen.c)[0]
    rows = (
        select(literal(broadcast_id), chat_id_column, literal(DeliveryStatus.PENDING.value),
               BroadcastVersion.language)
        .distinct()
        .join(Chat, Chat.id == chat_id_column)
        .outerjoin(BroadcastVersion, and_(BroadcastVersion.broadcast_id == broadcast_id,
                                          BroadcastVersion.language == Chat.language))
        .where(Chat.active.is_(True))
    )
    await session.execute(
        insert(Delivery).from_select([Delivery.broadcast_id, Delivery.chat_id, Delivery.status, Delivery.language],
                                     rows)
    )
    return (await session.scalar(
        select(func.count()).select_from(Delivery).where(Delivery.broadcast_id == broadcast_id)
    )) or 0


# ------------------------------------------------------------------ counts


async def broadcast_counts(session: AsyncSession, *, broadcast_id: int) -> BroadcastCounts | None:
    """Recipients, sent, pending, blocked, gone, failed and skipped, from the broadcast's counters."""
    broadcast = await get_broadcast(session, broadcast_id=broadcast_id)
    return BroadcastCounts.of(broadcast) if broadcast is not None else None


async def count_deliveries(session: AsyncSession, *, broadcast_id: int) -> dict[DeliveryStatus, int]:
    """The deliveries by status, counted row by row (slower than the counters; for checks and
    tests), with those already reduced to counts by the retention sweep."""
    rows = await session.execute(
        select(Delivery.status, func.count()).where(Delivery.broadcast_id == broadcast_id).group_by(Delivery.status)
    )
    counted = {status: 0 for status in DeliveryStatus}
    for status, count in rows.all():
        counted[DeliveryStatus(status)] = count
    tallies = await session.execute(
        select(DeliveryTally.status, DeliveryTally.count).where(DeliveryTally.broadcast_id == broadcast_id)
    )
    for status, count in tallies.all():
        counted[DeliveryStatus(status)] += count
    return counted


async def add_to_counters(session: AsyncSession, broadcast_id: int, added: dict[DeliveryStatus, int]) -> None:
    values = {_COUNTER_OF[status]: _broadcasts.c[_COUNTER_OF[status]] + count for status, count in added.items()
              if count and status in _COUNTER_OF}
    if values:
        await session.execute(update(_broadcasts).where(_broadcasts.c.id == broadcast_id).values(values))


# ------------------------------------------------------------------ the engine's queue


def holds_for_pause(broadcast: Broadcast) -> bool:
    """An ordinary alert (to everyone on its list) is held for chats that paused alerts; what
    was sent to chosen recipients (reminders to those going, notices of a moved or cancelled
    date, an organiser's report) is not."""
    return broadcast.kind == BroadcastKind.ALERT.value and not broadcast.custom_recipients


async def pending_deliveries(session: AsyncSession, *, broadcast_id: int, after_id: int,
                             limit: int, now: dt.datetime | None = None) -> list[PendingDelivery]:
    """The next `limit` pending deliveries after `after_id`, in id order (a keyset page), with
    each chat's quiet hours and whether its pause holds this broadcast at `now`."""
    broadcast = await get_broadcast(session, broadcast_id=broadcast_id)
    if broadcast is None:
        return []
    still_subscribed = exists().where(Subscription.chat_id == Delivery.chat_id,
                                      Subscription.list_id == broadcast.list_id)
    reachable = Chat.active if broadcast.custom_recipients else and_(Chat.active, still_subscribed)
    paused = (Chat.paused_until > (now or utcnow())) if holds_for_pause(broadcast) else literal(False)
    query = (
        select(Delivery.id, Delivery.chat_id, Chat.telegram_id, reachable, Chat.quiet_hours, paused,
               Delivery.language)
        .join(Chat, Chat.id == Delivery.chat_id)
        .where(Delivery.broadcast_id == broadcast_id, Delivery.id > after_id,
               Delivery.status == DeliveryStatus.PENDING.value)
        .order_by(Delivery.id)
        .limit(limit)
    )
    return [PendingDelivery(row[0], row[1], row[2], bool(row[3]), row[4], bool(row[5]), row[6])
            for row in (await session.execute(query)).all()]


async def record_outcomes(session: AsyncSession, *, outcomes: list[DeliveryOutcome], learn: bool = True,
                          now: dt.datetime | None = None) -> None:
    """Records a batch of finished sends: delivery statuses, the broadcasts' counters, and (with
    `learn`) what they taught us about chats (blocked or gone: unreachable, and on no list from
    `now`; migrated: new id).

    An outcome of PENDING puts its delivery back in the queue unsent (the engine's circuit
    breaker stopped it: it is neither a duplicate nor a failure)."""
    groups: dict[int, dict[tuple[DeliveryStatus, bool, str | None], list[int]]] = {}
    for outcome in outcomes:
        sent = outcome.status is DeliveryStatus.SENT
        key = (outcome.status, outcome.silent and sent, outcome.language if sent else None)
        groups.setdefault(outcome.broadcast_id, {}).setdefault(key, []).append(outcome.delivery_id)
    for broadcast_id, by_status in groups.items():
        added: dict[DeliveryStatus, int] = {}
        in_versions: dict[str, int] = {}
        silently = 0
        for (status, silent, language), delivery_ids in by_status.items():
            # Only claimed rows change: a row erased meanwhile (/forget) is simply gone.
            values: dict[str, object] = {"status": status.value}
            if status is DeliveryStatus.PENDING:
                values["claimed_by"] = None
            result = await session.execute(
                update(_deliveries).where(_deliveries.c.id.in_(few_shapes(delivery_ids)),
                                          _deliveries.c.status == DeliveryStatus.SENDING.value)
                .values(values)
            )
            added[status] = added.get(status, 0) + (result.rowcount or 0)
            silently += (result.rowcount or 0) if silent else 0
            if language is not None:
                in_versions[language] = in_versions.get(language, 0) + (result.rowcount or 0)
        await add_to_counters(session, broadcast_id, added)
        await count_version_sends(session, broadcast_id, in_versions)
        if silently:
            await session.execute(update(_broadcasts).where(_broadcasts.c.id == broadcast_id)
                                  .values(silent_count=_broadcasts.c.silent_count + silently))
    if not learn:
        return
    for outcome in outcomes:
        if outcome.new_telegram_id is not None:
            await move_chat(session, old_telegram_id=outcome.telegram_id,
                            new_telegram_id=outcome.new_telegram_id)
    await mark_chats_unreachable(session, now=now, telegram_ids=[
        outcome.new_telegram_id or outcome.telegram_id for outcome in outcomes
        if outcome.status in (DeliveryStatus.BLOCKED, DeliveryStatus.GONE)])


async def messages_received(session: AsyncSession, *, chat_id: int) -> dict[str, int]:
    """For /mydata: how many broadcast messages of each kind (alerts; reports to an organiser)
    this chat was sent and that are still on record, each delivery row counted once."""
    query = (select(Broadcast.kind, func.count()).select_from(Delivery)
             .join(Broadcast, Broadcast.id == Delivery.broadcast_id)
             .where(Delivery.chat_id == chat_id, Delivery.status == DeliveryStatus.SENT.value)
             .group_by(Broadcast.kind))
    return {kind: count for kind, count in (await session.execute(query)).all()}
