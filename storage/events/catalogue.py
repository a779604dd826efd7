"""The events themselves: storing a checked draft with its dates and rules, changing an event's
own fields, adding a date, and reading events and their dates back."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.dates import ReminderRule
from storage.events.drafts import DateDraft, EventDraft, check_draft
from storage.events.problems import EventProblemKind, InvalidEventError
from storage.events.reminders import plan_reminders
from storage.events.tables import Event, EventDate, ReminderRuleRow


async def create_event(session: AsyncSession, *, draft: EventDraft, now: dt.datetime, tz: ZoneInfo) -> Event:
    """Stores the event, its dates and rules, and plans every date's reminders."""
    check_draft(draft)
    dates = sorted(draft.dates, key=lambda item: item.starts_at)
    if draft.key is None:
        key = await _unique_key(session, _key_stem(draft.title, dates[0].starts_at, tz))
    elif await get_event_by_key(session, key=draft.key) is not None:
        raise InvalidEventError(EventProblemKind.KEY_EXISTS, key=draft.key)
    else:
        key = draft.key
    event = Event(key=key, **event_fields(draft))
    session.add(event)
    await session.flush()
    for rule in draft.rules:
        session.add(ReminderRuleRow.from_rule(rule, event_id=event.id))
    for item in dates:
        session.add(EventDate(event_id=event.id, starts_at=item.starts_at, ends_at=item.ends_at,
                              booked_elsewhere=item.booked_elsewhere))
    await session.flush()
    await plan_reminders(session, event_id=event.id, now=now, tz=tz)
    return event


def event_fields(draft: EventDraft) -> dict[str, object]:
    return {
        "list_id": draft.list_id, "title": draft.title.strip(), "venue_name": draft.venue_name.strip(),
        "address": draft.address.strip(), "postcode": draft.postcode, "meeting_point": draft.meeting_point.strip(),
        "nearest_station": draft.nearest_station.strip(), "latitude": draft.latitude, "longitude": draft.longitude,
        "details": draft.details.strip(), "contact": draft.contact.strip(), "capacity": draft.capacity,
        "accessibility": draft.accessibility.strip(), "refreshments": draft.refreshments.strip(),
        "cost": draft.cost.strip(),
    }


async def update_event(session: AsyncSession, *, event_id: int, changes: dict[str, object]) -> Event:
    """Changes the event's own fields (not its dates or rules), checked as a whole."""
    event = await session.get(Event, event_id)
    if event is None:
        raise InvalidEventError(EventProblemKind.NO_SUCH_EVENT)
    allowed = set(event_fields(_blank_draft()))
    unknown = set(changes) - allowed
    if unknown:
        raise InvalidEventError(EventProblemKind.CANNOT_CHANGE, fields=sorted(unknown))
    draft = await draft_of(session, event=event)
    for name, value in changes.items():
        setattr(draft, name, value)
    check_draft(draft)
    for name, value in event_fields(draft).items():
        setattr(event, name, value)
    await session.flush()
    return event


def _blank_draft() -> EventDraft:
    return EventDraft(list_id=0, title="", venue_name="", address="", postcode="", dates=[], rules=[])


async def draft_of(session: AsyncSession, *, event: Event) -> EventDraft:
    """The event as a draft (for checking changes, and for export)."""
    dates = await dates_of(session, event_id=event.id)
    rules = await rules_of(session, event_id=event.id)
    return EventDraft(
        list_id=event.list_id, title=event.title, venue_name=event.venue_name, address=event.address,
        postcode=event.postcode, meeting_point=event.meeting_point, nearest_station=event.nearest_station,
        latitude=event.latitude, longitude=event.longitude, details=event.details, contact=event.contact,
        accessibility=event.accessibility, refreshments=event.refreshments, cost=event.cost,
        capacity=event.capacity, key=event.key, rules=rules,
        dates=[DateDraft(item.starts_at, item.ends_at, item.booked_elsewhere) for item in dates],
    )


async def add_event_date(session: AsyncSession, *, event_id: int, date: DateDraft, now: dt.datetime,
                         tz: ZoneInfo) -> EventDate:
    if date.ends_at <= date.starts_at:
        raise InvalidEventError(EventProblemKind.ENDS_BEFORE_START)
    event_date = EventDate(event_id=event_id, starts_at=date.starts_at, ends_at=date.ends_at,
                           booked_elsewhere=date.booked_elsewhere)
    session.add(event_date)
    await session.flush()
    await plan_reminders(session, event_id=event_id, now=now, tz=tz)
    return event_date


def _key_stem(title: str, first_start: dt.datetime, tz: ZoneInfo) -> str:
    words = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:40].strip("-") or "event"
    return f"{words}-{first_start.astimezone(tz):%Y-%m-%d}"


async def _unique_key(session: AsyncSession, stem: str) -> str:
    taken = set(await session.scalars(select(Event.key).where(Event.key.like(f"{stem}%"))))
    key, number = stem, 2
    while key in taken:
        key, number = f"{stem}-{number}", number + 1
    return key


async def get_event_by_key(session: AsyncSession, *, key: str) -> Event | None:
    return await session.scalar(select(Event).where(Event.key == key))


async def get_event_date(session: AsyncSession, *, event_date_id: int) -> tuple[Event, EventDate] | None:
    row = (await session.execute(
        select(Event, EventDate).join(EventDate, EventDate.event_id == Event.id).where(EventDate.id == event_date_id)
    )).first()
    return (row[0], row[1]) if row else None


async def dates_of(session: AsyncSession, *, event_id: int) -> list[EventDate]:
    query = select(EventDate).where(EventDate.event_id == event_id).order_by(EventDate.starts_at)
    return list(await session.scalars(query))


async def rules_of(session: AsyncSession, *, event_id: int) -> list[ReminderRule]:
    query = (select(ReminderRuleRow)
             .where(ReminderRuleRow.event_id == event_id, ReminderRuleRow.active.is_(True))
             .order_by(ReminderRuleRow.id))
    return [row.as_rule() for row in await session.scalars(query)]


async def all_events(session: AsyncSession) -> list[Event]:
    return list(await session.scalars(select(Event).order_by(Event.id)))
