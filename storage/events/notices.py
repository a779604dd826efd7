"""Changes people must hear about: a date moved or cancelled, told to everyone who was reminded
of it or said they would come, in the transaction that makes the change."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from zoneinfo import ZoneInfo

from sqlalchemy import Select, select, union, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.broadcasts.status import check_length
from storage.broadcasts.tables import Broadcast, Delivery, DeliveryStatus
from storage.broadcasts.versions import LocalisedText, as_localised
from storage.events.catalogue import get_event_date
from storage.events.offers import follow_date_change
from storage.events.problems import EventProblemKind, InvalidEventError, NoticeNotComposable
from storage.events.reminders import compose_failure, create_event_broadcast, plan_reminders
from storage.events.tables import (
    DateStatus,
    Event,
    EventDate,
    Reminder,
    ReminderStatus,
    Rsvp,
    RsvpStatus,
    reminder_origin_key,
)


def answered_chats(event_date_id: int) -> Select:
    """chats.id of those who said they would come, or are waiting for a place."""
    return select(Rsvp.chat_id).where(
        Rsvp.event_date_id == event_date_id,
        Rsvp.status.in_([RsvpStatus.GOING.value, RsvpStatus.WAITING.value]),
    )


async def concerned_chats(session: AsyncSession, *, event_date_id: int) -> Select:
    """chats.id of everyone who was reminded of a date (a delivery of one of its reminders'
    broadcasts), or said they would come: those who must hear that it moved or is off."""
    sent_keys = [reminder_origin_key(rid) for rid in await session.scalars(
        select(Reminder.id).where(Reminder.event_date_id == event_date_id,
                                  Reminder.status == ReminderStatus.SENT.value))]
    reminded = (select(Delivery.chat_id)
                .join(Broadcast, Broadcast.id == Delivery.broadcast_id)
                .where(Broadcast.origin_key.in_(sent_keys),
                       Delivery.status.not_in([DeliveryStatus.SKIPPED.value, DeliveryStatus.BLOCKED.value,
                                               DeliveryStatus.GONE.value])))
    return union(reminded, answered_chats(event_date_id))


@dataclasses.dataclass(frozen=True)
class DateChange:
    event: Event
    date: EventDate
    old_starts_at: dt.datetime
    told: bool  # whether a notice was created for those concerned


async def move_event_date(session: AsyncSession, *, event_date_id: int, starts_at: dt.datetime,
                          ends_at: dt.datetime, now: dt.datetime, tz: ZoneInfo,
                          compose: Callable[[DateChange], str | LocalisedText]) -> DateChange:
    """A date's time changes: unsent reminders are planned again from the new time, sent ones
    stay sent, and everyone who was reminded or is going is told the time changed."""
    found = await get_event_date(session, event_date_id=event_date_id)
    if found is None:
        raise InvalidEventError(EventProblemKind.NO_SUCH_DATE)
    event, event_date = found
    if event_date.status == DateStatus.CANCELLED.value:
        raise InvalidEventError(EventProblemKind.DATE_CANCELLED)
    if ends_at <= starts_at:
        raise InvalidEventError(EventProblemKind.ENDS_BEFORE_START)
    old = event_date.starts_at
    recipients = await concerned_chats(session, event_date_id=event_date_id)
    event_date.starts_at, event_date.ends_at = starts_at, ends_at
    event_date.status = DateStatus.CHANGED.value
    event_date.sequence += 1
    await session.flush()
    await plan_reminders(session, event_id=event.id, now=now, tz=tz)
    await follow_date_change(session, event_date=event_date, now=now)
    change = DateChange(event, event_date, old, told=True)
    await create_event_broadcast(session, list_id=event.list_id, text=_compose_notice(compose, change),
                                 origin_key=f"event-moved:{event_date.id}:{event_date.sequence}",
                                 recipients=recipients, now=now)
    return change


async def cancel_event_date(session: AsyncSession, *, event_date_id: int, now: dt.datetime,
                            compose: Callable[[DateChange], str | LocalisedText]) -> DateChange | None:
    """Cancels a date: its unsent reminders stop, and everyone who was reminded or said they
    would come is told. Cancelling twice tells nobody twice. None if there is no such date."""
    found = await get_event_date(session, event_date_id=event_date_id)
    if found is None:
        return None
    event, event_date = found
    if event_date.status == DateStatus.CANCELLED.value:
        return DateChange(event, event_date, event_date.starts_at, told=False)
    recipients = await concerned_chats(session, event_date_id=event_date_id)
    event_date.status = DateStatus.CANCELLED.value
    event_date.sequence += 1
    await session.execute(
        update(Reminder)
        .where(Reminder.event_date_id == event_date_id, Reminder.status == ReminderStatus.PENDING.value)
        .values(status=ReminderStatus.CANCELLED.value, settled_at=now)
        .execution_options(synchronize_session=False)
    )
    await session.flush()
    await follow_date_change(session, event_date=event_date, now=now)
    change = DateChange(event, event_date, event_date.starts_at, told=True)
    await create_event_broadcast(session, list_id=event.list_id, text=_compose_notice(compose, change),
                                 origin_key=f"event-cancelled:{event_date.id}", recipients=recipients, now=now)
    return change


def _compose_notice(compose: Callable[[DateChange], str | LocalisedText],
                    change: DateChange) -> str | LocalisedText:
    """The notice's text, checked against Telegram's limit before anything is handed on. Raises
    NoticeNotComposable (the caller's transaction then rolls back: the change is not made, so
    nobody misses hearing of it) with the reason and the over-long fields."""
    try:
        text = compose(change)
        for each in as_localised(text).texts:  # every language's version
            check_length(each, media_kind=None)
    except Exception as problem:  # whatever the row makes the composer raise, the answer is the same
        raise NoticeNotComposable(compose_failure(problem, change.event)) from problem
    return text
