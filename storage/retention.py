"""What is kept about a chat, for how long, and erasing it: the retention sweep and /forget.

The rule, as /privacy states it, with `keep_for` the RETENTION_DAYS setting:

- A broadcast's delivery rows (which say that this chat got that list's alert, or a notice
  about it: a report or promotion) are kept for `keep_for` after the broadcast finished (sent,
  cancelled or failed), then reduced to per-broadcast counts in
  `delivery_tallies`. A reminder's rows are kept until its event date is over, if that is later,
  since whoever was reminded must hear if the date moves or is cancelled.
- A place offered from a waiting list (`place_offers`) is kept until its event date is over,
  then dropped, whatever became of it.
- A chat on no list (it left its last one, pressed /stop, blocked the bot, or never joined) is
  erased with everything about it once `keep_for` has passed since the later of that moment
  (`chats.left_at`) and the end of the last event date it answered.
- Every answer to an event date (and any name shared with it) is erased `keep_for` after the date
  ended, for chats still on a list too.

The sweep keeps no state of its own: every step is a query on the database, so running it twice,
in two processes at once, or after a crash does no harm. It works in bounded batches, each its
own transaction, so it never holds long locks on the tables the bot is using.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
from collections.abc import Callable

from sqlalchemy import delete, exists, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.broadcasts.tables import Broadcast, BroadcastStatus, Delivery, DeliveryStatus, DeliveryTally
from storage.db import Database
from storage.events.tables import EventDate, PlaceOffer, Reminder, ReminderStatus, Rsvp, reminder_origin_key
from storage.lists import organisers
from storage.lists.chats import get_chat
from storage.lists.models import Chat, Subscription

DEFAULT_BATCH_SIZE = 500

# A chat being erased takes these deliveries into the counts; a pending or claimed one simply
# goes, as it does with /forget (the engine reconciles the recipient count when it finishes).
_SETTLED = [DeliveryStatus.SENT.value, DeliveryStatus.BLOCKED.value, DeliveryStatus.GONE.value,
            DeliveryStatus.FAILED.value, DeliveryStatus.SKIPPED.value, DeliveryStatus.PAUSED.value]

# Every way a broadcast ends, FAILED included (the engine fails one it cannot put together): the
# deliveries of each are reduced to counts alike, notices to organisers (kind REPORT) as well,
# since each still says which chat heard about that list.
_FINISHED = [status.value for status in BroadcastStatus if status.finished]


@dataclasses.dataclass(frozen=True)
class SweepReport:
    """How many rows one sweep changed: counts only, fit for the log."""

    chats_noted_on_no_list: int
    deliveries_reduced: int
    chats_erased: int
    dates_answers_erased: int = 0
    offers_dropped: int = 0


# ------------------------------------------------------------------ the steps of a sweep


async def note_chats_on_no_list(session: AsyncSession, *, now: dt.datetime, limit: int) -> int:
    """Chats on no list whose leaving nothing recorded (their list was deleted, say) start their
    retention period now. Returns how many."""
    on_a_list = exists().where(Subscription.chat_id == Chat.id)
    chat_ids = list(await session.scalars(
        select(Chat.id).where(Chat.left_at.is_(None), ~on_a_list).order_by(Chat.id).limit(limit)
    ))
    if not chat_ids:
        return 0
    result = await session.execute(
        update(Chat).where(Chat.id.in_(chat_ids), Chat.left_at.is_(None)).values(left_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


async def _reminder_keys_still_needed(session: AsyncSession, *, now: dt.datetime) -> list[str]:
    """Origin keys of sent reminders whose event date is not over: `events.concerned_chats`
    reads their deliveries to tell the reminded that the date moved or was cancelled."""
    reminder_ids = await session.scalars(
        select(Reminder.id).join(EventDate, EventDate.id == Reminder.event_date_id)
        .where(Reminder.status == ReminderStatus.SENT.value, EventDate.ends_at > now)
    )
    return [reminder_origin_key(reminder_id) for reminder_id in reminder_ids]


async def _add_to_tallies(session: AsyncSession, counted: collections.Counter[tuple[int, str]]) -> None:
    for (broadcast_id, status), count in counted.items():
        added = await session.execute(
            update(DeliveryTally)
            .where(DeliveryTally.broadcast_id == broadcast_id, DeliveryTally.status == status)
            .values(count=DeliveryTally.count + count)
            .execution_options(synchronize_session=False)
        )
        if not added.rowcount:
            # Only the process holding the scheduler lease sweeps; if two ever overlap, the
            # second insert fails, its whole batch rolls back, and nothing is counted twice.
            await session.execute(insert(DeliveryTally).values(broadcast_id=broadcast_id, status=status,
                                                               count=count))


async def reduce_old_deliveries(session: AsyncSession, *, now: dt.datetime, keep_for: dt.timedelta,
                                limit: int) -> int:
    """Up to `limit` delivery rows of broadcasts finished more than `keep_for` ago become counts
    per broadcast and status; returns how many rows went."""
    still_needed = await _reminder_keys_still_needed(session, now=now)
    finished_long_ago = select(Broadcast.id).where(
        Broadcast.status.in_(_FINISHED),
        Broadcast.finished_at <= now - keep_for,
        Broadcast.origin_key.is_(None) | Broadcast.origin_key.not_in(still_needed),
    )
    delivery_ids = list(await session.scalars(
        select(Delivery.id).where(Delivery.broadcast_id.in_(finished_long_ago)).order_by(Delivery.id).limit(limit)
    ))
    if not delivery_ids:
        return 0
    # Counted from what the DELETE removed, so a row erased meanwhile by /forget is not counted.
    deleted = await session.execute(
        delete(Delivery).where(Delivery.id.in_(delivery_ids))
        .returning(Delivery.broadcast_id, Delivery.status)
        .execution_options(synchronize_session=False)
    )
    counted = collections.Counter((row[0], row[1]) for row in deleted.all())
    await _add_to_tallies(session, counted)
    return sum(counted.values())


async def erase_old_answers(session: AsyncSession, *, now: dt.datetime, keep_for: dt.timedelta, limit: int) -> int:
    """The answers (going, waiting, can't go, and any name shared) to up to `limit` event dates
    that ended more than `keep_for` ago are erased, whether or not the chats are still on a list:
    once a date is long over, who was going to it is no longer needed. Returns how many dates."""
    dates_ended_long_ago = list(await session.scalars(
        select(EventDate.id).where(EventDate.ends_at <= now - keep_for,
                                   exists().where(Rsvp.event_date_id == EventDate.id))
        .order_by(EventDate.id).limit(limit)))
    if not dates_ended_long_ago:
        return 0
    await session.execute(delete(Rsvp).where(Rsvp.event_date_id.in_(dates_ended_long_ago))
                          .execution_options(synchronize_session=False))
    return len(dates_ended_long_ago)


async def drop_offers_of_past_dates(session: AsyncSession, *, now: dt.datetime, limit: int) -> int:
    """Up to `limit` place offers of event dates that are over: nothing needs them any more."""
    offer_ids = list(await session.scalars(
        select(PlaceOffer.id).join(EventDate, EventDate.id == PlaceOffer.event_date_id)
        .where(EventDate.ends_at <= now).order_by(PlaceOffer.id).limit(limit)
    ))
    if not offer_ids:
        return 0
    result = await session.execute(delete(PlaceOffer).where(PlaceOffer.id.in_(offer_ids))
                                   .execution_options(synchronize_session=False))
    return result.rowcount or 0


def _answered_a_date_ending_after(moment: dt.datetime):
    return exists().where(Rsvp.chat_id == Chat.id, EventDate.id == Rsvp.event_date_id, EventDate.ends_at > moment)


async def erase_departed_chats(session: AsyncSession, *, now: dt.datetime, keep_for: dt.timedelta,
                               limit: int) -> int:
    """Up to `limit` chats that have been on no list, with every answered event date over, for
    `keep_for` are erased with every row about them; returns how many."""
    cutoff = now - keep_for
    on_a_list = exists().where(Subscription.chat_id == Chat.id)
    departed = (
        select(Chat.id)
        .where(Chat.left_at.is_not(None), Chat.left_at <= cutoff, ~on_a_list, ~_answered_a_date_ending_after(cutoff))
        .order_by(Chat.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        # A chat someone is joining a list with right now is locked by that insert: leave it be.
        departed = departed.with_for_update(skip_locked=True)
    chat_ids = list(await session.scalars(departed))
    if not chat_ids:
        return 0
    settled = await session.execute(
        select(Delivery.broadcast_id, Delivery.status, func.count())
        .where(Delivery.chat_id.in_(chat_ids), Delivery.status.in_(_SETTLED))
        .group_by(Delivery.broadcast_id, Delivery.status)
    )
    await _add_to_tallies(session, collections.Counter({(row[0], row[1]): row[2] for row in settled.all()}))
    return await erase_chat_rows(session, chat_ids=chat_ids)


def _always() -> bool:
    return True


async def _in_batches(db: Database, step, *, batch_size: int, keep_going: Callable[[], bool]) -> int:
    """Runs `step(session)` in a transaction of its own until a batch comes back short (or
    `keep_going` says stop: the next sweep carries on where this one left off)."""
    total = 0
    while keep_going():
        async with db.transaction() as session:
            done = await step(session)
        total += done
        if done < batch_size:
            break
    return total


async def sweep(db: Database, *, now: dt.datetime, keep_for: dt.timedelta, batch_size: int = DEFAULT_BATCH_SIZE,
                keep_going: Callable[[], bool] = _always) -> SweepReport:
    """Applies the retention rule once, in batches of at most `batch_size` rows; `keep_going`
    is asked before each batch (a process shutting down stops between transactions)."""
    noted = await _in_batches(db, lambda session: note_chats_on_no_list(session, now=now, limit=batch_size),
                              batch_size=batch_size, keep_going=keep_going)
    reduced = await _in_batches(
        db, lambda session: reduce_old_deliveries(session, now=now, keep_for=keep_for, limit=batch_size),
        batch_size=batch_size, keep_going=keep_going)
    erased = await _in_batches(
        db, lambda session: erase_departed_chats(session, now=now, keep_for=keep_for, limit=batch_size),
        batch_size=batch_size, keep_going=keep_going)
    answers = await _in_batches(
        db, lambda session: erase_old_answers(session, now=now, keep_for=keep_for, limit=batch_size),
        batch_size=batch_size, keep_going=keep_going)
    dropped = await _in_batches(db, lambda session: drop_offers_of_past_dates(session, now=now, limit=batch_size),
                                batch_size=batch_size, keep_going=keep_going)
    return SweepReport(noted, reduced, erased, answers, dropped)


# ------------------------------------------------------------------ erasure, and /forget


def _tables_naming_a_chat() -> list[tuple[object, object]]:
    """(table, column) of every table with a foreign key to chats.id, from the metadata, so a
    table added later is erased without anyone remembering to list it here."""
    chats_id = Chat.__table__.c.id
    found = []
    for table in reversed(Chat.metadata.sorted_tables):
        for foreign_key in table.foreign_keys:
            if foreign_key.column is chats_id:
                found.append((table, foreign_key.parent))
    return found


async def erase_chat_rows(session: AsyncSession, *, chat_ids: list[int]) -> int:
    """Deletes the chats (by row id) and every row in any table that refers to them; returns how
    many chats went.

    Explicit deletes as well as ON DELETE CASCADE, so erasure does not rest on a backend's
    foreign-key enforcement being switched on.
    """
    if not chat_ids:
        return 0
    for table, column in _tables_naming_a_chat():
        await session.execute(delete(table).where(column.in_(chat_ids)))
    result = await session.execute(delete(Chat).where(Chat.id.in_(chat_ids)).execution_options(
        synchronize_session=False))
    return result.rowcount or 0


async def erase_chat(session: AsyncSession, *, telegram_id: int) -> bool:
    """Deletes the chat and everything that refers to it (subscriptions, deliveries, answers...).

    Nothing about the chat is kept, not even a note that it asked to be forgotten.
    """
    chat = await get_chat(session, telegram_id=telegram_id)
    if chat is None:
        return False
    chat_id = chat.id
    session.expunge(chat)
    await erase_chat_rows(session, chat_ids=[chat_id])
    return True


@dataclasses.dataclass(frozen=True)
class Forgotten:
    chat_erased: bool
    # They were an organiser added in Telegram, and are not any more.
    organiser_removed: bool
    # They are named in ORGANISER_IDS, which only the operator can change: still an organiser.
    still_configured: bool

    @property
    def anything(self) -> bool:
        return self.chat_erased or self.organiser_removed or self.still_configured


async def forget(session: AsyncSession, *, telegram_id: int, person_id: int | None,
                 configured: frozenset[int]) -> Forgotten:
    """Erases the chat and every row about it and, when `person_id` is given (a private chat:
    the person themselves), their organiser side too: they stop being an organiser, and the
    rows naming them as who added an organiser or created a broadcast no longer do."""
    chat_erased = await erase_chat(session, telegram_id=telegram_id)
    if person_id is None:
        return Forgotten(chat_erased, organiser_removed=False, still_configured=False)
    organiser_removed = await organisers.forget_organiser(session, user_id=person_id)
    return Forgotten(chat_erased, organiser_removed, still_configured=person_id in configured)
