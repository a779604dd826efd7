"""Dates and times as British organisers type them, and reminder rules; pure, no Telegram, no database.

`parse_moment` reads '21/03/2018 8.15am', '21 March 2018 08:15', 'wed 21 march 8:15' and the like
in the campaign's time zone and returns an aware UTC datetime. Anything it would have to guess
(a time that could be morning or evening, a weekday that contradicts the date, an American
month-first date, a clock-change hour, a date already past) raises `DateProblem` with the
readings it could have meant, so the bot can ask instead of guessing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import re
from zoneinfo import ZoneInfo

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
FILLER = {"at", "on", "the", "of", "from", "starting", "starts", "start"}
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


class ReminderRuleProblem(ValueError):
    """A reminder rule that was not understood; `rule` is the part as typed (messages word it)."""

    def __init__(self, rule: str) -> None:
        super().__init__(f"reminder rule not understood: {rule!r}")
        self.rule = rule


class DateProblemKind(enum.StrEnum):
    UNREADABLE = "unreadable"
    NO_TIME = "no_time"
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
    meant (aware UTC), for the question put back to the person; it may be empty."""

    def __init__(self, kind: DateProblemKind, text: str, readings: list[dt.datetime] | None = None,
                 *, weekday: str | None = None) -> None:
        super().__init__(f"{kind.value}: {text!r}")
        self.kind = kind
        self.text = text
        self.readings = readings or []
        self.weekday = weekday


@dataclasses.dataclass(frozen=True)
class _LocalDate:
    year: int | None
    month: int
    day: int


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
        return _LocalDate(year, second, first), rest
    return None, text


def _take_time(text: str, original: str) -> tuple[dt.time | None, str, bool]:
    """The time of day, what is left of the text, and whether the reading is doubtful."""
    match, rest = _take(_TWELVE_HOUR, text)
    if match:
        hour, minute, half = int(match[1]), int(match[2] or 0), match[3]
        if not 1 <= hour <= 12 or minute > 59:
            raise DateProblem(DateProblemKind.UNREADABLE, original)
        if hour == 12 and half == "a":
            raise DateProblem(DateProblemKind.MIDNIGHT_OR_NOON, original)
        hour = hour % 12 + (12 if half == "p" else 0)
        return dt.time(hour, minute), rest, False
    match, rest = _take(_TWENTY_FOUR_HOUR, text)
    if match:
        hour, minute = int(match[1]), int(match[2])
        if hour > 23 or minute > 59:
            raise DateProblem(DateProblemKind.UNREADABLE, original)
        doubtful = 1 <= hour < EARLIEST_UNQUALIFIED_HOUR and not match[1].startswith("0")
        return dt.time(hour, minute), rest, doubtful
    for word, moment in _NAMED_TIMES.items():
        match, rest = _take(re.compile(rf"\b{word}\b"), text)
        if match:
            return moment, rest, False
    if re.search(r"\bmidnight\b", text):
        raise DateProblem(DateProblemKind.MIDNIGHT_OR_NOON, original)
    return None, text, False


def _take_weekday(text: str) -> tuple[int | None, str]:
    for word in text.split():
        if word.rstrip(".") in WEEKDAYS:
            rest = re.sub(rf"\b{re.escape(word)}(?=\s|$)", " ", text, count=1)
            return WEEKDAYS[word.rstrip(".")], rest
    return None, text


def to_utc(day: dt.date, time: dt.time, tz: ZoneInfo, *, original: str = "") -> dt.datetime:
    """The UTC moment of a local date and time, refusing clock-change hours that do not exist
    (spring) or happen twice (autumn), and moments outside the years 1 to 9999 in UTC."""
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


def parse_moment(text: str, *, now: dt.datetime, tz: ZoneInfo, allow_past: bool = False) -> dt.datetime:
    """The moment `text` names, read in `tz`, as aware UTC; raises DateProblem rather than guess.

    A date without a year is in the current year; if that has passed, the person is asked.
    """
    original = text.strip()
    work = _normalise(text)
    today = now.astimezone(tz).date()
    relative_day = None
    for word, offset in (("today", 0), ("tonight", 0), ("tomorrow", 1)):
        match, work = _take(re.compile(rf"\b{word}\b"), work)
        if match:
            relative_day = today + dt.timedelta(days=offset)
            break
    local_date, work = (None, work) if relative_day else _take_date(work, original)
    time, work, doubtful = _take_time(work, original)
    weekday, work = _take_weekday(work)
    leftover = [word for word in work.split() if word not in FILLER]
    if leftover:
        word = leftover[0] if len(leftover) == 1 else ""
        # isdecimal, not isdigit: int() refuses digits such as '²' that isdigit accepts.
        bare_hour = word.isdecimal() and len(word) <= 2 and 1 <= int(word) <= 12
        if bare_hour and time is None and (local_date or relative_day):
            hour = int(leftover[0])
            day = relative_day or _resolve_day(local_date, today, weekday, original, tz)
            raise DateProblem(DateProblemKind.MORNING_OR_EVENING, original,
                              _both_halves(day, dt.time(hour % 12), tz))
        raise DateProblem(DateProblemKind.UNREADABLE, original)
    if local_date is None and relative_day is None:
        raise DateProblem(DateProblemKind.UNREADABLE, original)
    day = relative_day or _resolve_day(local_date, today, weekday, original, tz)
    if time is None:
        raise DateProblem(DateProblemKind.NO_TIME, original)
    if doubtful:
        raise DateProblem(DateProblemKind.MORNING_OR_EVENING, original, _both_halves(day, time, tz))
    moment = to_utc(day, time, tz, original=original)
    if not allow_past and moment <= now:
        suggestion = []
        if local_date is not None and local_date.year is None:
            try:
                suggestion = [to_utc(day.replace(year=day.year + 1), time, tz)]
            except (ValueError, DateProblem):
                suggestion = []
        raise DateProblem(DateProblemKind.PAST, original, suggestion)
    return moment


def _resolve_day(local_date: _LocalDate | None, today: dt.date, weekday: int | None, original: str,
                 tz: ZoneInfo) -> dt.date:
    assert local_date is not None
    year = local_date.year if local_date.year is not None else today.year
    try:
        day = dt.date(year, local_date.month, local_date.day)
    except ValueError:
        raise DateProblem(DateProblemKind.NO_SUCH_DAY, original) from None
    if weekday is not None and day.weekday() != weekday:
        noon = to_utc(day, dt.time(12), tz)
        raise DateProblem(DateProblemKind.WEEKDAY_MISMATCH, original, [noon],
                          weekday=dt.date(2018, 1, 1 + weekday).strftime("%A"))
    return day


def _both_halves(day: dt.date, time: dt.time, tz: ZoneInfo) -> list[dt.datetime]:
    readings = []
    for hour in (time.hour % 12, time.hour % 12 + 12):
        try:
            readings.append(to_utc(day, time.replace(hour=hour), tz))
        except DateProblem:
            continue
    return readings


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
    time, rest, doubtful = _take_time(work, original)
    if time is not None and not [word for word in rest.split() if word not in FILLER | {"until", "till", "to"}]:
        day = start.astimezone(tz).date()
        if doubtful:
            # An end of '2.00' after a 10am start can only be the afternoon.
            afternoon = to_utc(day, time.replace(hour=time.hour + 12), tz)
            if to_utc(day, time, tz) <= start < afternoon:
                return afternoon
            raise DateProblem(DateProblemKind.MORNING_OR_EVENING, original, _both_halves(day, time, tz))
        end = to_utc(day, time, tz, original=original)
    else:
        end = parse_moment(text, now=start, tz=tz, allow_past=True)
    if end <= start:
        raise DateProblem(DateProblemKind.END_BEFORE_START, original)
    return end


# ------------------------------------------------------------------ reminder rules


class Audience(enum.StrEnum):
    LIST = "list"  # everyone on the event's list
    GOING = "going"  # only those who said they are going


@dataclasses.dataclass(frozen=True)
class ReminderRule:
    """When a reminder goes out, relative to an event's start, and to whom.

    Either `days_before` with a local `at` time ('the day before at 19:00', on the calendar of
    the campaign's time zone), or `minutes_before` (real elapsed minutes, across clock changes).
    """

    audience: Audience
    days_before: int | None = None
    at: dt.time | None = None
    minutes_before: int | None = None

    def __post_init__(self) -> None:
        calendar_rule = self.days_before is not None and self.at is not None
        if calendar_rule == (self.minutes_before is not None):
            raise ValueError("a reminder rule is either days before at a time, or minutes before")

    def due_at(self, starts_at: dt.datetime, tz: ZoneInfo) -> dt.datetime:
        """When this rule reminds of an event starting at `starts_at` (aware), as aware UTC."""
        if self.minutes_before is not None:
            return starts_at.astimezone(dt.UTC) - dt.timedelta(minutes=self.minutes_before)
        assert self.days_before is not None and self.at is not None
        local_day = starts_at.astimezone(tz).date() - dt.timedelta(days=self.days_before)
        # fold=0 and the round trip settle a clock-change hour the same way every time.
        return dt.datetime.combine(local_day, self.at).replace(tzinfo=tz).astimezone(dt.UTC)

    def describe(self) -> str:
        to = "everyone" if self.audience is Audience.LIST else "going"
        if self.minutes_before is not None:
            hours, minutes = divmod(self.minutes_before, 60)
            if minutes == 0 and hours:
                amount = f"{hours} hour{'s' if hours != 1 else ''}"
            else:
                amount = f"{self.minutes_before} minutes"
            return f"{amount} before to {to}"
        assert self.days_before is not None and self.at is not None
        days = "1 day" if self.days_before == 1 else f"{self.days_before} days"
        return f"{days} before at {self.at:%H:%M} to {to}"


# Numbers of at most six digits: more is a typo, and int() of thousands of digits is refused.
_CALENDAR_RULE = re.compile(
    r"^(?:(\d{1,6}|the|a)\s+)?days?\s+before\s+(?:at\s+)?(\d{1,2})[:.](\d{2})\s+(?:to\s+)?(everyone|list|going)$"
)
_ELAPSED_RULE = re.compile(
    r"^(\d{1,6})\s*(minutes?|mins?|m|hours?|hrs?|h)\s+before\s+(?:to\s+)?(everyone|list|going)$"
)


def parse_reminder_rules(text: str) -> list[ReminderRule]:
    """Rules separated by ';' or new lines, e.g. '1 day before at 19:00 to everyone; 90 minutes
    before to going'. 'none' means no reminders. Raises ReminderRuleProblem (a ValueError, and
    only that) naming the rule not understood."""
    rules: list[ReminderRule] = []
    for part in re.split(r"[;\n]", text):
        words = _normalise(part)
        if not words or words == "none":
            continue
        calendar_rule = _CALENDAR_RULE.match(words)
        elapsed_rule = _ELAPSED_RULE.match(words)
        if calendar_rule:
            count = calendar_rule[1]
            days = int(count) if count and count.isdigit() else 1
            hour, minute = int(calendar_rule[2]), int(calendar_rule[3])
            if hour > 23 or minute > 59 or not 1 <= days <= 30:
                raise ReminderRuleProblem(part.strip())
            rule = ReminderRule(_audience(calendar_rule[4]), days_before=days, at=dt.time(hour, minute))
        elif elapsed_rule:
            amount = int(elapsed_rule[1])
            minutes = amount * 60 if elapsed_rule[2].startswith("h") else amount
            if not 1 <= minutes <= 30 * 24 * 60:
                raise ReminderRuleProblem(part.strip())
            rule = ReminderRule(_audience(elapsed_rule[3]), minutes_before=minutes)
        else:
            raise ReminderRuleProblem(part.strip())
        if rule not in rules:
            rules.append(rule)
    return rules


def _audience(word: str) -> Audience:
    return Audience.GOING if word == "going" else Audience.LIST
