"""Local dates and times in the campaign's time zone, and the one error every date parser
raises: `DateProblem`, naming what would have to be guessed. Pure, no Telegram, no database."""

from __future__ import annotations

import datetime as dt
import enum
from zoneinfo import ZoneInfo


class DateProblemKind(enum.StrEnum):
    UNREADABLE = "unreadable"
    NO_TIME = "no_time"
    NO_DAY = "no_day"
    DAY_OR_MONTH = "day_or_month"
    MORNING_OR_EVENING = "morning_or_evening"
    MIDNIGHT_OR_NOON = "midnight_or_noon"
    WEEKDAY_MISMATCH = "weekday_mismatch"
    MONTH_FIRST = "month_first"
    NO_SUCH_DAY = "no_such_day"
    CLOCKS_GO_FORWARD = "clocks_go_forward"
    CLOCKS_GO_BACK = "clocks_go_back"
    PAST = "past"
    END_BEFORE_START = "end_before_start"


class DateProblem(ValueError):
    """What was typed cannot be read without guessing. `readings` are the moments it may have
    meant (aware UTC), for the question put back to the person; it may be empty. For a weekday
    that does not match the date, `weekday` is a moment on the weekday typed (aware UTC, noon local
    time), so that messages name that day in the reader's language."""

    def __init__(self, kind: DateProblemKind, text: str, readings: list[dt.datetime] | None = None,
                 *, weekday: dt.datetime | None = None) -> None:
        super().__init__(f"{kind.value}: {text!r}")
        self.kind = kind
        self.text = text
        self.readings = readings or []
        self.weekday = weekday


def to_utc(day: dt.date, time: dt.time, tz: ZoneInfo, *, original: str = "") -> dt.datetime:
    """The UTC moment of a local date and time, refusing clock-change hours that do not exist
    (spring) or happen twice (autumn), and moments outside the years 1 to 9999 in UTC.

    In spring, the readings of a skipped time are the two moments it could be a slip for (one
    hour either side on the clock: 00:30 GMT and 02:30 BST for '01:30'); in autumn, the two
    moments the clock shows it (01:30 BST, then 01:30 GMT)."""
    naive = dt.datetime.combine(day, time)
    first = naive.replace(tzinfo=tz, fold=0)
    second = naive.replace(tzinfo=tz, fold=1)
    try:
        first.astimezone(dt.UTC), second.astimezone(dt.UTC)
    except OverflowError:
        # '31/12/9999 23:00' in New York is in the year 10000 in UTC.
        raise DateProblem(DateProblemKind.NO_SUCH_DAY, original) from None
    if first.astimezone(dt.UTC).astimezone(tz).replace(tzinfo=None) != naive:
        readings = sorted({first.astimezone(dt.UTC), second.astimezone(dt.UTC)})
        raise DateProblem(DateProblemKind.CLOCKS_GO_FORWARD, original, readings)
    if first.utcoffset() != second.utcoffset():
        readings = sorted({first.astimezone(dt.UTC), second.astimezone(dt.UTC)})
        raise DateProblem(DateProblemKind.CLOCKS_GO_BACK, original, readings)
    return first.astimezone(dt.UTC)


def to_noon(day: dt.date, tz: ZoneInfo) -> dt.datetime:
    """Noon of a local day, as UTC: a reading that stands for the day alone (no clock change
    happens at noon)."""
    return to_utc(day, dt.time(12), tz)


def both_halves(day: dt.date, time: dt.time, tz: ZoneInfo) -> list[dt.datetime]:
    """The morning and the evening reading of a time written without am or pm."""
    readings = []
    for hour in (time.hour % 12, time.hour % 12 + 12):
        try:
            readings.append(to_utc(day, time.replace(hour=hour), tz))
        except DateProblem:
            continue
    return readings
