"""Dates and times as British organisers type them; pure, no Telegram, no database.

`parse_moment` reads what organisers type, in the campaign's time zone (summer time included),
and returns an aware UTC datetime:

- full dates: '21/03/2018 8.15am', '21 March 2018 08:15', 'wed 21 march 8:15', '2018-03-21 08:15';
- a day and month without a year: the next such day ('21 march 8.15am' in April is next March);
- a weekday: the next such day ('friday 7pm'; today too while that time is still to come), and
  'next wednesday' the first one after today, never today;
- 'today', 'tomorrow', 'in 3 days'; 'tonight' and 'this evening' make a time without am or pm
  the evening one ('tonight 7.30' is 19:30), 'this morning' the morning one;
- 'noon', 'midday'; and 'in 2 hours', 'in 90 minutes', 'in half an hour' (real elapsed time from
  now, to the minute, across a clock change too).

Anything it would have to guess raises `DateProblem` with the readings it could have meant, so
the bot asks instead: a time that could be morning or evening ('7.30' with no hint), a time with
no day ('8.15'), a short date that reads either way ('03/04': 3 April or 4 March), a weekday that
contradicts the date, an American month-first date, 'midnight' or '12am', a date already past,
and a local time that the clocks skip (spring) or pass twice (autumn), with both moments it
could mean. `DateProblemKind` names each case; messages/_date_problem.html words them.

Why a parser of our own rather than a date library: the libraries that read free text
(dateparser, parsedatetime, dateutil's parser with fuzzy matching) are built to return their
best guess, and do so for exactly the inputs that must be questioned here: '03/04' becomes one of
the two dates, '8.15' becomes today, '7.30' the morning, and a skipped or doubled clock-change
hour silently one of its readings. Wrapping them to refuse those would need every check below
anyway, on top of their own rules and locales. What is kept is small: a handful of regular
expressions for the British forms, the calendar and time-zone arithmetic of the standard library
(`zoneinfo`), and property-based tests (tests/test_fuzz_parsers.py) that every input either
yields a moment to come or a DateProblem.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import re
from zoneinfo import ZoneInfo

from storage.local_time import DateProblem, DateProblemKind, both_halves, to_noon, to_utc

MONTHS = {
    "jan": 1, "january": 1, "feb": 2, "february": 2, "mar": 3, "march": 3, "apr": 4, "april": 4,
    "may": 5, "jun": 6, "june": 6, "jul": 7, "july": 7, "aug": 8, "august": 8,
    "sep": 9, "sept": 9, "september": 9, "oct": 10, "october": 10, "nov": 11, "november": 11,
    "dec": 12, "december": 12,
}
WEEKDAYS = {
    "mon": 0, "monday": 0, "tue": 1, "tues": 1, "tuesday": 1, "wed": 2, "weds": 2, "wednesday": 2,
    "thu": 3, "thur": 3, "thurs": 3, "thursday": 3, "fri": 4, "friday": 4, "sat": 5, "saturday": 5,
    "sun": 6, "sunday": 6,
}
# Words people put around a date that carry no meaning of their own.
FILLER = {"at", "on", "the", "of", "from", "starting", "starts", "start", "this"}
# Without am or pm, an hour from 1 to 7 written without a leading zero is as likely evening as
# morning ('7.30' for a meeting); from 8 on, or written '07:30', the 24-hour reading is the usual one.
EARLIEST_UNQUALIFIED_HOUR = 8

_MONTH_WORD = "|".join(sorted(MONTHS, key=len, reverse=True))
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b")
# With a year the separator may be '/', '.' or '-'; without one only '/', so '8.15' stays a time.
_NUMERIC_DATE = re.compile(r"\b(\d{1,2})([/.-])(\d{1,2})\2(\d{4}|\d{2})\b|\b(\d{1,2})/(\d{1,2})\b")
_DAY_MONTH = re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({_MONTH_WORD})\b\.?(?:\s*,?\s*(\d{{4}}))?")
_MONTH_DAY = re.compile(rf"\b({_MONTH_WORD})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?\b(?:\s*,?\s*(\d{{4}}))?")
_TWELVE_HOUR = re.compile(r"\b(\d{1,2})(?:[:.](\d{2}))?\s*([ap])\.?m\.?(?=\s|$|,)")
_TWENTY_FOUR_HOUR = re.compile(r"\b(\d{1,2})[:.](\d{2})\b(?!\s*[ap]\.?m)")
_NAMED_TIMES = {"noon": dt.time(12, 0), "midday": dt.time(12, 0)}
# At most four digits a number: no event lasts 10,000 hours, and a longer run of digits is a typo
# that would otherwise overflow the date arithmetic.
_DURATION = re.compile(
    r"^(?:(\d{1,4})\s*(?:h|hr|hrs|hour|hours))?\s*(?:and\s+)?(?:(\d{1,4})\s*(?:m|min|mins|minute|minutes))?$"
    r"|^(\d{1,4})h(\d{2})$"
)


@dataclasses.dataclass(frozen=True)
class _LocalDate:
    year: int | None
    month: int
    day: int
    # A short date such as '03/04' whose numbers could each be the day or the month.
    either_way: bool = False


class _Half(enum.StrEnum):
    """The part of the day a word such as 'tonight' puts a time without am or pm in."""

    MORNING = "morning"
    AFTERNOON = "afternoon"
    EVENING = "evening"


# Days said relative to today; 'tonight' also says which half of the day.
_RELATIVE_DAYS = {"today": (0, None), "tonight": (0, _Half.EVENING), "this evening": (0, _Half.EVENING),
                  "this afternoon": (0, _Half.AFTERNOON), "this morning": (0, _Half.MORNING),
                  "tomorrow": (1, None)}
_IN_DAYS = re.compile(r"\bin (\d{1,3}) days?\b")
_PART_OF_DAY = re.compile(r"\b(?:in the )?(morning|afternoon|evening|night)\b")
_NEXT = re.compile(r"\bnext\b")
# A day and month without a year is the next such day: within eight years there is a 29 February.
_YEARS_AHEAD = 8


def _normalise(text: str) -> str:
    text = text.strip().lower().replace(",", " ")
    return re.sub(r"\s+", " ", text)


def _take(pattern: re.Pattern[str], text: str) -> tuple[re.Match[str] | None, str]:
    match = pattern.search(text)
    if match is None:
        return None, text
    return match, f"{text[:match.start()]} {text[match.end():]}"


def _year(value: str | None) -> int | None:
    if value is None:
        return None
    year = int(value)
    return 2000 + year if year < 100 else year


def _take_date(text: str, original: str) -> tuple[_LocalDate | None, str]:
    match, rest = _take(_ISO_DATE, text)
    if match:
        return _LocalDate(int(match[1]), int(match[2]), int(match[3])), rest
    match, rest = _take(_DAY_MONTH, text)
    if match:
        return _LocalDate(_year(match[3]), MONTHS[match[2]], int(match[1])), rest
    match, rest = _take(_MONTH_DAY, text)
    if match:
        return _LocalDate(_year(match[3]), MONTHS[match[1]], int(match[2])), rest
    match, rest = _take(_NUMERIC_DATE, text)
    if match:
        if match[1] is not None:
            first, second, year = int(match[1]), int(match[3]), _year(match[4])
        else:
            first, second, year = int(match[5]), int(match[6]), None
        if second > 12 and 1 <= first <= 12:
            # '03/21/2018' only makes sense month first: ask rather than silently swap.
            raise DateProblem(DateProblemKind.MONTH_FIRST, original, weekday=None) from None
        # With a year, day/month/year is how dates are written in Britain (and what the bot's own
        # examples show); a bare '03/04' is as often a month-first date or a note, so it is asked.
        either_way = year is None and first != second and 1 <= first <= 12 and 1 <= second <= 12
        return _LocalDate(year, second, first, either_way), rest
    return None, text


def _take_time(text: str, original: str) -> tuple[dt.time | None, str, bool, bool]:
    """The time of day, what is left of the text, whether the reading is doubtful, and whether
    the half of the day was said (am, pm, noon)."""
    match, rest = _take(_TWELVE_HOUR, text)
    if match:
        hour, minute, half = int(match[1]), int(match[2] or 0), match[3]
        if not 1 <= hour <= 12 or minute > 59:
            raise DateProblem(DateProblemKind.UNREADABLE, original)
        if hour == 12 and half == "a":
            raise DateProblem(DateProblemKind.MIDNIGHT_OR_NOON, original)
        hour = hour % 12 + (12 if half == "p" else 0)
        return dt.time(hour, minute), rest, False, True
    match, rest = _take(_TWENTY_FOUR_HOUR, text)
    if match:
        hour, minute = int(match[1]), int(match[2])
        if hour > 23 or minute > 59:
            raise DateProblem(DateProblemKind.UNREADABLE, original)
        doubtful = 1 <= hour < EARLIEST_UNQUALIFIED_HOUR and not match[1].startswith("0")
        return dt.time(hour, minute), rest, doubtful, False
    for word, moment in _NAMED_TIMES.items():
        match, rest = _take(re.compile(rf"\b{word}\b"), text)
        if match:
            return moment, rest, False, True
    if re.search(r"\bmidnight\b", text):
        raise DateProblem(DateProblemKind.MIDNIGHT_OR_NOON, original)
    return None, text, False, False


def _take_weekday(text: str) -> tuple[int | None, str]:
    for word in text.split():
        if word.rstrip(".") in WEEKDAYS:
            rest = re.sub(rf"\b{re.escape(word)}(?=\s|$)", " ", text, count=1)
            return WEEKDAYS[word.rstrip(".")], rest
    return None, text


def _take_relative_day(text: str, today: dt.date) -> tuple[dt.date | None, _Half | None, str]:
    for word, (offset, half) in _RELATIVE_DAYS.items():
        match, rest = _take(re.compile(rf"\b{word}\b"), text)
        if match:
            return today + dt.timedelta(days=offset), half, rest
    match, rest = _take(_IN_DAYS, text)
    if match:
        return today + dt.timedelta(days=int(match[1])), None, rest
    return None, None, text


def _take_half(text: str) -> tuple[_Half | None, str]:
    match, rest = _take(_PART_OF_DAY, text)
    if match is None:
        return None, text
    word = match[1]
    half = _Half.MORNING if word == "morning" else _Half.AFTERNOON if word == "afternoon" else _Half.EVENING
    return half, rest


def _in_half(time: dt.time, half: _Half, *, said: bool, day: dt.date, tz: ZoneInfo, original: str) -> dt.time:
    """`time` read in the part of the day the words named ('tonight 7.30' is 19:30); a time
    that contradicts them ('tonight 8am') or that the words leave open ('tonight 2.00') is asked."""
    hour = time.hour
    if half is _Half.MORNING:
        fits = hour < 12
    elif said:
        fits = hour >= 12
    elif hour > 12:
        fits = True
    elif hour in (0, 12) and half is _Half.EVENING:
        raise DateProblem(DateProblemKind.MIDNIGHT_OR_NOON, original)  # 'tonight 12.30'
    elif hour == 12 or half is _Half.AFTERNOON or hour >= 6:
        return time if hour == 12 else time.replace(hour=hour + 12)
    else:
        fits = False  # 'tonight 2.00': two in the morning, or a slip for 8?
    if not fits:
        raise DateProblem(DateProblemKind.MORNING_OR_EVENING, original, both_halves(day, time, tz))
    return time


def _after_a_while(text: str, now: dt.datetime, original: str) -> dt.datetime | None:
    """'in 2 hours', 'in 90 minutes', 'in an hour', 'in half an hour': real time from `now`,
    to the minute; None if the text is not of that form."""
    if not text.startswith("in "):
        return None
    amount = text[3:].replace("half an hour", "30 minutes")
    amount = re.sub(r"^an? ", "1 ", amount)
    duration = _DURATION.match(amount)
    if not amount or duration is None or not any(duration.groups()):
        return None
    hours, minutes = (duration[1], duration[2]) if duration[3] is None else (duration[3], duration[4])
    length = dt.timedelta(hours=int(hours or 0), minutes=int(minutes or 0))
    if length <= dt.timedelta(0):
        raise DateProblem(DateProblemKind.PAST, original)
    try:
        return (now.astimezone(dt.UTC) + length).replace(second=0, microsecond=0)
    except OverflowError:
        raise DateProblem(DateProblemKind.NO_SUCH_DAY, original) from None


def parse_moment(text: str, *, now: dt.datetime, tz: ZoneInfo, allow_past: bool = False) -> dt.datetime:
    """The moment `text` names, read in `tz`, as aware UTC; raises DateProblem rather than guess.

    A day and month without a year is the next such day (with `allow_past`, the one of the
    current year: for imports of events already held). See the module's docstring for the forms.
    """
    original = text.strip()
    work = _normalise(text)
    later = _after_a_while(work, now, original)
    if later is not None:
        return later
    local_now = now.astimezone(tz).replace(tzinfo=None)
    today = local_now.date()
    relative_day, half, work = _take_relative_day(work, today)
    said_half, work = _take_half(work)
    half = said_half or half
    next_one, work = _take(_NEXT, work)
    local_date, work = (None, work) if relative_day else _take_date(work, original)
    time, work, doubtful, said = _take_time(work, original)
    weekday, work = _take_weekday(work)
    leftover = [word for word in work.split() if word not in FILLER]
    has_day = bool(local_date or relative_day or weekday is not None)
    if len(leftover) == 1 and time is None and has_day:
        word = leftover[0]
        # isdecimal, not isdigit: int() refuses digits such as '²' that isdigit accepts.
        if word.isdecimal() and len(word) <= 2 and 1 <= int(word) <= 12:
            # A bare hour ('tonight 7', 'friday 7'): the evening one only when the words say so.
            time, doubtful, said, leftover = dt.time(int(word) % 12), True, False, []
    if leftover or (next_one and weekday is None):
        raise DateProblem(DateProblemKind.UNREADABLE, original)
    if not has_day:
        raise DateProblem(DateProblemKind.NO_DAY if time is not None else DateProblemKind.UNREADABLE, original)
    if local_date is not None and local_date.either_way:
        raise DateProblem(DateProblemKind.DAY_OR_MONTH, original, [
            to_noon(_next_day_of_year(_LocalDate(None, month, day), time, local_now, original), tz)
            for month, day in ((local_date.month, local_date.day), (local_date.day, local_date.month))])
    if relative_day is not None:
        day = relative_day
    elif local_date is not None:
        day = _resolve_day(local_date, time, local_now, original, allow_past=allow_past)
    else:
        assert weekday is not None
        ahead = (weekday - today.weekday()) % 7 or (7 if next_one else 0)
        day = today + dt.timedelta(days=ahead)
        if time is not None and not ahead and dt.datetime.combine(day, time) <= local_now:
            day += dt.timedelta(days=7)  # 'friday 7pm' said on a Friday evening: the next one
    if weekday is not None and day.weekday() != weekday:
        raise DateProblem(DateProblemKind.WEEKDAY_MISMATCH, original, [to_noon(day, tz)],
                          weekday=_a_day_on(weekday, near=day, tz=tz))
    if time is None:
        raise DateProblem(DateProblemKind.NO_TIME, original)
    if half is not None:
        time = _in_half(time, half, said=said, day=day, tz=tz, original=original)
    elif doubtful:
        raise DateProblem(DateProblemKind.MORNING_OR_EVENING, original, both_halves(day, time, tz))
    moment = to_utc(day, time, tz, original=original)
    if not allow_past and moment <= now:
        raise DateProblem(DateProblemKind.PAST, original)
    return moment


def _a_day_on(weekday: int, *, near: dt.date, tz: ZoneInfo) -> dt.datetime:
    """Noon of a day within a week of `near` that falls on `weekday`: the typed weekday as a moment,
    so that messages name it in the reader's language (on the calendar's last and first days, the
    one side that exists)."""
    ahead = (weekday - near.weekday()) % 7
    for shift in (ahead - 7, ahead):
        try:
            return to_noon(near + dt.timedelta(days=shift), tz)
        except (OverflowError, DateProblem):
            continue
    return to_noon(near, tz)


def _resolve_day(local_date: _LocalDate, time: dt.time | None, local_now: dt.datetime, original: str,
                 *, allow_past: bool) -> dt.date:
    if local_date.year is None and not allow_past:
        return _next_day_of_year(local_date, time, local_now, original)
    year = local_date.year if local_date.year is not None else local_now.year
    try:
        return dt.date(year, local_date.month, local_date.day)
    except ValueError:
        raise DateProblem(DateProblemKind.NO_SUCH_DAY, original) from None


def _next_day_of_year(local_date: _LocalDate, time: dt.time | None, local_now: dt.datetime,
                      original: str) -> dt.date:
    """The next day with this day and month: this year's while it (at `time`) is to come."""
    for year in range(local_now.year, min(local_now.year + _YEARS_AHEAD, dt.MAXYEAR) + 1):
        try:
            day = dt.date(year, local_date.month, local_date.day)
        except ValueError:
            continue
        if dt.datetime.combine(day, time or dt.time(23, 59)) > local_now:
            return day
    raise DateProblem(DateProblemKind.NO_SUCH_DAY, original)


def parse_end(text: str, *, start: dt.datetime, tz: ZoneInfo) -> dt.datetime:
    """When an event that begins at `start` ends: a time that day ('2pm', '14:00'), a length
    ('2 hours', '90 minutes', '1h30'), or a full date and time. Raises DateProblem, as
    `parse_moment` does, for anything else."""
    original = text.strip()
    work = _normalise(text)
    duration = _DURATION.match(work)
    if work and duration and any(duration.groups()):
        hours, minutes = (duration[1], duration[2]) if duration[3] is None else (duration[3], duration[4])
        length = dt.timedelta(hours=int(hours or 0), minutes=int(minutes or 0))
        if length <= dt.timedelta(0):
            raise DateProblem(DateProblemKind.END_BEFORE_START, original)
        try:
            return start + length
        except OverflowError:
            raise DateProblem(DateProblemKind.NO_SUCH_DAY, original) from None
    time, rest, doubtful, _ = _take_time(work, original)
    if time is not None and not [word for word in rest.split() if word not in FILLER | {"until", "till", "to"}]:
        day = start.astimezone(tz).date()
        if doubtful:
            # An end of '2.00' after a 10am start can only be the afternoon.
            afternoon = to_utc(day, time.replace(hour=time.hour + 12), tz)
            if to_utc(day, time, tz) <= start < afternoon:
                return afternoon
            raise DateProblem(DateProblemKind.MORNING_OR_EVENING, original, both_halves(day, time, tz))
        end = to_utc(day, time, tz, original=original)
    else:
        end = parse_moment(text, now=start, tz=tz, allow_past=True)
    if end <= start:
        raise DateProblem(DateProblemKind.END_BEFORE_START, original)
    return end


# Reminder rules were parsed here before they had a module of their own; their names stay
# importable from here.
from storage.reminder_rules import Audience, ReminderRule, ReminderRuleProblem, parse_reminder_rules  # noqa: E402

__all__ = ["Audience", "DateProblem", "DateProblemKind", "ReminderRule", "ReminderRuleProblem", "parse_end",
           "parse_moment", "parse_reminder_rules", "to_noon", "to_utc"]
