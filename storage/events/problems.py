"""What the events domain refuses, as exceptions the bot and the CLI answer.

An error carries a kind and the few facts its words need; messages/_event_problem.txt words each
kind, so no sentence a person reads is written here (as `storage.dates.DateProblem` does for dates).
"""

from __future__ import annotations

import enum
from typing import Any


class EventProblemKind(enum.StrEnum):
    # A field as typed in /newevent, /editevent or a file.
    NO_POSTCODE = "no_postcode"
    NOT_A_POSTCODE = "not_a_postcode"  # text
    MAP_PIN_FORM = "map_pin_form"
    MAP_PIN_OFF_THE_MAP = "map_pin_off_the_map"
    MAP_PIN_HALF = "map_pin_half"
    PLACES_FORM = "places_form"  # most
    BOOKED_ELSEWHERE_FORM = "booked_elsewhere_form"  # most
    BOOKED_ELSEWHERE_NEGATIVE = "booked_elsewhere_negative"
    TOO_LONG = "too_long"  # field, length, limit
    NO_TITLE = "no_title"  # limit
    NO_VENUE = "no_venue"
    NO_ADDRESS = "no_address"
    CAPACITY_BELOW_ONE = "capacity_below_one"
    NO_DATES = "no_dates"
    SAME_DATE_TWICE = "same_date_twice"
    ENDS_BEFORE_START = "ends_before_start"
    # Against what is stored.
    KEY_EXISTS = "key_exists"  # key
    NO_SUCH_EVENT = "no_such_event"
    NO_SUCH_DATE = "no_such_date"
    DATE_CANCELLED = "date_cancelled"
    CANNOT_CHANGE = "cannot_change"  # fields
    NO_SUCH_LIST = "no_such_list"  # slug
    NOTICE_NOT_COMPOSABLE = "notice_not_composable"  # failure: a storage.events.reminders.ComposeFailure
    # Only in an events file (YAML).
    NOT_YAML = "not_yaml"  # detail: PyYAML's own account of where it stopped
    TOO_DEEP = "too_deep"
    NO_EVENTS_LIST = "no_events_list"
    NOT_AN_EVENT = "not_an_event"
    FIELD_MISSING = "field_missing"  # field
    FIELD_NOT_TEXT = "field_not_text"  # field
    UNKNOWN_FIELDS = "unknown_fields"  # fields
    MAP_NEEDS_BOTH = "map_needs_both"
    MAP_NEEDS_NUMBERS = "map_needs_numbers"
    CAPACITY_NOT_WHOLE = "capacity_not_whole"
    REMINDER_RULE = "reminder_rule"  # rule: the part that was not understood
    KEY_TWICE = "key_twice"  # key
    DATES_MISSING = "dates_missing"
    DATE_NEEDS_START_AND_END = "date_needs_start_and_end"
    TIME_AS_NUMBER = "time_as_number"
    DATE_WITHOUT_TIME = "date_without_time"  # value
    TIME_UNREADABLE = "time_unreadable"  # text, why (a DateProblemKind value)
    BOOKED_ELSEWHERE_NOT_WHOLE = "booked_elsewhere_not_whole"


class InvalidEventError(ValueError):
    """An event that cannot be published as given: `kind` says why, `details` hold what the
    words need (see the comments on EventProblemKind)."""

    def __init__(self, kind: EventProblemKind, **details: Any) -> None:
        super().__init__(f"{kind.value} {details}" if details else kind.value)
        self.kind = kind
        self.details = details


class NoticeNotComposable(InvalidEventError):
    """A change people must hear about was refused, changing nothing, because its notice could
    not be composed from the event as stored (an over-long field, most likely)."""

    def __init__(self, failure: Any) -> None:  # a ComposeFailure (reminders.py imports this module)
        super().__init__(EventProblemKind.NOTICE_NOT_COMPOSABLE, failure=failure)
