"""Numbers, dates and times as the language being rendered writes them (Babel, CLDR data).

Templates use these as filters: `{{ n | number }}`, `{{ rate | decimal(1) }}`, `{{ moment | day(tz) }}`,
`{{ moment | clock(tz) }}`, `{{ moment | when(tz) }}` and `{{ moment | stamp(tz) }}`. Moments arrive
as aware datetimes (UTC in the database) and are shown in the time zone `tz` (the TIMEZONE setting).

English keeps the house style of the campaign's own leaflets, "Wednesday 21 March 2018, 8.15am";
every other language takes its own CLDR patterns for the time of day and its own names of days
and months, so nothing here needs changing when a language is added.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from functools import cache
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime, format_time

from messages.i18n import SOURCE_LANGUAGE, current_language, current_locale, locale_of, own_name


@dataclasses.dataclass(frozen=True, slots=True)
class NumberStyle:
    """How a language writes figures, read once from CLDR: its separators and its own grouping
    of whole numbers (3 then 3 in English, 3 then 2 in Bengali: 12,34,567)."""

    group: str
    decimal: str
    first_group: int
    other_groups: int


@cache
def number_style(code: str) -> NumberStyle:
    locale = locale_of(code)
    # Babel writes Latin digits and these symbols unless told otherwise; so do we.
    symbols = locale.number_symbols["latn"]
    first, other = locale.decimal_formats[None].grouping
    return NumberStyle(symbols["group"], symbols["decimal"], first, other)


def _grouped(digits: str, separator: str, first: int, other: int) -> str:
    if len(digits) <= first:
        return digits
    head, groups = digits[:-first], [digits[-first:]]
    while len(head) > other:
        groups.append(head[-other:])
        head = head[:-other]
    groups.append(head)
    return separator.join(reversed(groups))


# These two run about fifty times in every /stats answer, so they do by hand what Babel's
# format_decimal would do with the same CLDR symbols (it parses a pattern on every call), and
# tests/test_number_formatting.py holds them to Babel's output for every language shipped.

def number(value: object) -> object:
    """A whole number with the language's grouping (12,345 in English); other values unchanged."""
    if isinstance(value, int) and not isinstance(value, bool):
        style = number_style(current_language())
        text = _grouped(str(abs(value)), style.group, style.first_group, style.other_groups)
        return "-" + text if value < 0 else text
    return value


_QUANTA = tuple(Decimal(1).scaleb(-digits) for digits in range(10))


def decimal(value: float | int | Decimal, digits: int = 1) -> str:
    """A figure rounded to `digits` places, always showing them (6.6, 59.0). Rounding is Babel's:
    of the shortest decimal that reads back as the float, half to even (6.25 -> 6.2)."""
    style = number_style(current_language())
    exact = value if isinstance(value, Decimal) else Decimal(str(value))
    whole, _, fraction = f"{abs(exact).quantize(_QUANTA[digits]):f}".partition(".")
    # The pattern "#,##0.0" groups by threes in every language, as Babel reads it.
    text = _grouped(whole, style.group, 3, 3) + (style.decimal + fraction if digits else "")
    # A negative figure keeps its sign even when it rounds to zero ("-0.0"), as Babel writes it.
    return "-" + text if exact.is_signed() else text


def digits(value: float | int, unit: str) -> str:
    """A published figure's digits: counts whole, rates and days to one place unless whole (what
    storage.iapt.figures.format_number writes in English). A filter, not a macro: /stats writes
    about fifty of these an answer."""
    if unit == "count":
        return number(round(value))
    return decimal(value, 0 if value == int(value) else 1)


def calendar_day(value: dt.date) -> str:
    """A calendar date without weekday or time zone, as the figures' periods have: "21 March 2018"."""
    return format_date(value, "d MMMM y", locale=current_locale())


def month_year(value: dt.date, abbreviated: bool = False) -> str:
    """A month: "March 2018", or for a table "Mar 2018"."""
    if abbreviated and current_language() == SOURCE_LANGUAGE:
        # CLDR's British abbreviation is "Sept"; the house style keeps "Sep".
        return value.strftime("%b %Y")
    return format_date(value, "MMM y" if abbreviated else "MMMM y", locale=current_locale())


def _local(moment: dt.datetime, tz: ZoneInfo | dt.tzinfo) -> dt.datetime:
    return moment.astimezone(tz)


def day(moment: dt.datetime, tz: ZoneInfo | dt.tzinfo) -> str:
    """Weekday and date: "Wednesday 21 March 2018"."""
    return format_date(_local(moment, tz).date(), "EEEE d MMMM y", locale=current_locale())


def short_day(moment: dt.datetime, tz: ZoneInfo | dt.tzinfo) -> str:
    """For a button: "Wed 21 Mar 08:15"."""
    return format_datetime(_local(moment, tz), "EEE d MMM HH:mm", locale=current_locale())


def clock(moment: dt.datetime, tz: ZoneInfo | dt.tzinfo) -> str:
    """The time of day: "8.15am" / "10am" in English, the language's short time otherwise."""
    local = _local(moment, tz)
    if current_language() == SOURCE_LANGUAGE:
        text = local.strftime("%I%p" if local.minute == 0 else "%I.%M%p").lstrip("0")
        return text.lower()
    return format_time(local, "short", locale=current_locale())


def when(moment: dt.datetime, tz: ZoneInfo | dt.tzinfo) -> str:
    """ "Wednesday 21 March 2018, 8.15am"."""
    return f"{day(moment, tz)}, {clock(moment, tz)}"


def stamp(moment: dt.datetime, tz: ZoneInfo | dt.tzinfo) -> str:
    """A record's time, with a 24-hour clock: "21 March 2018 08:15"."""
    return format_datetime(_local(moment, tz), "d MMMM y HH:mm", locale=current_locale())


def weekday(moment: dt.datetime, tz: ZoneInfo | dt.tzinfo) -> str:
    """The name of the day alone: "Wednesday"."""
    return format_date(_local(moment, tz).date(), "EEEE", locale=current_locale())


def dated(moment: dt.datetime, tz: ZoneInfo | dt.tzinfo, pattern: str) -> str:
    """The moment by a CLDR `pattern`, for the record style of the broadcast messages that the filters
    above do not keep: "EEEE dd MMMM y" is "Friday 06 July 2018", "HH:mm" is "10:30". The two-digit
    day before a month's name is English house style only; other languages write the day as they
    count it (numeric dates such as "yyyy-MM-dd" keep theirs)."""
    if current_language() != SOURCE_LANGUAGE:
        pattern = pattern.replace("dd MMM", "d MMM")
    return format_datetime(_local(moment, tz), pattern, locale=current_locale())


def zone(moment: dt.datetime, tz: ZoneInfo | dt.tzinfo) -> str:
    """The zone in force at that moment: "BST" or "GMT" in English, the zone's full name otherwise
    (CLDR has no short names for most languages, and "+0100" explains nothing)."""
    width = "z" if current_language() == SOURCE_LANGUAGE else "zzzz"
    return format_datetime(_local(moment, tz), width, tzinfo=tz, locale=current_locale())


FILTERS = {"number": number, "thousands": number, "decimal": decimal, "digits": digits,
           "day": day, "short_day": short_day, "clock": clock, "when": when, "stamp": stamp,
           "calendar_day": calendar_day, "month_year": month_year, "weekday": weekday, "dated": dated, "zone": zone,
           # A language code as its own speakers name it ("bn" -> "বাংলা"), e.g. in a report's per-language counts.
           "language_name": own_name}
