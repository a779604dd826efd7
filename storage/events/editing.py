"""Changing one field of a published event, as /editevent does: each field read from what the
organiser typed (or the map pin they sent), checked, stored, and its consequences carried out
(reminders planned again, those concerned told of a new time, the waiting list let in)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from storage.broadcasts.versions import LocalisedText
from storage.dates import ReminderRuleProblem, parse_moment, parse_reminder_rules
from storage.events import catalogue, drafts, notices, reminders, rsvps
from storage.events.notices import DateChange
from storage.events.offers import Offering
from storage.events.problems import EventProblemKind, InvalidEventError
from storage.events.rsvps import PromotionComposer
from storage.events.tables import EventDate

EDITABLE = ("time", "title", "venue_name", "address", "meeting_point", "nearest_station", "map", "details",
            "accessibility", "refreshments", "cost", "contact", "capacity", "booked_elsewhere", "reminders")
OPTIONAL_TEXT = ("meeting_point", "nearest_station", "details", "accessibility", "refreshments", "cost", "contact")
SKIP_WORDS = {"skip", "-", "none", "no", "n/a"}

# The notice of a new time, composed by the bot (as the notice to each chat let in from a
# waiting list is: PromotionComposer).
MovedNotice = Callable[[DateChange], str | LocalisedText]


def skipped(text: str) -> bool:
    """An optional answer left out ('skip', '-', 'none' ...)."""
    return text.lower() in SKIP_WORDS


def map_pin(text: str, *, location: tuple[float, float] | None) -> tuple[float | None, float | None]:
    """A pin sent as a location, typed as 'latitude, longitude', or none (skipped)."""
    if location is not None:
        return location
    if skipped(text):
        return None, None
    return drafts.parse_map_pin(text)


@dataclasses.dataclass(frozen=True)
class FieldEdited:
    event_id: int
    told: bool  # a notice of the new time is queued for those concerned
    promoted: list[int]  # chats let in from a waiting list or offered a place; their notices are queued too
    starts_at: dt.datetime | None = None  # the new start, when the time was changed (echoed in full)


async def current_value(session: AsyncSession, *, event_date_id: int, field: str) -> object:
    """What the field holds now, to show beside the question."""
    event, event_date = await catalogue.get_event_date(session, event_date_id=event_date_id)
    if field == "reminders":
        rules = await catalogue.rules_of(session, event_id=event.id)
        return "; ".join(rule.describe() for rule in rules) or "none"
    if field == "capacity":
        return "no limit" if event.capacity is None else event.capacity
    if field == "booked_elsewhere":
        return event_date.booked_elsewhere
    return getattr(event, field, "")


async def edit_field(session: AsyncSession, *, event_date_id: int, field: str, text: str,
                     location: tuple[float, float] | None, now: dt.datetime, tz: ZoneInfo,
                     compose_moved: MovedNotice, compose_promoted: PromotionComposer,
                     offering: Offering | None = None) -> FieldEdited:
    """Sets `field` of the event (or of its date, for the time and places booked elsewhere) from
    `text`. Raises DateProblem or InvalidEventError (NoticeNotComposable among them) when it
    cannot be done; the caller's transaction then rolls back."""
    event, event_date = await catalogue.get_event_date(session, event_date_id=event_date_id)
    told, promoted, starts_at = False, [], None
    if field == "time":
        told, starts_at = await _move(session, event_date, text, now=now, tz=tz, compose_moved=compose_moved)
    elif field == "reminders":
        try:
            rules = parse_reminder_rules(text)
        except ReminderRuleProblem as problem:
            raise InvalidEventError(EventProblemKind.REMINDER_RULE, rule=problem.rule) from None
        await reminders.replace_reminder_rules(session, event_id=event.id, rules=rules, now=now, tz=tz)
    elif field == "capacity":
        capacity = drafts.parse_capacity(text)
        await catalogue.update_event(session, event_id=event.id, changes={"capacity": capacity})
        for _date, chats in await rsvps.promote_waiting_everywhere(session, event_id=event.id, now=now,
                                                                    compose_promoted=compose_promoted,
                                                                    offering=offering):
            promoted.extend(chats)
    elif field == "booked_elsewhere":
        promoted = await rsvps.set_booked_elsewhere(session, event_date_id=event_date.id,
                                                     places=drafts.parse_places_booked(text), now=now,
                                                     compose_promoted=compose_promoted, offering=offering)
    elif field == "map":
        latitude, longitude = map_pin(text, location=location)
        await catalogue.update_event(session, event_id=event.id, changes={"latitude": latitude, "longitude": longitude})
    elif field == "address":
        address, postcode = drafts.split_postcode(text)
        await catalogue.update_event(session, event_id=event.id, changes={"address": address, "postcode": postcode})
    elif field in EDITABLE:
        value = "" if field in OPTIONAL_TEXT and skipped(text) else text
        await catalogue.update_event(session, event_id=event.id, changes={field: value})
    else:
        raise InvalidEventError(EventProblemKind.CANNOT_CHANGE, fields=[field])
    return FieldEdited(event.id, told, list(promoted), starts_at)


async def _move(session: AsyncSession, event_date: EventDate, text: str, *, now: dt.datetime, tz: ZoneInfo,
                compose_moved: MovedNotice) -> tuple[bool, dt.datetime]:
    """The date starts at the time typed and lasts as long as before: whether people are told,
    and the new start."""
    starts_at = parse_moment(text, now=now, tz=tz)
    change = await notices.move_event_date(
        session, event_date_id=event_date.id, starts_at=starts_at,
        ends_at=starts_at + (event_date.ends_at - event_date.starts_at), now=now, tz=tz, compose=compose_moved)
    return change.told, starts_at
