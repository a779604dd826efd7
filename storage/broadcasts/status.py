"""The broadcast's status machine: creating a broadcast, and every change of its status.

Organisers draft, schedule, send, pause, resume and cancel; the engine starts what is due,
pauses a broadcast whose first sends Telegram refuses for what the message is, marks FAILED one
it cannot put together at all (either way `problem` says why and the organiser is sent a
notice, see `notices.py`), and finishes one with no delivery left. Every change is a
conditional UPDATE, so of several processes making the same change exactly one succeeds.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Mapping

from sqlalchemy import exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Select

from storage import telegram_html
from storage.broadcasts.deliveries import BroadcastCounts, add_to_counters, create_deliveries, everyone_on_list
from storage.broadcasts.tables import (
    MAX_PROBLEM_LENGTH,
    Broadcast,
    BroadcastKind,
    BroadcastStatus,
    Delivery,
    DeliveryStatus,
    MediaKind,
    get_broadcast,
    get_broadcast_by_origin,
)
from storage.broadcasts.versions import LocalisedText, add_versions, as_localised
from storage.db import utcnow
from storage.telegram_html import MAX_CAPTION_LENGTH, MAX_TEXT_LENGTH

# Core tables, for statements where the ORM's bookkeeping would cost more than the SQL.
_broadcasts = Broadcast.__table__
_deliveries = Delivery.__table__


# Which status change each action may make, from which statuses. Besides these, a broadcast
# begins SENDING from DRAFT, SCHEDULED or OVERDUE (`send_broadcast_now`, the engine), and an
# approved one leaves FOR_APPROVAL for SENDING or SCHEDULED (`reviews.approve_broadcast`).
_TRANSITIONS: dict[str, tuple[frozenset[BroadcastStatus], BroadcastStatus]] = {
    "pause": (frozenset({BroadcastStatus.SENDING}), BroadcastStatus.PAUSED),
    "resume": (frozenset({BroadcastStatus.PAUSED}), BroadcastStatus.SENDING),
    "cancel": (
        frozenset({BroadcastStatus.DRAFT, BroadcastStatus.SCHEDULED, BroadcastStatus.SENDING, BroadcastStatus.PAUSED,
                   BroadcastStatus.OVERDUE, BroadcastStatus.FOR_APPROVAL}),
        BroadcastStatus.CANCELLED,
    ),
    # Too many recipients for one organiser alone: a second one must approve it.
    "submit": (frozenset({BroadcastStatus.DRAFT}), BroadcastStatus.FOR_APPROVAL),
    "reject": (frozenset({BroadcastStatus.FOR_APPROVAL}), BroadcastStatus.CANCELLED),
    # Its time passed while the bot was down, by more than the grace: an organiser decides.
    "overdue": (frozenset({BroadcastStatus.SCHEDULED}), BroadcastStatus.OVERDUE),
}
# Where a broadcast may begin sending from.
_STARTABLE = (BroadcastStatus.DRAFT, BroadcastStatus.SCHEDULED, BroadcastStatus.OVERDUE)


class BroadcastProblemKind(enum.StrEnum):
    NOT_A_DRAFT = "not_a_draft"  # answered already, from another message
    ONE_ATTACHMENT = "one_attachment"
    NO_LONGER_WAITING = "no_longer_waiting"
    TIME_PASSED = "time_passed"
    TOO_LONG = "too_long"
    OWN_BROADCAST = "own_broadcast"  # an organiser cannot approve their own


class BroadcastError(ValueError):
    """A broadcast that cannot be made or changed as asked; `kind` says why and the templates
    word it (messages/cli_broadcast_refused.txt, broadcast_no_longer_waiting.html)."""

    def __init__(self, kind: BroadcastProblemKind) -> None:
        super().__init__(kind.value)
        self.kind = kind


class TextTooLong(BroadcastError):
    """Over Telegram's limit: `length` and `limit` in UTF-16 units, as Telegram counts."""

    def __init__(self, length: int, limit: int) -> None:
        super().__init__(BroadcastProblemKind.TOO_LONG)
        self.length = length
        self.limit = limit


class TimeInPast(BroadcastError):
    def __init__(self) -> None:
        super().__init__(BroadcastProblemKind.TIME_PASSED)


# ------------------------------------------------------------------ text


def length_limit(*, media_kind: MediaKind | str | None) -> int:
    return MAX_CAPTION_LENGTH if media_kind else MAX_TEXT_LENGTH


def check_length(html_text: str, *, media_kind: MediaKind | str | None) -> None:
    """Raises TelegramHtmlError or TextTooLong if Telegram would refuse the whole message (text or caption)."""
    limit = length_limit(media_kind=media_kind)
    length = telegram_html.visible_length(html_text)
    if length > limit:
        raise TextTooLong(length, limit)


# ------------------------------------------------------------------ creating


async def begin_sending(session: AsyncSession, broadcast: Broadcast, *, now: dt.datetime) -> bool:
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
        broadcast.recipients = await create_deliveries(session, broadcast_id=broadcast.id,
                                                       chat_rows=everyone_on_list(broadcast.list_id))
    broadcast.status = BroadcastStatus.SENDING.value
    broadcast.started_at = now
    return True


async def create_broadcast(
    session: AsyncSession,
    *,
    list_id: int,
    text: str | LocalisedText,
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
    urgent: bool = False,
    versions: Mapping[str, str] | None = None,
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
    - `urgent`: rings even in the recipients' quiet hours.
    - `versions`: the same text in other languages (language -> Telegram HTML); a recipient whose
      chat speaks one of them gets it instead (`versions.py`). Checked like `text`. A
      `LocalisedText` as `text` brings its versions (and their buttons) with it.
    - `origin_key`: at most one broadcast per key, ever. If one exists already this returns
      **None** (and raises nothing; the caller's transaction stays usable).

    At most one of `photo_file_id` and `document_file_id`; `text` is then the caption.
    Raises TelegramHtmlError if Telegram could not parse the text, TextTooLong if it alone is over
    Telegram's limit. The caller must wake the
    engine (`Broadcaster.wake()`) after committing.
    """
    if photo_file_id and document_file_id:
        raise BroadcastError(BroadcastProblemKind.ONE_ATTACHMENT)
    localised = as_localised(text)
    text, versions, version_buttons = localised.original, {**localised.versions, **(versions or {})}, localised.buttons
    media_kind = MediaKind.PHOTO if photo_file_id else MediaKind.DOCUMENT if document_file_id else None
    if check_text:
        for each in (text, *versions.values()):
            check_length(each, media_kind=media_kind)
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
        urgent=urgent,
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
    if versions:
        # Before any delivery is queued: queueing stamps each with the version its chat gets.
        await add_versions(session, broadcast_id=broadcast.id, versions=versions, buttons=version_buttons)
    if recipient_chat_rows is not None:
        broadcast.recipients = await create_deliveries(session, broadcast_id=broadcast.id,
                                                       chat_rows=recipient_chat_rows)
    if broadcast.state is BroadcastStatus.SENDING:
        await begin_sending(session, broadcast, now=now)
    await session.flush()
    return broadcast


# ------------------------------------------------------------------ status changes


async def send_broadcast_now(session: AsyncSession, *, broadcast_id: int, now: dt.datetime) -> Broadcast:
    """A draft (or a scheduled or overdue broadcast) starts sending now."""
    broadcast = await get_broadcast(session, broadcast_id=broadcast_id)
    if broadcast is None or broadcast.state not in _STARTABLE:
        raise BroadcastError(BroadcastProblemKind.NO_LONGER_WAITING)
    if not await begin_sending(session, broadcast, now=now):
        raise BroadcastError(BroadcastProblemKind.NO_LONGER_WAITING)
    await session.flush()
    return broadcast


async def schedule_broadcast(session: AsyncSession, *, broadcast_id: int, send_at: dt.datetime,
                             now: dt.datetime) -> Broadcast:
    if send_at <= now:
        raise TimeInPast()
    broadcast = await get_broadcast(session, broadcast_id=broadcast_id)
    if broadcast is None or broadcast.state not in (BroadcastStatus.DRAFT, BroadcastStatus.SCHEDULED):
        raise BroadcastError(BroadcastProblemKind.NO_LONGER_WAITING)
    broadcast.status = BroadcastStatus.SCHEDULED.value
    broadcast.send_at = send_at
    await session.flush()
    return broadcast


async def change_broadcast(session: AsyncSession, *, broadcast_id: int, action: str,
                           now: dt.datetime | None = None) -> bool:
    """Applies an action of `_TRANSITIONS` ("pause", "resume", "cancel", "submit", "reject",
    "overdue"); False if the broadcast's status does not allow it."""
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


@dataclasses.dataclass(frozen=True)
class DueBroadcasts:
    started: list[int]  # began sending
    overdue: list[int]  # their time passed too long ago: now waiting for an organiser


async def start_due_broadcasts(session: AsyncSession, *, now: dt.datetime,
                               overdue_after: dt.timedelta | None = None) -> DueBroadcasts:
    """Scheduled broadcasts whose time has come begin sending; those whose time passed more than
    `overdue_after` ago (the bot was not running) become OVERDUE instead, since an alert about
    this morning can be wrong by the afternoon."""
    due = list(await session.scalars(
        select(Broadcast).where(Broadcast.status == BroadcastStatus.SCHEDULED.value, Broadcast.send_at <= now)
        .order_by(Broadcast.send_at, Broadcast.id)
    ))
    started, overdue = [], []
    for broadcast in due:
        if overdue_after is not None and broadcast.send_at < now - overdue_after:
            if await change_broadcast(session, broadcast_id=broadcast.id, action="overdue"):
                overdue.append(broadcast.id)
        elif await begin_sending(session, broadcast, now=now):
            started.append(broadcast.id)
    await session.flush()
    return DueBroadcasts(started, overdue)


# ------------------------------------------------------------------ the engine's changes


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
    await add_to_counters(session, broadcast_id, {DeliveryStatus.FAILED: unsent.rowcount or 0})
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


async def sending_broadcast_ids(session: AsyncSession) -> list[int]:
    result = await session.scalars(
        select(Broadcast.id).where(Broadcast.status == BroadcastStatus.SENDING.value).order_by(Broadcast.id)
    )
    return list(result)


async def next_scheduled_time(session: AsyncSession) -> dt.datetime | None:
    return await session.scalar(
        select(func.min(Broadcast.send_at)).where(Broadcast.status == BroadcastStatus.SCHEDULED.value)
    )
