"""An event as typed or imported, before it is stored: the draft, the parsers of what people type
for its fields (postcode, map pin, places), and the checks every way in makes before storing it."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re

from storage.dates import ReminderRule
from storage.events.problems import EventProblemKind, InvalidEventError
from storage.events.tables import (
    MAX_ACCESSIBILITY_LENGTH,
    MAX_ADDRESS_LENGTH,
    MAX_CONTACT_LENGTH,
    MAX_COST_LENGTH,
    MAX_DETAILS_LENGTH,
    MAX_KEY_LENGTH,
    MAX_MEETING_POINT_LENGTH,
    MAX_POSTCODE_LENGTH,
    MAX_REFRESHMENTS_LENGTH,
    MAX_STATION_LENGTH,
    MAX_TITLE_LENGTH,
    MAX_VENUE_LENGTH,
    Event,
)

POSTCODE = re.compile(r"\b([A-Z]{1,2}[0-9][A-Z0-9]?)\s*([0-9][A-Z]{2})\b", re.IGNORECASE)

# Each bounded field of an event and its bound (messages/_event_problem.txt names each as people know it).
FIELD_LIMITS: dict[str, int] = {
    "key": MAX_KEY_LENGTH,
    "title": MAX_TITLE_LENGTH,
    "venue_name": MAX_VENUE_LENGTH,
    "address": MAX_ADDRESS_LENGTH,
    "postcode": MAX_POSTCODE_LENGTH,
    "meeting_point": MAX_MEETING_POINT_LENGTH,
    "nearest_station": MAX_STATION_LENGTH,
    "details": MAX_DETAILS_LENGTH,
    "contact": MAX_CONTACT_LENGTH,
    "accessibility": MAX_ACCESSIBILITY_LENGTH,
    "refreshments": MAX_REFRESHMENTS_LENGTH,
    "cost": MAX_COST_LENGTH,
}


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
    accessibility: str = ""
    refreshments: str = ""
    cost: str = ""
    capacity: int | None = None
    key: str | None = None


def split_postcode(text: str) -> tuple[str, str]:
    """'35 Powis Square, London W11 2AY' -> ('35 Powis Square, London', 'W11 2AY'); the postcode
    is the last one in the text. Raises InvalidEventError when there is none."""
    matches = list(POSTCODE.finditer(text))
    if not matches:
        raise InvalidEventError(EventProblemKind.NO_POSTCODE)
    last = matches[-1]
    postcode = f"{last[1]} {last[2]}".upper()
    address = (text[:last.start()] + text[last.end():]).strip().rstrip(",").strip()
    return address, postcode


def normalise_postcode(text: str) -> str:
    match = POSTCODE.fullmatch(text.strip())
    if match is None:
        raise InvalidEventError(EventProblemKind.NOT_A_POSTCODE, text=text.strip()[:20])
    return f"{match[1]} {match[2]}".upper()


_MAP_PIN = re.compile(r"^\s*(-?\d{1,2}(?:\.\d+)?)\s*[,; ]\s*(-?\d{1,3}(?:\.\d+)?)\s*$")
NO_LIMIT_WORDS = {"no limit", "none", "unlimited", "no", "-"}


def parse_map_pin(text: str) -> tuple[float, float]:
    """'51.4939, -0.183' -> (51.4939, -0.183); raises InvalidEventError otherwise."""
    match = _MAP_PIN.match(text)
    if match is None:
        raise InvalidEventError(EventProblemKind.MAP_PIN_FORM)
    latitude, longitude = float(match[1]), float(match[2])
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise InvalidEventError(EventProblemKind.MAP_PIN_OFF_THE_MAP)
    return latitude, longitude


MAX_CAPACITY = 1_000_000  # far above any venue; keeps the number inside the database's integer


def parse_capacity(text: str) -> int | None:
    """A number of places, or None for 'no limit'; raises InvalidEventError otherwise."""
    words = text.strip().lower()
    if words in NO_LIMIT_WORDS:
        return None
    # isdecimal, not isdigit: int() refuses '²', which isdigit accepts.
    if not words.isdecimal() or len(words) > 7 or not 1 <= int(words) <= MAX_CAPACITY:
        raise InvalidEventError(EventProblemKind.PLACES_FORM, most=MAX_CAPACITY)
    return int(words)


def parse_places_booked(text: str) -> int:
    """Places of a date already taken by bookings made elsewhere (0 or more); raises InvalidEventError otherwise."""
    words = text.strip()
    if not words.isdecimal() or len(words) > 7 or int(words) > MAX_CAPACITY:
        raise InvalidEventError(EventProblemKind.BOOKED_ELSEWHERE_FORM, most=MAX_CAPACITY)
    return int(words)


def utf16_length(text: str) -> int:
    """How long Telegram counts `text`: UTF-16 code units, so an emoji outside the BMP is two."""
    return len(text.encode("utf-16-le")) // 2


def field_too_long(attribute: str, value: str) -> InvalidEventError | None:
    """Why `value` cannot be the event's `attribute`, or None if it fits."""
    length, limit = utf16_length(value), FIELD_LIMITS[attribute]
    if length <= limit:
        return None
    return InvalidEventError(EventProblemKind.TOO_LONG, field=attribute, length=length, limit=limit)


def check_field_length(attribute: str, value: str) -> None:
    """Raises InvalidEventError, naming the field, if `value` is too long for it: what every way
    in (a /newevent step, /editevent, the YAML import) calls before anything is stored."""
    problem = field_too_long(attribute, value.strip())
    if problem is not None:
        raise problem


def overlong_fields(event: Event | EventDraft) -> list[InvalidEventError]:
    """What is over its bound in a stored row (one written before the bounds, or straight into
    the database): the likely reason a reminder or notice of it cannot be composed."""
    problems = []
    for attribute in FIELD_LIMITS:
        value = getattr(event, attribute) or ""
        problem = field_too_long(attribute, value if isinstance(value, str) else str(value))
        if problem is not None:
            problems.append(problem)
    return problems


def check_draft(draft: EventDraft) -> None:
    if not draft.title.strip():
        raise InvalidEventError(EventProblemKind.NO_TITLE, limit=MAX_TITLE_LENGTH)
    if not draft.venue_name.strip():
        raise InvalidEventError(EventProblemKind.NO_VENUE)
    if not draft.address.strip():
        raise InvalidEventError(EventProblemKind.NO_ADDRESS)
    draft.postcode = normalise_postcode(draft.postcode)
    for attribute in FIELD_LIMITS:
        value = getattr(draft, attribute)
        if value is not None:
            check_field_length(attribute, value)
    if (draft.latitude is None) != (draft.longitude is None):
        raise InvalidEventError(EventProblemKind.MAP_PIN_HALF)
    if draft.latitude is not None and not (-90 <= draft.latitude <= 90 and -180 <= draft.longitude <= 180):
        raise InvalidEventError(EventProblemKind.MAP_PIN_OFF_THE_MAP)
    if draft.capacity is not None and draft.capacity < 1:
        raise InvalidEventError(EventProblemKind.CAPACITY_BELOW_ONE)
    if not draft.dates:
        raise InvalidEventError(EventProblemKind.NO_DATES)
    starts = [item.starts_at for item in draft.dates]
    if len(set(starts)) != len(starts):
        raise InvalidEventError(EventProblemKind.SAME_DATE_TWICE)
    for item in draft.dates:
        if item.ends_at <= item.starts_at:
            raise InvalidEventError(EventProblemKind.ENDS_BEFORE_START)
        if item.booked_elsewhere < 0:
            raise InvalidEventError(EventProblemKind.BOOKED_ELSEWHERE_NEGATIVE)
