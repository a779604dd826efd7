"""Events, their dates, RSVPs and reminders: plain Python over the database, no Telegram.

An event (the demo, the encounter groups) is entered once and happens on one or more dates;
people answer per date, and reminders are planned per date from the event's rules. Every time is
aware UTC here; the campaign's time zone is only used to plan 'the day before at 19:00'.

A reminder is a row with a status: PENDING until its moment, then SENT (its broadcast created in
the same transaction, under a unique origin key), MISSED (the event had started by the time the
bot could send it), SKIPPED (its moment had already passed when it was planned) or CANCELLED.
Nothing else decides whether a reminder goes out, so a scheduler may run the firing as often as
it likes: only a PENDING row that is due can become SENT, and only once.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import re
from collections.abc import Callable, Sequence
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    Select,
    String,
    Text,
    UniqueConstraint,
    and_,
    func,
    or_,
    select,
    union,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel

from storage.broadcasts.status import TextTooLong, check_length, create_broadcast
from storage.broadcasts.tables import Broadcast, Delivery, DeliveryStatus
from storage.dates import Audience, ReminderRule
from storage.db import UTCDateTime, utcnow
from storage.lists.chats import CHAT_DATA_SECTIONS, get_chat, record_chat
from storage.lists.models import Chat, ChatKind, MailingList, Subscription

POSTCODE = re.compile(r"\b([A-Z]{1,2}[0-9][A-Z0-9]?)\s*([0-9][A-Z]{2})\b", re.IGNORECASE)
# The longest value of each text field, counted in UTF-16 code units as Telegram counts a message
# (an emoji is two), so that a card, reminder or notice with every field at its longest still fits
# in one message of 4096 (tests/test_bad_rows.py renders them all at these bounds). The columns
# are as wide in characters; a value within its bound in UTF-16 units never has more characters.
MAX_KEY_LENGTH = 60
MAX_TITLE_LENGTH = 120
MAX_VENUE_LENGTH = 200
MAX_ADDRESS_LENGTH = 300
MAX_POSTCODE_LENGTH = 10
MAX_MEETING_POINT_LENGTH = 200
MAX_STATION_LENGTH = 100
MAX_DETAILS_LENGTH = 2000
MAX_CONTACT_LENGTH = 200
# Each bounded field of an event: (attribute, the name people know it by, the bound).
TEXT_FIELDS: tuple[tuple[str, str, int], ...] = (
    ("key", "key", MAX_KEY_LENGTH),
    ("title", "title", MAX_TITLE_LENGTH),
    ("venue_name", "venue", MAX_VENUE_LENGTH),
    ("address", "address", MAX_ADDRESS_LENGTH),
    ("postcode", "postcode", MAX_POSTCODE_LENGTH),
    ("meeting_point", "meeting point", MAX_MEETING_POINT_LENGTH),
    ("nearest_station", "nearest station", MAX_STATION_LENGTH),
    ("details", "details", MAX_DETAILS_LENGTH),
    ("contact", "contact", MAX_CONTACT_LENGTH),
)
FIELD_LIMITS = {attribute: limit for attribute, _name, limit in TEXT_FIELDS}


class DateStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    CHANGED = "changed"  # its time was changed after it was published
    CANCELLED = "cancelled"


class RsvpStatus(enum.StrEnum):
    GOING = "going"
    WAITING = "waiting"  # said 'Going' when it was fully booked
    NOT_GOING = "not_going"


class ReminderStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    MISSED = "missed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"
    FAILED = "failed"  # it could not be composed or handed on, for a reason of its own (kept in `failure`)


MAX_FAILURE_LENGTH = 300


class InvalidEventError(ValueError):
    """An event that cannot be published as given; the message says why."""


class NoticeNotComposable(InvalidEventError):
    """A change people must hear about was refused, changing nothing, because its notice could
    not be composed from the event as stored (an over-long field, most likely); the message says why."""


# ------------------------------------------------------------------ tables


class Event(SQLModel, table=True):
    __tablename__ = "events"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(sa_column=Column(String(MAX_KEY_LENGTH), unique=True, nullable=False))
    list_id: int = Field(sa_column=Column(ForeignKey("mailing_lists.id", ondelete="CASCADE"), nullable=False,
                                          index=True))
    title: str = Field(sa_column=Column(String(MAX_TITLE_LENGTH), nullable=False))
    venue_name: str = Field(sa_column=Column(String(MAX_VENUE_LENGTH), nullable=False))
    address: str = Field(sa_column=Column(String(MAX_ADDRESS_LENGTH), nullable=False))
    postcode: str = Field(sa_column=Column(String(MAX_POSTCODE_LENGTH), nullable=False))
    meeting_point: str = Field(default="", sa_column=Column(String(MAX_MEETING_POINT_LENGTH), nullable=False,
                                                            server_default=""))
    nearest_station: str = Field(default="", sa_column=Column(String(MAX_STATION_LENGTH), nullable=False,
                                                              server_default=""))
    latitude: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    longitude: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    details: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    contact: str = Field(default="", sa_column=Column(String(MAX_CONTACT_LENGTH), nullable=False,
                                                      server_default=""))
    capacity: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))

    @property
    def full_address(self) -> str:
        return f"{self.address} {self.postcode}".strip()

    @property
    def has_map_pin(self) -> bool:
        return self.latitude is not None and self.longitude is not None


class EventDate(SQLModel, table=True):
    __tablename__ = "event_dates"

    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(sa_column=Column(ForeignKey("events.id", ondelete="CASCADE"), nullable=False, index=True))
    starts_at: dt.datetime = Field(sa_column=Column(UTCDateTime, nullable=False, index=True))
    ends_at: dt.datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    status: str = Field(default=DateStatus.SCHEDULED.value, sa_column=Column(String(16), nullable=False))
    # Places taken outside the bot (by phone, on paper); they count against the capacity.
    booked_elsewhere: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    # Bumped by every change people must hear about; the calendar file's SEQUENCE.
    sequence: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    # Bumped first thing by every RSVP, so answers to one date queue behind each other.
    rsvp_revision: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))


class ReminderRuleRow(SQLModel, table=True):
    """One of an event's reminder rules. Never deleted while the event lives (a dropped rule
    is made inactive), so a sent reminder keeps its record and is never sent again."""

    __tablename__ = "reminder_rules"

    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(sa_column=Column(ForeignKey("events.id", ondelete="CASCADE"), nullable=False, index=True))
    audience: str = Field(sa_column=Column(String(8), nullable=False))
    days_before: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    at_local: str | None = Field(default=None, sa_column=Column(String(5), nullable=True))
    minutes_before: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    active: bool = Field(default=True, nullable=False)

    def as_rule(self) -> ReminderRule:
        at = dt.time.fromisoformat(self.at_local) if self.at_local else None
        return ReminderRule(Audience(self.audience), days_before=self.days_before, at=at,
                            minutes_before=self.minutes_before)

    @classmethod
    def from_rule(cls, rule: ReminderRule, *, event_id: int) -> ReminderRuleRow:
        return cls(event_id=event_id, audience=rule.audience.value, days_before=rule.days_before,
                   at_local=rule.at.strftime("%H:%M") if rule.at else None, minutes_before=rule.minutes_before)


class Reminder(SQLModel, table=True):
    __tablename__ = "reminders"
    __table_args__ = (
        UniqueConstraint("event_date_id", "rule_id", name="uq_reminders_event_date_rule"),
        Index("ix_reminders_status_due_at", "status", "due_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    event_date_id: int = Field(sa_column=Column(ForeignKey("event_dates.id", ondelete="CASCADE"), nullable=False))
    rule_id: int = Field(sa_column=Column(ForeignKey("reminder_rules.id", ondelete="CASCADE"), nullable=False))
    due_at: dt.datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    status: str = Field(default=ReminderStatus.PENDING.value, sa_column=Column(String(16), nullable=False))
    settled_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    # Why a FAILED reminder could not go out, for organisers and the log.
    failure: str | None = Field(default=None, sa_column=Column(String(MAX_FAILURE_LENGTH), nullable=True))

    @property
    def origin_key(self) -> str:
        return reminder_origin_key(self.id)


class Rsvp(SQLModel, table=True):
    __tablename__ = "rsvps"

    event_date_id: int = Field(sa_column=Column(ForeignKey("event_dates.id", ondelete="CASCADE"), primary_key=True))
    chat_id: int = Field(sa_column=Column(ForeignKey("chats.id", ondelete="CASCADE"), primary_key=True, index=True))
    status: str = Field(sa_column=Column(String(16), nullable=False))
    answered_at: dt.datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    # Only when the person pressed 'Share my name'; otherwise organisers see counts alone.
    shared_name: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))


def reminder_origin_key(reminder_id: int | None) -> str:
    return f"reminder:{reminder_id}"


# ------------------------------------------------------------------ drafts and validation


@dataclasses.dataclass
class DateDraft:
    starts_at: dt.datetime
    ends_at: dt.datetime
    booked_elsewhere: int = 0


@dataclasses.dataclass
class EventDraft:
    """An event as typed or imported, before it is stored."""

    # Defaults, so that /newevent can fill it in step by step; check_draft refuses it incomplete.
    list_id: int = 0
    title: str = ""
    venue_name: str = ""
    address: str = ""
    postcode: str = ""
    dates: list[DateDraft] = dataclasses.field(default_factory=list)
    rules: list[ReminderRule] = dataclasses.field(default_factory=list)
    meeting_point: str = ""
    nearest_station: str = ""
    latitude: float | None = None
    longitude: float | None = None
    details: str = ""
    contact: str = ""
    capacity: int | None = None
    key: str | None = None


def split_postcode(text: str) -> tuple[str, str]:
    """'35 Powis Square, London W11 2AY' -> ('35 Powis Square, London', 'W11 2AY'); the postcode
    is the last one in the text. Raises InvalidEventError when there is none."""
    matches = list(POSTCODE.finditer(text))
    if not matches:
        raise InvalidEventError("the address needs a postcode, such as W11 2AY")
    last = matches[-1]
    postcode = f"{last[1]} {last[2]}".upper()
    address = (text[:last.start()] + text[last.end():]).strip().rstrip(",").strip()
    return address, postcode


def normalise_postcode(text: str) -> str:
    match = POSTCODE.fullmatch(text.strip())
    if match is None:
        raise InvalidEventError(f"{text.strip()[:20]!r} is not a UK postcode")
    return f"{match[1]} {match[2]}".upper()


_MAP_PIN = re.compile(r"^\s*(-?\d{1,2}(?:\.\d+)?)\s*[,; ]\s*(-?\d{1,3}(?:\.\d+)?)\s*$")
NO_LIMIT_WORDS = {"no limit", "none", "unlimited", "no", "-"}


def parse_map_pin(text: str) -> tuple[float, float]:
    """'51.4939, -0.183' -> (51.4939, -0.183); raises InvalidEventError otherwise."""
    match = _MAP_PIN.match(text)
    if match is None:
        raise InvalidEventError("a map pin is written as latitude, longitude, such as 51.4939, -0.183")
    latitude, longitude = float(match[1]), float(match[2])
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise InvalidEventError("the map pin is off the map")
    return latitude, longitude


MAX_CAPACITY = 1_000_000  # far above any venue; keeps the number inside the database's integer


def parse_capacity(text: str) -> int | None:
    """A number of places, or None for 'no limit'; raises InvalidEventError otherwise."""
    words = text.strip().lower()
    if words in NO_LIMIT_WORDS:
        return None
    # isdecimal, not isdigit: int() refuses '²', which isdigit accepts.
    if not words.isdecimal() or len(words) > 7 or not 1 <= int(words) <= MAX_CAPACITY:
        raise InvalidEventError(f"the number of places is a whole number from 1 to {MAX_CAPACITY:,} (or 'no limit')")
    return int(words)


def parse_places_booked(text: str) -> int:
    """Places of a date already taken by bookings made elsewhere (0 or more); raises InvalidEventError otherwise."""
    words = text.strip()
    if not words.isdecimal() or len(words) > 7 or int(words) > MAX_CAPACITY:
        raise InvalidEventError(f"the number of places is a whole number from 0 to {MAX_CAPACITY:,}")
    return int(words)


def utf16_length(text: str) -> int:
    """How long Telegram counts `text`: UTF-16 code units, so an emoji outside the BMP is two."""
    return len(text.encode("utf-16-le")) // 2


def field_too_long(name: str, value: str, limit: int) -> str | None:
    """Why `value` cannot be the event's `name` (as people know the field), or None if it fits."""
    length = utf16_length(value)
    if length <= limit:
        return None
    verb = "have" if name == "details" else "has"
    return f"the {name} {verb} {length} characters, more than the {limit} allowed (an emoji counts as two)"


def check_field_length(attribute: str, value: str) -> None:
    """Raises InvalidEventError, naming the field, if `value` is too long for it: what every way
    in (a /newevent step, /editevent, the YAML import) calls before anything is stored."""
    for known, name, limit in TEXT_FIELDS:
        if known == attribute:
            problem = field_too_long(name, value.strip(), limit)
            if problem is not None:
                raise InvalidEventError(problem)
            return
    raise KeyError(attribute)


def overlong_fields(event: Event | EventDraft) -> list[str]:
    """What is over its bound in a stored row (one written before the bounds, or straight into
    the database): the reason a reminder or notice of it cannot be composed."""
    problems = []
    for attribute, name, limit in TEXT_FIELDS:
        value = getattr(event, attribute) or ""
        problem = field_too_long(name, value if isinstance(value, str) else str(value), limit)
        if problem is not None:
            problems.append(problem)
    return problems


def check_draft(draft: EventDraft) -> None:
    if not draft.title.strip():
        raise InvalidEventError(f"a title has 1 to {MAX_TITLE_LENGTH} characters")
    if not draft.venue_name.strip():
        raise InvalidEventError("an event needs a venue")
    if not draft.address.strip():
        raise InvalidEventError("an event needs an address")
    draft.postcode = normalise_postcode(draft.postcode)
    for attribute, _name, _limit in TEXT_FIELDS:
        value = getattr(draft, attribute)
        if value is not None:
            check_field_length(attribute, value)
    if (draft.latitude is None) != (draft.longitude is None):
        raise InvalidEventError("a map pin needs both latitude and longitude")
    if draft.latitude is not None and not (-90 <= draft.latitude <= 90 and -180 <= draft.longitude <= 180):
        raise InvalidEventError("the map pin is off the map")
    if draft.capacity is not None and draft.capacity < 1:
        raise InvalidEventError("a capacity is at least 1 (or none, for no limit)")
    if not draft.dates:
        raise InvalidEventError("an event needs at least one date")
    starts = [item.starts_at for item in draft.dates]
    if len(set(starts)) != len(starts):
        raise InvalidEventError("the same date is given twice")
    for item in draft.dates:
        if item.ends_at <= item.starts_at:
            raise InvalidEventError("an event ends after it starts")
        if item.booked_elsewhere < 0:
            raise InvalidEventError("places booked elsewhere cannot be negative")


def _key_stem(title: str, first_start: dt.datetime, tz: ZoneInfo) -> str:
    words = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:40].strip("-") or "event"
    return f"{words}-{first_start.astimezone(tz):%Y-%m-%d}"


async def _unique_key(session: AsyncSession, stem: str) -> str:
    taken = set(await session.scalars(select(Event.key).where(Event.key.like(f"{stem}%"))))
    key, number = stem, 2
    while key in taken:
        key, number = f"{stem}-{number}", number + 1
    return key


# ------------------------------------------------------------------ creating, changing, planning


async def create_event(session: AsyncSession, *, draft: EventDraft, now: dt.datetime, tz: ZoneInfo) -> Event:
    """Stores the event, its dates and rules, and plans every date's reminders."""
    check_draft(draft)
    dates = sorted(draft.dates, key=lambda item: item.starts_at)
    if draft.key is None:
        key = await _unique_key(session, _key_stem(draft.title, dates[0].starts_at, tz))
    elif await get_event_by_key(session, key=draft.key) is not None:
        raise InvalidEventError(f"an event with the key {draft.key!r} exists already")
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
    }


async def plan_reminders(session: AsyncSession, *, event_id: int, now: dt.datetime, tz: ZoneInfo) -> None:
    """(Re)computes every unsent reminder of the event from its active rules and dates.

    SENT and MISSED reminders are history and stay as they are. A reminder whose moment is
    already past when it is planned is SKIPPED rather than sent late at a surprising time; one
    whose moment moves back into the future is PENDING again.
    """
    rules = list(await session.scalars(select(ReminderRuleRow).where(ReminderRuleRow.event_id == event_id)))
    dates = list(await session.scalars(select(EventDate).where(EventDate.event_id == event_id)))
    existing = {
        (item.event_date_id, item.rule_id): item
        for item in await session.scalars(
            select(Reminder).join(EventDate, EventDate.id == Reminder.event_date_id)
            .where(EventDate.event_id == event_id)
        )
    }
    settled = {ReminderStatus.SENT.value, ReminderStatus.MISSED.value}
    for event_date in dates:
        for rule_row in rules:
            reminder = existing.get((event_date.id, rule_row.id))
            if reminder is not None and reminder.status in settled:
                continue
            due = rule_row.as_rule().due_at(event_date.starts_at, tz)
            if not rule_row.active or event_date.status == DateStatus.CANCELLED.value:
                status = ReminderStatus.CANCELLED
            elif due <= now:
                status = ReminderStatus.SKIPPED
            else:
                status = ReminderStatus.PENDING
            if reminder is None:
                session.add(Reminder(event_date_id=event_date.id, rule_id=rule_row.id, due_at=due,
                                     status=status.value, settled_at=None if status is ReminderStatus.PENDING else now))
            else:
                reminder.due_at = due
                if reminder.status != status.value:
                    reminder.status = status.value
                    reminder.settled_at = None if status is ReminderStatus.PENDING else now
    await session.flush()


async def replace_reminder_rules(session: AsyncSession, *, event_id: int, rules: Sequence[ReminderRule],
                                 now: dt.datetime, tz: ZoneInfo) -> None:
    """The event's rules become `rules`: old ones not among them stop (their unsent reminders are
    cancelled), ones that come back keep their history, new ones are planned."""
    rows = list(await session.scalars(select(ReminderRuleRow).where(ReminderRuleRow.event_id == event_id)))
    by_rule = {row.as_rule(): row for row in rows}
    for rule, row in by_rule.items():
        row.active = rule in rules
    for rule in rules:
        if rule not in by_rule:
            session.add(ReminderRuleRow.from_rule(rule, event_id=event_id))
    await session.flush()
    await plan_reminders(session, event_id=event_id, now=now, tz=tz)


async def update_event(session: AsyncSession, *, event_id: int, changes: dict[str, object]) -> Event:
    """Changes the event's own fields (not its dates or rules), checked as a whole."""
    event = await session.get(Event, event_id)
    if event is None:
        raise InvalidEventError("no such event")
    allowed = set(event_fields(_blank_draft()))
    unknown = set(changes) - allowed
    if unknown:
        raise InvalidEventError(f"cannot change {', '.join(sorted(unknown))}")
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
        capacity=event.capacity, key=event.key, rules=rules,
        dates=[DateDraft(item.starts_at, item.ends_at, item.booked_elsewhere) for item in dates],
    )


async def add_event_date(session: AsyncSession, *, event_id: int, date: DateDraft, now: dt.datetime,
                         tz: ZoneInfo) -> EventDate:
    if date.ends_at <= date.starts_at:
        raise InvalidEventError("an event ends after it starts")
    event_date = EventDate(event_id=event_id, starts_at=date.starts_at, ends_at=date.ends_at,
                           booked_elsewhere=date.booked_elsewhere)
    session.add(event_date)
    await session.flush()
    await plan_reminders(session, event_id=event_id, now=now, tz=tz)
    return event_date


async def set_booked_elsewhere(session: AsyncSession, *, event_date_id: int, places: int, now: dt.datetime,
                               compose_promoted: PromotionComposer) -> list[int]:
    """Places of a date taken outside the bot; fewer of them may let the waiting list in
    (returns the chat ids promoted, whose notice is queued in this transaction)."""
    if places < 0:
        raise InvalidEventError("places booked elsewhere cannot be negative")
    await _lock_date(session, event_date_id)
    found = await get_event_date(session, event_date_id=event_date_id)
    if found is None:
        raise InvalidEventError("no such date")
    event, event_date = found
    event_date.booked_elsewhere = places
    await session.flush()
    return await promote_waiting(session, event=event, event_date=event_date, now=now, compose=compose_promoted)


async def promote_waiting_everywhere(session: AsyncSession, *, event_id: int, now: dt.datetime,
                                     compose_promoted: PromotionComposer) -> list[tuple[EventDate, list[int]]]:
    """After the capacity changed: each coming date lets in as many waiting people as it now can
    (their notices queued in this transaction)."""
    event = await session.get(Event, event_id)
    promoted = []
    for event_date in await dates_of(session, event_id=event_id):
        if event_date.starts_at <= now or event_date.status == DateStatus.CANCELLED.value:
            continue
        await _lock_date(session, event_date.id)
        chats = await promote_waiting(session, event=event, event_date=event_date, now=now, compose=compose_promoted)
        if chats:
            promoted.append((event_date, chats))
    return promoted


async def reminder_counts(session: AsyncSession, *, event_id: int) -> dict[str, int]:
    query = (select(Reminder.status, func.count()).join(EventDate, EventDate.id == Reminder.event_date_id)
             .where(EventDate.event_id == event_id).group_by(Reminder.status))
    return {row[0]: row[1] for row in (await session.execute(query)).all()}


# ------------------------------------------------------------------ reading


async def get_event_by_key(session: AsyncSession, *, key: str) -> Event | None:
    return await session.scalar(select(Event).where(Event.key == key))


async def get_event_date(session: AsyncSession, *, event_date_id: int) -> tuple[Event, EventDate] | None:
    row = (await session.execute(
        select(Event, EventDate).join(EventDate, EventDate.event_id == Event.id).where(EventDate.id == event_date_id)
    )).first()
    return (row[0], row[1]) if row else None


async def chat_may_see_event_date(session: AsyncSession, *, event_date_id: int, telegram_id: int) -> bool:
    """Whether the chat may be shown the date (and answer it): its event is on a public list or on
    a list the chat is on, or the chat answered the date already (so that someone who has left
    the list can still free their place). False for a date that does not exist."""
    chat = await get_chat(session, telegram_id=telegram_id)
    conditions = [MailingList.public.is_(True)]
    if chat is not None:
        conditions.append(Event.list_id.in_(select(Subscription.list_id).where(Subscription.chat_id == chat.id)))
        conditions.append(EventDate.id.in_(select(Rsvp.event_date_id).where(Rsvp.chat_id == chat.id)))
    query = (
        select(EventDate.id)
        .join(Event, Event.id == EventDate.event_id)
        .join(MailingList, MailingList.id == Event.list_id)
        .where(EventDate.id == event_date_id, or_(*conditions))
    )
    return await session.scalar(query) is not None


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


@dataclasses.dataclass(frozen=True)
class DateCard:
    """One date of an event as a person sees it, with the counts that may be shown."""

    event: Event
    date: EventDate
    list_title: str
    going: int
    waiting: int
    not_going: int
    my_status: str | None
    my_waiting_position: int | None
    reminders: dict[str, int]

    @property
    def places_left(self) -> int | None:
        if self.event.capacity is None:
            return None
        return max(0, self.event.capacity - self.date.booked_elsewhere - self.going)

    @property
    def fully_booked(self) -> bool:
        return self.places_left == 0

    @property
    def cancelled(self) -> bool:
        return self.date.status == DateStatus.CANCELLED.value

    @property
    def changed(self) -> bool:
        return self.date.status == DateStatus.CHANGED.value


async def upcoming_cards(session: AsyncSession, *, telegram_id: int, now: dt.datetime, everything: bool = False,
                         limit: int = 10) -> list[DateCard]:
    """The coming dates (not yet ended, not cancelled) of events on the chat's lists and those it
    answered; with `everything` (organisers) the coming dates of every event."""
    chat = await get_chat(session, telegram_id=telegram_id)
    query = (
        select(Event, EventDate, MailingList.title)
        .join(EventDate, EventDate.event_id == Event.id)
        .join(MailingList, MailingList.id == Event.list_id)
        .where(EventDate.ends_at > now, EventDate.status != DateStatus.CANCELLED.value)
        .order_by(EventDate.starts_at, EventDate.id)
        .limit(limit)
    )
    if not everything:
        if chat is None:
            return []
        on_lists = select(Subscription.list_id).where(Subscription.chat_id == chat.id)
        answered = select(Rsvp.event_date_id).where(Rsvp.chat_id == chat.id)
        query = query.where(or_(Event.list_id.in_(on_lists), EventDate.id.in_(answered)))
    rows = (await session.execute(query)).all()
    return await _cards(session, rows, chat)


async def card_for(session: AsyncSession, *, event_date_id: int, telegram_id: int) -> DateCard | None:
    query = (
        select(Event, EventDate, MailingList.title)
        .join(EventDate, EventDate.event_id == Event.id)
        .join(MailingList, MailingList.id == Event.list_id)
        .where(EventDate.id == event_date_id)
    )
    rows = (await session.execute(query)).all()
    chat = await get_chat(session, telegram_id=telegram_id)
    cards = await _cards(session, rows, chat)
    return cards[0] if cards else None


async def _cards(session: AsyncSession, rows, chat: Chat | None) -> list[DateCard]:
    date_ids = [row[1].id for row in rows]
    if not date_ids:
        return []
    counts: dict[int, dict[str, int]] = {date_id: {} for date_id in date_ids}
    for date_id, status, count in (await session.execute(
        select(Rsvp.event_date_id, Rsvp.status, func.count()).where(Rsvp.event_date_id.in_(date_ids))
        .group_by(Rsvp.event_date_id, Rsvp.status)
    )).all():
        counts[date_id][status] = count
    reminders: dict[int, dict[str, int]] = {date_id: {} for date_id in date_ids}
    for date_id, status, count in (await session.execute(
        select(Reminder.event_date_id, Reminder.status, func.count()).where(Reminder.event_date_id.in_(date_ids))
        .group_by(Reminder.event_date_id, Reminder.status)
    )).all():
        reminders[date_id][status] = count
    mine: dict[int, Rsvp] = {}
    if chat is not None:
        answers = await session.scalars(select(Rsvp).where(Rsvp.chat_id == chat.id, Rsvp.event_date_id.in_(date_ids)))
        mine = {answer.event_date_id: answer for answer in answers}
    cards = []
    for event, event_date, list_title in rows:
        answer = mine.get(event_date.id)
        position = None
        if answer is not None and answer.status == RsvpStatus.WAITING.value:
            position = await waiting_position(session, answer=answer)
        tally = counts[event_date.id]
        cards.append(DateCard(
            event=event, date=event_date, list_title=list_title,
            going=tally.get(RsvpStatus.GOING.value, 0), waiting=tally.get(RsvpStatus.WAITING.value, 0),
            not_going=tally.get(RsvpStatus.NOT_GOING.value, 0), my_status=answer.status if answer else None,
            my_waiting_position=position, reminders=reminders[event_date.id],
        ))
    return cards


async def waiting_position(session: AsyncSession, *, answer: Rsvp) -> int:
    ahead = await session.scalar(
        select(func.count()).select_from(Rsvp).where(
            Rsvp.event_date_id == answer.event_date_id,
            Rsvp.status == RsvpStatus.WAITING.value,
            or_(Rsvp.answered_at < answer.answered_at,
                and_(Rsvp.answered_at == answer.answered_at, Rsvp.chat_id < answer.chat_id)),
        )
    )
    return (ahead or 0) + 1


# ------------------------------------------------------------------ RSVPs and the waiting list


class RsvpOutcome(enum.StrEnum):
    GOING = "going"
    WAITING = "waiting"
    NOT_GOING = "not_going"
    CLOSED = "closed"  # cancelled, started or gone: no answers taken


@dataclasses.dataclass(frozen=True)
class RsvpResult:
    outcome: RsvpOutcome
    promoted: list[int]  # Telegram chat ids moved from the waiting list to going (and queued a notice)


# Renders the notice to those let in from the waiting list: (event, date) -> Telegram HTML.
PromotionComposer = Callable[[Event, EventDate], str]


async def _lock_date(session: AsyncSession, event_date_id: int) -> bool:
    """Takes the date's row lock (PostgreSQL) or the write lock (SQLite) before anything is
    counted, so two last-place answers cannot both see a free place."""
    result = await session.execute(
        update(EventDate).where(EventDate.id == event_date_id)
        .values(rsvp_revision=EventDate.rsvp_revision + 1)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def answer_rsvp(session: AsyncSession, *, event_date_id: int, telegram_id: int, kind: ChatKind,
                      going: bool, now: dt.datetime, compose_promoted: PromotionComposer) -> RsvpResult:
    """'Going' takes a place, or a place on the waiting list when none is left; 'Can't go' frees
    the place, and the first on the waiting list takes it (and is sent a notice, queued in this
    transaction: the caller wakes the broadcast engine after committing)."""
    if not await _lock_date(session, event_date_id):
        return RsvpResult(RsvpOutcome.CLOSED, [])
    found = await get_event_date(session, event_date_id=event_date_id)
    assert found is not None
    event, event_date = found
    if event_date.status == DateStatus.CANCELLED.value or event_date.starts_at <= now:
        return RsvpResult(RsvpOutcome.CLOSED, [])
    chat = await record_chat(session, telegram_id=telegram_id, kind=kind, now=now)
    answer = await session.get(Rsvp, (event_date_id, chat.id))
    previous = answer.status if answer is not None else None
    if going:
        if previous in (RsvpStatus.GOING.value, RsvpStatus.WAITING.value):
            return RsvpResult(RsvpOutcome(previous), [])
        places = await _places_left(session, event, event_date)
        status = RsvpStatus.GOING if places is None or places > 0 else RsvpStatus.WAITING
    else:
        status = RsvpStatus.NOT_GOING
        if previous == status.value:
            return RsvpResult(RsvpOutcome.NOT_GOING, [])
    if answer is None:
        answer = Rsvp(event_date_id=event_date_id, chat_id=chat.id, status=status.value, answered_at=now)
        session.add(answer)
    else:
        answer.status = status.value
        answer.answered_at = now
    await session.flush()
    promoted = []
    if not going:
        promoted = await promote_waiting(session, event=event, event_date=event_date, now=now,
                                         compose=compose_promoted)
    return RsvpResult(RsvpOutcome(status.value), promoted)


async def _places_left(session: AsyncSession, event: Event, event_date: EventDate) -> int | None:
    if event.capacity is None:
        return None
    going = await session.scalar(
        select(func.count()).select_from(Rsvp)
        .where(Rsvp.event_date_id == event_date.id, Rsvp.status == RsvpStatus.GOING.value)
    )
    return event.capacity - event_date.booked_elsewhere - (going or 0)


async def promote_waiting(session: AsyncSession, *, event: Event, event_date: EventDate, now: dt.datetime,
                          compose: PromotionComposer) -> list[int]:
    """Fills free places from the waiting list, first come first served, and queues their notice
    in the same transaction (so a crash cannot leave someone promoted and never told); returns
    their Telegram chat ids. The caller must hold the date's lock (`_lock_date`)."""
    places = await _places_left(session, event, event_date)
    if places is None:
        query = select(Rsvp).where(Rsvp.event_date_id == event_date.id, Rsvp.status == RsvpStatus.WAITING.value)
    elif places <= 0:
        return []
    else:
        query = (select(Rsvp)
                 .where(Rsvp.event_date_id == event_date.id, Rsvp.status == RsvpStatus.WAITING.value)
                 .order_by(Rsvp.answered_at, Rsvp.chat_id).limit(places))
    promoted = list(await session.scalars(query))
    for answer in promoted:
        answer.status = RsvpStatus.GOING.value
    await session.flush()
    if not promoted:
        return []
    chat_ids = [answer.chat_id for answer in promoted]
    # The lock bumped the revision in this transaction, so the key is this promotion's alone.
    revision = await session.scalar(select(EventDate.rsvp_revision).where(EventDate.id == event_date.id))
    # Never refused for its length here (that would undo the answer that freed the place); the
    # engine checks it when sending and reports it if it cannot go.
    await create_broadcast(session, list_id=event.list_id, text=compose(event, event_date),
                           created_by=None, origin_key=f"promoted:{event_date.id}:{revision}",
                           recipient_chat_rows=select(Chat.id).where(Chat.id.in_(chat_ids)), now=now,
                           check_text=False)
    ids = await session.scalars(select(Chat.telegram_id).where(Chat.id.in_(chat_ids), Chat.active.is_(True)))
    return list(ids)


async def share_name(session: AsyncSession, *, event_date_id: int, telegram_id: int, name: str) -> bool:
    """The person chose to let organisers see their name on this date's attendance list."""
    chat = await get_chat(session, telegram_id=telegram_id)
    if chat is None:
        return False
    answer = await session.get(Rsvp, (event_date_id, chat.id))
    if answer is None or answer.status == RsvpStatus.NOT_GOING.value:
        return False
    answer.shared_name = name.strip()[:64] or None
    return True


@dataclasses.dataclass(frozen=True)
class Attendance:
    starts_at: dt.datetime
    status: str
    going: int
    waiting: int
    not_going: int
    booked_elsewhere: int
    places_left: int | None
    shared_names: list[str]


async def attendance(session: AsyncSession, *, event_id: int) -> list[Attendance]:
    """Per date: counts, and the names of those who chose to share theirs. Nothing else."""
    event = await session.get(Event, event_id)
    rows = []
    for event_date in await dates_of(session, event_id=event_id):
        tally = dict((await session.execute(
            select(Rsvp.status, func.count()).where(Rsvp.event_date_id == event_date.id).group_by(Rsvp.status)
        )).all())
        names = list(await session.scalars(
            select(Rsvp.shared_name).where(Rsvp.event_date_id == event_date.id, Rsvp.shared_name.is_not(None),
                                           Rsvp.status == RsvpStatus.GOING.value).order_by(Rsvp.shared_name)
        ))
        going = tally.get(RsvpStatus.GOING.value, 0)
        places = None if event.capacity is None else max(0, event.capacity - event_date.booked_elsewhere - going)
        rows.append(Attendance(event_date.starts_at, event_date.status, going, tally.get(RsvpStatus.WAITING.value, 0),
                               tally.get(RsvpStatus.NOT_GOING.value, 0), event_date.booked_elsewhere, places, names))
    return rows


# ------------------------------------------------------------------ reminders going out


@dataclasses.dataclass(frozen=True)
class DueReminder:
    reminder_id: int
    event: Event
    date: EventDate
    rule: ReminderRule


@dataclasses.dataclass(frozen=True)
class FailedReminder:
    due: DueReminder
    reason: str


@dataclasses.dataclass
class FiringReport:
    sent: list[DueReminder] = dataclasses.field(default_factory=list)
    missed: list[DueReminder] = dataclasses.field(default_factory=list)
    cancelled: int = 0
    failed: list[FailedReminder] = dataclasses.field(default_factory=list)

    @property
    def anything(self) -> bool:
        return bool(self.sent or self.missed or self.cancelled or self.failed)

    def add(self, other: FiringReport) -> None:
        self.sent += other.sent
        self.missed += other.missed
        self.cancelled += other.cancelled
        self.failed += other.failed


Composer = Callable[[DueReminder], str]


def _pending_reminders_with_events() -> Select:
    return (
        select(Reminder, EventDate, Event, ReminderRuleRow)
        .join(EventDate, EventDate.id == Reminder.event_date_id)
        .join(Event, Event.id == EventDate.event_id)
        .join(ReminderRuleRow, ReminderRuleRow.id == Reminder.rule_id)
        .where(Reminder.status == ReminderStatus.PENDING.value)
    )


def _due_reminders(now: dt.datetime) -> Select:
    return _pending_reminders_with_events().where(Reminder.due_at <= now).order_by(Reminder.due_at, Reminder.id)


async def due_reminder_ids(session: AsyncSession, *, now: dt.datetime, limit: int = 200) -> list[int]:
    """Ids of up to `limit` PENDING reminders due by `now`, oldest first: exactly those
    `fire_due_reminders` would settle, so each can be settled in a transaction of its own."""
    query = _due_reminders(now).with_only_columns(Reminder.id).limit(limit)
    return list(await session.scalars(query))


async def fire_due_reminders(session: AsyncSession, *, now: dt.datetime, compose: Composer,
                             limit: int = 200, reminder_id: int | None = None) -> FiringReport:
    """Settles up to `limit` PENDING reminders due by `now`, oldest first (only `reminder_id`,
    if given).

    One whose event has not started is marked SENT and its broadcast created in this same
    transaction (the broadcast's unique origin key makes a second one impossible); one whose
    event has started is MISSED; one of a cancelled date is CANCELLED. Running it again, or
    twice at once, sends nothing twice: a row only leaves PENDING once. If composing a reminder
    or creating its broadcast raises, so does this, and the caller rolls back; the bot settles
    each reminder in its own transaction and marks that one FAILED (`mark_reminder_failed`).
    """
    report = FiringReport()
    query = _due_reminders(now).limit(limit)
    if reminder_id is not None:
        query = query.where(Reminder.id == reminder_id)
    for reminder, event_date, event, rule_row in (await session.execute(query)).all():
        due = DueReminder(reminder.id, event, event_date, rule_row.as_rule())
        if event_date.status == DateStatus.CANCELLED.value or not rule_row.active:
            outcome = ReminderStatus.CANCELLED
        elif event_date.starts_at <= now:
            outcome = ReminderStatus.MISSED
        else:
            outcome = ReminderStatus.SENT
        if not await _settle(session, reminder.id, outcome, now):
            continue  # another run settled it first
        if outcome is ReminderStatus.SENT:
            recipients = None
            if due.rule.audience is Audience.GOING:
                recipients = going_chats(event_date.id)
            await create_event_broadcast(session, list_id=event.list_id, text=compose(due),
                                         origin_key=reminder_origin_key(reminder.id), recipients=recipients,
                                         now=now)
            report.sent.append(due)
        elif outcome is ReminderStatus.MISSED:
            report.missed.append(due)
        else:
            report.cancelled += 1
    return report


def failure_reason(problem: Exception, event: Event) -> str:
    """Why a reminder or notice of `event` could not be composed: what went wrong, and any field
    over its bound (the likely cause), short enough to store and to show organisers."""
    if isinstance(problem, TextTooLong):
        words = [f"too long for one Telegram message ({problem})"]
    else:
        words = [f"{type(problem).__name__}: {problem}"]
    words += overlong_fields(event)
    reason = "; ".join(words)
    return reason if len(reason) <= MAX_FAILURE_LENGTH else reason[:MAX_FAILURE_LENGTH - 1] + "…"


async def mark_reminder_failed(session: AsyncSession, *, reminder_id: int, problem: Exception,
                               now: dt.datetime) -> FailedReminder | None:
    """A PENDING reminder that could not be sent for a reason of its own becomes FAILED, with the
    reason kept; None if it is not PENDING (nothing to report twice)."""
    row = (await session.execute(_pending_reminders_with_events().where(Reminder.id == reminder_id))).first()
    if row is None:
        return None
    reminder, event_date, event, rule_row = row
    reason = failure_reason(problem, event)
    result = await session.execute(
        update(Reminder)
        .where(Reminder.id == reminder_id, Reminder.status == ReminderStatus.PENDING.value)
        .values(status=ReminderStatus.FAILED.value, settled_at=now, failure=reason)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return None
    return FailedReminder(DueReminder(reminder.id, event, event_date, rule_row.as_rule()), reason)


async def _settle(session: AsyncSession, reminder_id: int, status: ReminderStatus, now: dt.datetime) -> bool:
    result = await session.execute(
        update(Reminder)
        .where(Reminder.id == reminder_id, Reminder.status == ReminderStatus.PENDING.value)
        .values(status=status.value, settled_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def pending_reminders(session: AsyncSession, *, after_id: int = 0, limit: int = 5000,
                            event_id: int | None = None) -> list[tuple[int, dt.datetime]]:
    """(id, due_at) of PENDING reminders in id order after `after_id`: a keyset page."""
    query = (select(Reminder.id, Reminder.due_at)
             .where(Reminder.status == ReminderStatus.PENDING.value, Reminder.id > after_id)
             .order_by(Reminder.id).limit(limit))
    if event_id is not None:
        query = query.join(EventDate, EventDate.id == Reminder.event_date_id).where(EventDate.event_id == event_id)
    return [(row[0], row[1]) for row in (await session.execute(query)).all()]


async def reminder_ids_of(session: AsyncSession, *, event_id: int) -> list[int]:
    query = (select(Reminder.id).join(EventDate, EventDate.id == Reminder.event_date_id)
             .where(EventDate.event_id == event_id))
    return list(await session.scalars(query))


async def reminder_statuses(session: AsyncSession, *, event_date_id: int) -> list[tuple[str, dt.datetime, str]]:
    """(rule described, due_at, status) of every reminder of a date, in due order."""
    query = (select(ReminderRuleRow, Reminder.due_at, Reminder.status)
             .join(Reminder, Reminder.rule_id == ReminderRuleRow.id)
             .where(Reminder.event_date_id == event_date_id).order_by(Reminder.due_at))
    return [(row[0].as_rule().describe(), row[1], row[2]) for row in (await session.execute(query)).all()]


# ------------------------------------------------------------------ who hears about changes


def going_chats(event_date_id: int) -> Select:
    """chats.id of those going to a date (a reminder's 'going' audience)."""
    return select(Rsvp.chat_id).where(Rsvp.event_date_id == event_date_id, Rsvp.status == RsvpStatus.GOING.value)


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
                          compose: Callable[[DateChange], str]) -> DateChange:
    """A date's time changes: unsent reminders are planned again from the new time, sent ones
    stay sent, and everyone who was reminded or is going is told the time changed."""
    found = await get_event_date(session, event_date_id=event_date_id)
    if found is None:
        raise InvalidEventError("no such date")
    event, event_date = found
    if event_date.status == DateStatus.CANCELLED.value:
        raise InvalidEventError("that date is cancelled")
    if ends_at <= starts_at:
        raise InvalidEventError("an event ends after it starts")
    old = event_date.starts_at
    recipients = await concerned_chats(session, event_date_id=event_date_id)
    event_date.starts_at, event_date.ends_at = starts_at, ends_at
    event_date.status = DateStatus.CHANGED.value
    event_date.sequence += 1
    await session.flush()
    await plan_reminders(session, event_id=event.id, now=now, tz=tz)
    change = DateChange(event, event_date, old, told=True)
    await create_event_broadcast(session, list_id=event.list_id, text=_compose_notice(compose, change),
                                 origin_key=f"event-moved:{event_date.id}:{event_date.sequence}",
                                 recipients=recipients, now=now)
    return change


async def cancel_event_date(session: AsyncSession, *, event_date_id: int, now: dt.datetime,
                            compose: Callable[[DateChange], str]) -> DateChange | None:
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
    change = DateChange(event, event_date, event_date.starts_at, told=True)
    await create_event_broadcast(session, list_id=event.list_id, text=_compose_notice(compose, change),
                                 origin_key=f"event-cancelled:{event_date.id}", recipients=recipients, now=now)
    return change


def _compose_notice(compose: Callable[[DateChange], str], change: DateChange) -> str:
    """The notice's text, checked against Telegram's limit before anything is handed on. Raises
    NoticeNotComposable (the caller's transaction then rolls back: the change is not made, so
    nobody misses hearing of it) with the reason and the over-long fields."""
    try:
        text = compose(change)
        check_length(text, media_kind=None)
    except Exception as problem:  # whatever the row makes the composer raise, the answer is the same
        raise NoticeNotComposable(failure_reason(problem, change.event)) from problem
    return text


async def create_event_broadcast(session: AsyncSession, *, list_id: int, text: str, origin_key: str,
                                 recipients: Select | None, now: dt.datetime) -> bool:
    """Hands a reminder or a notice to the broadcast engine, in the caller's transaction; False if
    a broadcast with that origin key exists already (nothing is created twice)."""
    created = await create_broadcast(session, list_id=list_id, text=text, created_by=None,
                                     origin_key=origin_key, recipient_chat_rows=recipients, now=now)
    return created is not None


# ------------------------------------------------------------------ the chat's own data


async def describe_rsvps(session: AsyncSession, chat: Chat) -> list[str]:
    """For /mydata: every answer the chat gave, and a shared name if it gave one."""
    query = (select(Event.title, EventDate.starts_at, Rsvp.status, Rsvp.shared_name)
             .join(EventDate, EventDate.id == Rsvp.event_date_id)
             .join(Event, Event.id == EventDate.event_id)
             .where(Rsvp.chat_id == chat.id).order_by(EventDate.starts_at))
    words = {RsvpStatus.GOING.value: "going", RsvpStatus.WAITING.value: "on the waiting list",
             RsvpStatus.NOT_GOING.value: "can't go"}
    lines = []
    for title, starts_at, status, name in (await session.execute(query)).all():
        line = f"{title}, {starts_at:%d %B %Y %H:%M} UTC: {words.get(status, status)}"
        if name:
            line += f" (name shared with organisers: {name})"
        lines.append(line)
    return lines


CHAT_DATA_SECTIONS["Events you answered"] = describe_rsvps

