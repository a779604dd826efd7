"""Broadcasts: an alert to a list, as a status machine with one delivery row per recipient.

A broadcast moves through DRAFT -> SCHEDULED -> SENDING -> DONE, and may be PAUSED (and resumed)
while sending or CANCELLED before it is done. The engine itself pauses a broadcast whose first
sends Telegram refuses for what the message is, and marks FAILED one it cannot put together at
all; either way `problem` says why and the organiser is sent a notice. When sending begins, one delivery row is created
for each recipient as the list stood at that moment; later joiners are not added. Each delivery
goes PENDING -> SENDING (claimed: the request may be on its way) -> SENT, BLOCKED, GONE, FAILED,
or SKIPPED (the person left the list or became unreachable before their turn).

Nothing here knows Telegram. The engine in `bot/engines/broadcaster.py` claims deliveries just before
sending them and records their outcomes in batches; after a crash, deliveries still claimed are
the only ones that may have been sent without being recorded, so they are sent again and counted
as possible duplicates.

Counters on the broadcast row are kept in the same transaction as the deliveries they count, so
progress is one row read however large the broadcast.

What the engine owes an organiser (the final report, a pause, a failure) is itself a broadcast of
kind REPORT with the organiser as its one recipient, created in the transaction that changed the
status: it is recorded before anything is sent, sent once, and sent after a restart if a kill
came first.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    and_,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Select
from sqlmodel import Field, SQLModel

from storage import telegram_html
from storage.db import UTCDateTime, utcnow
from storage.lists import subscriptions
from storage.lists.models import Chat, ChatKind, MailingList, Subscription
from storage.telegram_html import MAX_CAPTION_LENGTH, MAX_TEXT_LENGTH

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit key.
_DeliveryId = BigInteger().with_variant(Integer(), "sqlite")


class BroadcastStatus(enum.StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    PAUSED = "paused"
    CANCELLED = "cancelled"
    DONE = "done"
    FAILED = "failed"  # the engine could not put the message together; `problem` says why

    @property
    def finished(self) -> bool:
        return self in (BroadcastStatus.CANCELLED, BroadcastStatus.DONE, BroadcastStatus.FAILED)


class BroadcastKind(enum.StrEnum):
    ALERT = "alert"  # to a list (or some of its members), with the list's footer
    REPORT = "report"  # what the engine tells an organiser about a broadcast: no footer, not listed

# How much of a reason (often Telegram's own description) is kept.
MAX_PROBLEM_LENGTH = 300


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    BLOCKED = "blocked"  # 403: the person blocked the bot, or the account is gone
    GONE = "gone"  # 400 chat not found
    FAILED = "failed"  # retries used up, or Telegram refused what we sent
    SKIPPED = "skipped"  # left the list or became unreachable before their turn


class MediaKind(enum.StrEnum):
    PHOTO = "photo"
    DOCUMENT = "document"


# Which status change each action may make, from which statuses.
_TRANSITIONS: dict[str, tuple[frozenset[BroadcastStatus], BroadcastStatus]] = {
    "pause": (frozenset({BroadcastStatus.SENDING}), BroadcastStatus.PAUSED),
    "resume": (frozenset({BroadcastStatus.PAUSED}), BroadcastStatus.SENDING),
    "cancel": (
        frozenset({BroadcastStatus.DRAFT, BroadcastStatus.SCHEDULED, BroadcastStatus.SENDING, BroadcastStatus.PAUSED}),
        BroadcastStatus.CANCELLED,
    ),
}


class Broadcast(SQLModel, table=True):
    __tablename__ = "broadcasts"

    id: int | None = Field(default=None, primary_key=True)
    list_id: int = Field(sa_column=Column(ForeignKey("mailing_lists.id", ondelete="CASCADE"), nullable=False,
                                          index=True))
    # The organiser's Telegram user id: who gets the report. Not a chat row: organisers need not be subscribers.
    created_by: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    status: str = Field(sa_column=Column(String(16), nullable=False, index=True))
    # Telegram HTML, without the footer (the engine adds the list's footer when sending).
    text: str = Field(sa_column=Column(Text, nullable=False))
    media_kind: str | None = Field(default=None, sa_column=Column(String(16), nullable=True))
    media_file_id: str | None = Field(default=None, sa_column=Column(String(256), nullable=True))
    send_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    started_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    finished_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    reported_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    # Makes a broadcast idempotent for its creator (e.g. "reminder:42"): at most one per key.
    origin_key: str | None = Field(default=None, sa_column=Column(String(100), nullable=True, unique=True))
    kind: str = Field(default=BroadcastKind.ALERT.value,
                      sa_column=Column(String(16), nullable=False, server_default=BroadcastKind.ALERT.value))
    # Why the engine paused this broadcast or marked it failed (cleared on resume).
    problem: str | None = Field(default=None, sa_column=Column(String(MAX_PROBLEM_LENGTH), nullable=True))
    # True when the recipients were chosen by the caller rather than "everyone on the list".
    custom_recipients: bool = Field(default=False, nullable=False)
    recipients: int = Field(default=0, nullable=False)
    sent_count: int = Field(default=0, nullable=False)
    blocked_count: int = Field(default=0, nullable=False)
    gone_count: int = Field(default=0, nullable=False)
    failed_count: int = Field(default=0, nullable=False)
    skipped_count: int = Field(default=0, nullable=False)
    # Deliveries found claimed-but-unrecorded after a restart and sent again: an upper bound
    # on the number of people who may have received this broadcast twice.
    possible_duplicates: int = Field(default=0, nullable=False)

    @property
    def state(self) -> BroadcastStatus:
        return BroadcastStatus(self.status)


class Delivery(SQLModel, table=True):
    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_broadcast_id_id", "broadcast_id", "id"),)

    id: int | None = Field(default=None, sa_column=Column(_DeliveryId, primary_key=True, autoincrement=True))
    broadcast_id: int = Field(sa_column=Column(ForeignKey("broadcasts.id", ondelete="CASCADE"), nullable=False))
    # Erasing a chat (/forget) erases its deliveries with it.
    chat_id: int = Field(sa_column=Column(ForeignKey("chats.id", ondelete="CASCADE"), nullable=False, index=True))
    status: str = Field(sa_column=Column(String(16), nullable=False))
    # The process that claimed it (while SENDING): its claims are its own while it is alive.
    claimed_by: str | None = Field(default=None, sa_column=Column(String(128), nullable=True))


class DeliveryTally(SQLModel, table=True):
    """Deliveries reduced to counts: once the retention period of a finished broadcast is over,
    its delivery rows (which tie a chat to a list's alerts) are deleted and counted here, per
    status, so the broadcast's figures stay the same without saying who received it."""

    __tablename__ = "delivery_tallies"

    broadcast_id: int = Field(sa_column=Column(ForeignKey("broadcasts.id", ondelete="CASCADE"), primary_key=True))
    status: str = Field(sa_column=Column(String(16), primary_key=True))
    count: int = Field(sa_column=Column(Integer, nullable=False))


_broadcasts = Broadcast.__table__
_deliveries = Delivery.__table__

_COUNTER_OF = {
    DeliveryStatus.SENT: "sent_count",
    DeliveryStatus.BLOCKED: "blocked_count",
    DeliveryStatus.GONE: "gone_count",
    DeliveryStatus.FAILED: "failed_count",
    DeliveryStatus.SKIPPED: "skipped_count",
}


@dataclasses.dataclass(frozen=True)
class BroadcastCounts:
    recipients: int
    sent: int
    blocked: int
    gone: int
    failed: int
    skipped: int

    @property
    def finished(self) -> int:
        return self.sent + self.blocked + self.gone + self.failed + self.skipped

    @property
    def pending(self) -> int:
        return max(0, self.recipients - self.finished)

    @classmethod
    def of(cls, broadcast: Broadcast) -> BroadcastCounts:
        return cls(broadcast.recipients, broadcast.sent_count, broadcast.blocked_count, broadcast.gone_count,
                   broadcast.failed_count, broadcast.skipped_count)


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


@dataclasses.dataclass(frozen=True)
class PendingDelivery:
    """One recipient whose turn has come, with what the engine needs to send or skip."""

    id: int
    chat_id: int
    telegram_id: int
    reachable: bool


@dataclasses.dataclass(frozen=True)
class DeliveryOutcome:
    broadcast_id: int
    delivery_id: int
    telegram_id: int
    status: DeliveryStatus
    # Set when the chat turned out to have moved (a group became a supergroup).
    new_telegram_id: int | None = None


class BroadcastError(ValueError):
    """A broadcast that cannot be made or changed as asked; the message says why."""


class TextTooLong(BroadcastError):
    def __init__(self, length: int, limit: int) -> None:
        super().__init__(f"{length} characters, more than the {limit} Telegram allows")
        self.length = length
        self.limit = limit


class TimeInPast(BroadcastError):
    pass


# ------------------------------------------------------------------ text


def visible_length(html_text: str) -> int:
    """The length Telegram counts for a message in HTML: tags removed, entities decoded, UTF-16 units.

    Raises TelegramHtmlError (with the position) for HTML Telegram would refuse, so nothing that
    would fail for every recipient is queued, whichever way it came in.
    """
    return telegram_html.visible_length(html_text)


def length_limit(*, media_kind: MediaKind | str | None) -> int:
    return MAX_CAPTION_LENGTH if media_kind else MAX_TEXT_LENGTH


def check_length(html_text: str, *, media_kind: MediaKind | str | None) -> None:
    """Raises TelegramHtmlError or TextTooLong if Telegram would refuse the whole message (text or caption)."""
    limit = length_limit(media_kind=media_kind)
    length = visible_length(html_text)
    if length > limit:
        raise TextTooLong(length, limit)


# ------------------------------------------------------------------ creating


def _everyone_on_list(list_id: int) -> Select:
    return (
        select(Subscription.chat_id)
        .join(Chat, Chat.id == Subscription.chat_id)
        .where(Subscription.list_id == list_id, Chat.active.is_(True))
    )


async def _create_deliveries(session: AsyncSession, *, broadcast_id: int, chat_rows: Select) -> int:
    """One PENDING delivery per distinct chat id that `chat_rows` selects; returns how many."""
    chosen = chat_rows.subquery()
    # The first selected column is the chat id, whatever the caller named it.
    chat_id_column = list(chosen.c)[0]
    rows = (
        select(literal(broadcast_id), chat_id_column, literal(DeliveryStatus.PENDING.value))
        .distinct()
        .join(Chat, Chat.id == chat_id_column)
        .where(Chat.active.is_(True))
    )
    await session.execute(
        insert(Delivery).from_select([Delivery.broadcast_id, Delivery.chat_id, Delivery.status], rows)
    )
    return (await session.scalar(
        select(func.count()).select_from(Delivery).where(Delivery.broadcast_id == broadcast_id)
    )) or 0


async def _begin_sending(session: AsyncSession, broadcast: Broadcast, *, now: dt.datetime) -> bool:
    """Moves the broadcast to SENDING and fixes its recipients; False if another process did first.

    The status changes by a conditional UPDATE, so of several processes seeing the same
    broadcast due at once exactly one creates its deliveries.
    """
    began = await session.execute(
        update(_broadcasts)
        .where(_broadcasts.c.id == broadcast.id, _broadcasts.c.status == broadcast.status)
        .values(status=BroadcastStatus.SENDING.value, started_at=now)
    )
    if began.rowcount != 1:
        await session.refresh(broadcast)
        return False
    if not broadcast.custom_recipients:
        broadcast.recipients = await _create_deliveries(session, broadcast_id=broadcast.id,
                                                        chat_rows=_everyone_on_list(broadcast.list_id))
    broadcast.status = BroadcastStatus.SENDING.value
    broadcast.started_at = now
    return True


async def create_broadcast(
    session: AsyncSession,
    *,
    list_id: int,
    text: str,
    created_by: int | None,
    send_at: dt.datetime | None = None,
    origin_key: str | None = None,
    recipient_chat_rows: Select | None = None,
    photo_file_id: str | None = None,
    document_file_id: str | None = None,
    draft: bool = False,
    now: dt.datetime | None = None,
    kind: BroadcastKind = BroadcastKind.ALERT,
    check_text: bool = True,
) -> Broadcast | None:
    """Creates a broadcast of `text` (Telegram HTML) to the list `list_id`.

    - `draft=True`: kept as a DRAFT (the /broadcast preview); nothing is sent until
      `send_broadcast_now` or `schedule_broadcast`.
    - `send_at=None`: SENDING at once, with a delivery for everyone on the list now.
    - `send_at` given: SCHEDULED; the deliveries are created when it is due.
    - `recipient_chat_rows`: a Select whose first column is chats.id, replacing "everyone on the
      list" (e.g. only those going to an event). These deliveries are created at once, even for a
      scheduled broadcast; inactive chats are left out, duplicates collapsed. At their turn only
      chats that became unreachable are skipped (leaving the list does not skip them).
    - `kind`: REPORT for a notice to an organiser (sent without the list's footer).
    - `check_text=False`: not refused here for its length (the engine checks it when sending).
    - `origin_key`: at most one broadcast per key, ever. If one exists already this returns
      **None** (and raises nothing; the caller's transaction stays usable).

    At most one of `photo_file_id` and `document_file_id`; `text` is then the caption.
    Raises TelegramHtmlError if Telegram could not parse the text, TextTooLong if it alone is over
    Telegram's limit. The caller must wake the
    engine (`Broadcaster.wake()`) after committing.
    """
    if photo_file_id and document_file_id:
        raise BroadcastError("a broadcast carries one photo or one document, not both")
    media_kind = MediaKind.PHOTO if photo_file_id else MediaKind.DOCUMENT if document_file_id else None
    if check_text:
        check_length(text, media_kind=media_kind)
    now = now or utcnow()
    if send_at is not None and send_at <= now and not draft:
        send_at = None  # due already: send now rather than refuse a caller racing the clock
    if origin_key is not None and await get_broadcast_by_origin(session, origin_key=origin_key) is not None:
        return None
    broadcast = Broadcast(
        list_id=list_id,
        created_by=created_by,
        status=(BroadcastStatus.DRAFT if draft else
                BroadcastStatus.SCHEDULED if send_at is not None else BroadcastStatus.SENDING).value,
        text=text,
        media_kind=media_kind.value if media_kind else None,
        media_file_id=photo_file_id or document_file_id,
        send_at=send_at,
        created_at=now,
        origin_key=origin_key,
        custom_recipients=recipient_chat_rows is not None,
        kind=kind.value,
    )
    try:
        # A savepoint, so losing a race on origin_key does not spoil the caller's transaction.
        async with session.begin_nested():
            session.add(broadcast)
            await session.flush()
    except IntegrityError:
        if origin_key is not None and await get_broadcast_by_origin(session, origin_key=origin_key) is not None:
            return None
        raise
    if recipient_chat_rows is not None:
        broadcast.recipients = await _create_deliveries(session, broadcast_id=broadcast.id,
                                                        chat_rows=recipient_chat_rows)
    if broadcast.state is BroadcastStatus.SENDING:
        await _begin_sending(session, broadcast, now=now)
    await session.flush()
    return broadcast


# ------------------------------------------------------------------ reading


async def get_broadcast(session: AsyncSession, *, broadcast_id: int) -> Broadcast | None:
    return await session.get(Broadcast, broadcast_id)


async def get_broadcast_by_origin(session: AsyncSession, *, origin_key: str) -> Broadcast | None:
    return await session.scalar(select(Broadcast).where(Broadcast.origin_key == origin_key))


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


def _summary(broadcast: Broadcast, mailing_list: MailingList) -> BroadcastSummary:
    return BroadcastSummary(
        id=broadcast.id, status=broadcast.state, list_slug=mailing_list.slug, list_title=mailing_list.title,
        text=broadcast.text, media_kind=broadcast.media_kind, created_by=broadcast.created_by,
        send_at=broadcast.send_at, created_at=broadcast.created_at, started_at=broadcast.started_at,
        finished_at=broadcast.finished_at, counts=BroadcastCounts.of(broadcast),
        possible_duplicates=broadcast.possible_duplicates, problem=broadcast.problem, kind=broadcast.kind,
    )


async def broadcast_summary(session: AsyncSession, *, broadcast_id: int) -> BroadcastSummary | None:
    row = (await session.execute(
        select(Broadcast, MailingList).join(MailingList, MailingList.id == Broadcast.list_id)
        .where(Broadcast.id == broadcast_id)
    )).first()
    return _summary(row[0], row[1]) if row is not None else None


async def recent_broadcasts(session: AsyncSession, *, limit: int = 10) -> list[BroadcastSummary]:
    """Everything scheduled, sending or paused, then the most recent others; newest first."""
    active = (BroadcastStatus.SCHEDULED.value, BroadcastStatus.SENDING.value, BroadcastStatus.PAUSED.value)
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


async def sending_broadcast_ids(session: AsyncSession) -> list[int]:
    result = await session.scalars(
        select(Broadcast.id).where(Broadcast.status == BroadcastStatus.SENDING.value).order_by(Broadcast.id)
    )
    return list(result)


async def next_scheduled_time(session: AsyncSession) -> dt.datetime | None:
    return await session.scalar(
        select(func.min(Broadcast.send_at)).where(Broadcast.status == BroadcastStatus.SCHEDULED.value)
    )


async def broadcasts_awaiting_report(session: AsyncSession) -> list[int]:
    """Finished broadcasts with a creator whose report was never recorded (made before reports
    were recorded with the status change, or by a path that did not record one)."""
    result = await session.scalars(
        select(Broadcast.id).where(
            Broadcast.status.in_([BroadcastStatus.DONE.value, BroadcastStatus.FAILED.value]),
            Broadcast.reported_at.is_(None),
            Broadcast.created_by.is_not(None),
        )
    )
    return list(result)


async def mark_reported(session: AsyncSession, *, broadcast_id: int, now: dt.datetime) -> None:
    await session.execute(update(Broadcast).where(Broadcast.id == broadcast_id).values(reported_at=now))


def report_origin_key(broadcast_id: int) -> str:
    return f"report:{broadcast_id}"


async def record_notice(session: AsyncSession, *, list_id: int, telegram_id: int, text: str, now: dt.datetime,
                        origin_key: str | None = None) -> Broadcast | None:
    """Queues `text` (Telegram HTML, sent as it is, without a footer) to the private chat
    `telegram_id`, about something of the list `list_id`, in the caller's transaction; the engine
    sends it like any broadcast.

    The chat's row is made if there is none (organisers need not be subscribers); a chat that
    blocked the bot stays unreachable and gets nothing. Returns None if `origin_key` was used before.
    """
    chat = await subscriptions.get_chat(session, telegram_id=telegram_id)
    if chat is None:
        chat = Chat(telegram_id=telegram_id, kind=ChatKind.PRIVATE.value, active=True)
        session.add(chat)
        await session.flush()
    only_them = select(Chat.id).where(Chat.id == chat.id)
    notice = await create_broadcast(session, list_id=list_id, text=text, created_by=None,
                                    origin_key=origin_key, recipient_chat_rows=only_them, now=now,
                                    kind=BroadcastKind.REPORT,
                                    # Never refused here: that would undo the status change it reports.
                                    # The engine checks it when composing, as it does every broadcast.
                                    check_text=False)
    return notice


async def record_report(session: AsyncSession, *, broadcast_id: int, text: str | None, now: dt.datetime) -> bool:
    """The broadcast's final report to its creator, queued once ever (`text` None: nobody is told,
    but the broadcast counts as reported). Returns whether a report was queued."""
    broadcast = await get_broadcast(session, broadcast_id=broadcast_id)
    if broadcast is None or broadcast.reported_at is not None:
        return False
    broadcast.reported_at = now
    if text is None or broadcast.created_by is None:
        await session.flush()
        return False
    notice = await record_notice(session, list_id=broadcast.list_id, telegram_id=broadcast.created_by, text=text,
                                 origin_key=report_origin_key(broadcast_id), now=now)
    return notice is not None


async def report_of(session: AsyncSession, *, broadcast_id: int) -> Broadcast | None:
    return await get_broadcast_by_origin(session, origin_key=report_origin_key(broadcast_id))


# ------------------------------------------------------------------ status changes


async def send_broadcast_now(session: AsyncSession, *, broadcast_id: int, now: dt.datetime) -> Broadcast:
    """A draft (or a scheduled broadcast) starts sending now."""
    broadcast = await get_broadcast(session, broadcast_id=broadcast_id)
    if broadcast is None or broadcast.state not in (BroadcastStatus.DRAFT, BroadcastStatus.SCHEDULED):
        raise BroadcastError("that broadcast is no longer waiting to be sent")
    if not await _begin_sending(session, broadcast, now=now):
        raise BroadcastError("that broadcast is no longer waiting to be sent")
    await session.flush()
    return broadcast


async def schedule_broadcast(session: AsyncSession, *, broadcast_id: int, send_at: dt.datetime,
                             now: dt.datetime) -> Broadcast:
    if send_at <= now:
        raise TimeInPast("that time has passed")
    broadcast = await get_broadcast(session, broadcast_id=broadcast_id)
    if broadcast is None or broadcast.state not in (BroadcastStatus.DRAFT, BroadcastStatus.SCHEDULED):
        raise BroadcastError("that broadcast is no longer waiting to be sent")
    broadcast.status = BroadcastStatus.SCHEDULED.value
    broadcast.send_at = send_at
    await session.flush()
    return broadcast


async def change_broadcast(session: AsyncSession, *, broadcast_id: int, action: str,
                           now: dt.datetime | None = None) -> bool:
    """Applies "pause", "resume" or "cancel"; False if the broadcast's status does not allow it."""
    allowed_from, new_status = _TRANSITIONS[action]
    values: dict[str, object] = {"status": new_status.value}
    if new_status is BroadcastStatus.SENDING:
        values["problem"] = None  # resumed: whatever made the engine pause it is taken as fixed
    if new_status is BroadcastStatus.CANCELLED:
        values["finished_at"] = now or utcnow()
    result = await session.execute(
        update(Broadcast)
        .where(Broadcast.id == broadcast_id, Broadcast.status.in_([s.value for s in allowed_from]))
        .values(**values)
    )
    return result.rowcount == 1


async def start_due_broadcasts(session: AsyncSession, *, now: dt.datetime) -> list[int]:
    """Scheduled broadcasts whose time has come begin sending; returns their ids."""
    due = list(await session.scalars(
        select(Broadcast).where(Broadcast.status == BroadcastStatus.SCHEDULED.value, Broadcast.send_at <= now)
        .order_by(Broadcast.send_at, Broadcast.id)
    ))
    started = [broadcast.id for broadcast in due if await _begin_sending(session, broadcast, now=now)]
    await session.flush()
    return started


# ------------------------------------------------------------------ the engine's side


async def requeue_interrupted_deliveries(session: AsyncSession, *, broadcast_id: int, alive: set[str]) -> int:
    """Deliveries claimed by a process not in `alive` (it stopped or died before recording them) go
    back in the queue.

    They may or may not have reached the person, so they count as possible duplicates. Claims
    of living processes are left alone: those processes are still sending them.
    """
    claimed_by_the_dead = and_(
        Delivery.broadcast_id == broadcast_id,
        Delivery.status == DeliveryStatus.SENDING.value,
        or_(Delivery.claimed_by.is_(None), Delivery.claimed_by.not_in(alive)),
    )
    result = await session.execute(
        update(Delivery).where(claimed_by_the_dead).values(status=DeliveryStatus.PENDING.value, claimed_by=None)
    )
    requeued = result.rowcount or 0
    if requeued:
        await session.execute(
            update(Broadcast).where(Broadcast.id == broadcast_id)
            .values(possible_duplicates=Broadcast.possible_duplicates + requeued)
        )
    return requeued


async def claimed_elsewhere(session: AsyncSession, *, broadcast_id: int) -> bool:
    """Whether any delivery of the broadcast is still claimed (by this or another process)."""
    return bool(await session.scalar(select(exists().where(
        Delivery.broadcast_id == broadcast_id, Delivery.status == DeliveryStatus.SENDING.value))))


async def pending_deliveries(session: AsyncSession, *, broadcast_id: int, after_id: int,
                             limit: int) -> list[PendingDelivery]:
    """The next `limit` pending deliveries after `after_id`, in id order (a keyset page)."""
    broadcast = await get_broadcast(session, broadcast_id=broadcast_id)
    if broadcast is None:
        return []
    still_subscribed = exists().where(Subscription.chat_id == Delivery.chat_id,
                                      Subscription.list_id == broadcast.list_id)
    reachable = Chat.active if broadcast.custom_recipients else and_(Chat.active, still_subscribed)
    query = (
        select(Delivery.id, Delivery.chat_id, Chat.telegram_id, reachable)
        .join(Chat, Chat.id == Delivery.chat_id)
        .where(Delivery.broadcast_id == broadcast_id, Delivery.id > after_id,
               Delivery.status == DeliveryStatus.PENDING.value)
        .order_by(Delivery.id)
        .limit(limit)
    )
    return [PendingDelivery(row[0], row[1], row[2], bool(row[3])) for row in (await session.execute(query)).all()]


async def claim_deliveries(session: AsyncSession, *, broadcast_id: int, deliveries: list[PendingDelivery],
                           claimer: str) -> list[PendingDelivery] | None:
    """Marks the reachable deliveries SENDING and the others SKIPPED, if the broadcast is still sending.

    Returns the deliveries this call claimed (the caller now sends exactly those), or None when
    the broadcast was paused, cancelled or deleted meanwhile (then nothing is changed).
    """
    # Core statements on the tables: this runs for every few messages, and the ORM's
    # bookkeeping would cost more than the SQL.
    status = await session.scalar(select(_broadcasts.c.status).where(_broadcasts.c.id == broadcast_id))
    if status != BroadcastStatus.SENDING.value:
        return None
    skipped = [d.id for d in deliveries if not d.reachable]
    if skipped:
        result = await session.execute(
            update(_deliveries).where(_deliveries.c.id.in_(skipped),
                                      _deliveries.c.status == DeliveryStatus.PENDING.value)
            .values(status=DeliveryStatus.SKIPPED.value)
        )
        await _add_to_counters(session, broadcast_id, {DeliveryStatus.SKIPPED: result.rowcount or 0})
    wanted = [d.id for d in deliveries if d.reachable]
    if not wanted:
        return []
    # Only rows still PENDING are taken, so two processes never claim the same delivery. On
    # PostgreSQL, rows another process is claiming right now are skipped rather than waited for.
    still_pending = select(_deliveries.c.id).where(_deliveries.c.id.in_(wanted),
                                                   _deliveries.c.status == DeliveryStatus.PENDING.value)
    if session.get_bind().dialect.name == "postgresql":
        still_pending = still_pending.with_for_update(skip_locked=True)
    result = await session.execute(
        update(_deliveries).where(_deliveries.c.id.in_(still_pending))
        .values(status=DeliveryStatus.SENDING.value, claimed_by=claimer)
        .returning(_deliveries.c.id)
    )
    claimed = set(result.scalars().all())
    return [d for d in deliveries if d.id in claimed]


async def _add_to_counters(session: AsyncSession, broadcast_id: int, added: dict[DeliveryStatus, int]) -> None:
    values = {_COUNTER_OF[status]: _broadcasts.c[_COUNTER_OF[status]] + count for status, count in added.items()
              if count and status in _COUNTER_OF}
    if values:
        await session.execute(update(_broadcasts).where(_broadcasts.c.id == broadcast_id).values(values))


async def record_outcomes(session: AsyncSession, *, outcomes: list[DeliveryOutcome], learn: bool = True,
                          now: dt.datetime | None = None) -> None:
    """Records a batch of finished sends: delivery statuses, the broadcasts' counters, and (with
    `learn`) what they taught us about chats (blocked or gone: unreachable, and on no list from
    `now`; migrated: new id).

    An outcome of PENDING puts its delivery back in the queue unsent (the engine's circuit
    breaker stopped it: it is neither a duplicate nor a failure)."""
    groups: dict[int, dict[DeliveryStatus, list[int]]] = {}
    for outcome in outcomes:
        groups.setdefault(outcome.broadcast_id, {}).setdefault(outcome.status, []).append(outcome.delivery_id)
    for broadcast_id, by_status in groups.items():
        added = {}
        for status, delivery_ids in by_status.items():
            # Only claimed rows change: a row erased meanwhile (/forget) is simply gone.
            values: dict[str, object] = {"status": status.value}
            if status is DeliveryStatus.PENDING:
                values["claimed_by"] = None
            result = await session.execute(
                update(_deliveries).where(_deliveries.c.id.in_(delivery_ids),
                                          _deliveries.c.status == DeliveryStatus.SENDING.value)
                .values(values)
            )
            added[status] = result.rowcount or 0
        await _add_to_counters(session, broadcast_id, added)
    if not learn:
        return
    for outcome in outcomes:
        if outcome.new_telegram_id is not None:
            await subscriptions.move_chat(session, old_telegram_id=outcome.telegram_id,
                                          new_telegram_id=outcome.new_telegram_id)
        if outcome.status in (DeliveryStatus.BLOCKED, DeliveryStatus.GONE):
            await subscriptions.mark_chat_unreachable(session, telegram_id=outcome.new_telegram_id or
                                                      outcome.telegram_id, now=now)


def _problem(reason: str) -> str:
    return reason.strip()[:MAX_PROBLEM_LENGTH] or "no reason given"


async def fail_broadcast(session: AsyncSession, *, broadcast_id: int, reason: str, now: dt.datetime) -> bool:
    """The engine cannot send this broadcast at all (e.g. its text with the footer is over the
    limit): it is FAILED with `reason`, and its unsent deliveries count as failed. Returns whether
    it was sending (and so is now failed)."""
    result = await session.execute(
        update(_broadcasts)
        .where(_broadcasts.c.id == broadcast_id, _broadcasts.c.status == BroadcastStatus.SENDING.value)
        .values(status=BroadcastStatus.FAILED.value, problem=_problem(reason), finished_at=now)
    )
    if result.rowcount != 1:
        return False
    unsent = await session.execute(
        update(_deliveries)
        .where(_deliveries.c.broadcast_id == broadcast_id, _deliveries.c.status == DeliveryStatus.PENDING.value)
        .values(status=DeliveryStatus.FAILED.value)
    )
    await _add_to_counters(session, broadcast_id, {DeliveryStatus.FAILED: unsent.rowcount or 0})
    return True


async def pause_for_problem(session: AsyncSession, *, broadcast_id: int, reason: str) -> bool:
    """The engine pauses a sending broadcast because of what the message is (`reason`, shown to
    organisers until they resume it). Returns whether it was sending (and so is now paused)."""
    result = await session.execute(
        update(_broadcasts)
        .where(_broadcasts.c.id == broadcast_id, _broadcasts.c.status == BroadcastStatus.SENDING.value)
        .values(status=BroadcastStatus.PAUSED.value, problem=_problem(reason))
    )
    return result.rowcount == 1


async def finish_broadcast(session: AsyncSession, *, broadcast_id: int, now: dt.datetime) -> bool:
    """Marks a sending broadcast DONE if no delivery is left pending or claimed; returns whether it did.

    The recipient count is reconciled with the rows, since erased chats take their rows with them.
    """
    unfinished = await session.scalar(
        select(exists().where(
            Delivery.broadcast_id == broadcast_id,
            Delivery.status.in_([DeliveryStatus.PENDING.value, DeliveryStatus.SENDING.value]),
        ))
    )
    if unfinished:
        return False
    broadcast = await get_broadcast(session, broadcast_id=broadcast_id)
    if broadcast is None or broadcast.state is not BroadcastStatus.SENDING:
        return False
    broadcast.recipients = BroadcastCounts.of(broadcast).finished
    broadcast.status = BroadcastStatus.DONE.value
    broadcast.finished_at = now
    await session.flush()
    return True


# ------------------------------------------------------------------ the chat's own data


async def _deliveries_of_chat(session: AsyncSession, chat: Chat) -> list[str]:
    received = await session.scalar(
        select(func.count()).select_from(Delivery)
        .where(Delivery.chat_id == chat.id, Delivery.status == DeliveryStatus.SENT.value)
    )
    return [f"{received} alerts received"] if received else []


subscriptions.CHAT_DATA_SECTIONS["Alerts"] = _deliveries_of_chat


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
