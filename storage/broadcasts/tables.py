"""The broadcast tables: a broadcast (an alert to a list, or a notice to an organiser) and one
delivery row per recipient, with the statuses both move through.

A broadcast moves through DRAFT -> SCHEDULED -> SENDING -> DONE, and may be PAUSED (and resumed)
while sending, CANCELLED before it is done, or FAILED when the engine cannot put it together; a
big one waits FOR_APPROVAL after its draft, and a scheduled one the bot could not start in time
becomes OVERDUE (`status.py` makes these changes). Each delivery (stamped with
the version it gets, `BroadcastVersion`) goes PENDING -> SENDING (claimed: the request
may be on its way) -> SENT, BLOCKED, GONE, FAILED, SKIPPED or PAUSED (`deliveries.py`, `claims.py`).
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, String, Text, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel

from storage.db import UTCDateTime, utcnow

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
    # Its time passed while the bot was down for longer than the grace: waits for Send now or Drop.
    OVERDUE = "overdue"
    # To more recipients than APPROVAL_ABOVE: waits for a second organiser's Approve or Reject.
    FOR_APPROVAL = "for_approval"

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
    PAUSED = "paused"  # the chat had paused alerts (/pause) at its turn: held, never sent


class MediaKind(enum.StrEnum):
    PHOTO = "photo"
    DOCUMENT = "document"


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
    paused_count: int = Field(default=0, nullable=False, sa_column_kwargs={"server_default": "0"})
    # Of those sent, how many went silently (the chat's quiet hours).
    silent_count: int = Field(default=0, nullable=False, sa_column_kwargs={"server_default": "0"})
    # Rings even in the recipients' quiet hours (the organiser chose it at the confirm step).
    urgent: bool = Field(default=False, nullable=False)
    # The organiser (Telegram user id) who approved it, when it needed a second pair of eyes.
    approved_by: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    # A notice's inline buttons, as JSON rows of [label, callback_data] (None: no buttons).
    buttons: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
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
    # Which version it is (or was) sent in: a language of the broadcast's versions, stamped when
    # the delivery is queued from the chat's language; None: the original. Fixed from then on, so a
    # resumed or re-sent delivery goes out in the same version.
    language: str | None = Field(default=None, sa_column=Column(String(8), nullable=True))


class BroadcastVersion(SQLModel, table=True):
    """The same alert in another language, added at the preview (or a reminder rendered in each
    language the bot speaks): recipients whose chat speaks `language` get `text` instead of the
    broadcast's own text, with the same media, footer and buttons."""

    __tablename__ = "broadcast_versions"

    broadcast_id: int = Field(sa_column=Column(ForeignKey("broadcasts.id", ondelete="CASCADE"), primary_key=True))
    language: str = Field(sa_column=Column(String(8), primary_key=True))
    # Telegram HTML, without the footer, like Broadcast.text.
    text: str = Field(sa_column=Column(Text, nullable=False))
    # A notice's inline buttons with their labels in this language (None: the broadcast's own).
    buttons: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # Of the broadcast's sent_count, how many went in this version (kept after retention, like it).
    sent_count: int = Field(default=0, nullable=False, sa_column_kwargs={"server_default": "0"})


class DeliveryTally(SQLModel, table=True):
    """Deliveries reduced to counts: once the retention period of a finished broadcast is over,
    its delivery rows (which tie a chat to a list's alerts) are deleted and counted here, per
    status, so the broadcast's figures stay the same without saying who received it."""

    __tablename__ = "delivery_tallies"

    broadcast_id: int = Field(sa_column=Column(ForeignKey("broadcasts.id", ondelete="CASCADE"), primary_key=True))
    status: str = Field(sa_column=Column(String(16), primary_key=True))
    count: int = Field(sa_column=Column(Integer, nullable=False))


# ------------------------------------------------------------------ reading by key


async def get_broadcast(session: AsyncSession, *, broadcast_id: int) -> Broadcast | None:
    return await session.get(Broadcast, broadcast_id)


async def get_broadcast_by_origin(session: AsyncSession, *, origin_key: str) -> Broadcast | None:
    return await session.scalar(select(Broadcast).where(Broadcast.origin_key == origin_key))
