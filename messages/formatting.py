"""Numbers, dates and times as the language being rendered writes them (Babel, CLDR data).

Templates use these as filters: `{{ n | number }}`, `{{ rate | decimal(1) }}`, `{{ moment | day(tz) }}`,
`{{ moment | clock(tz) }}`, `{{ moment | when(tz) }}` and `{{ moment | stamp(tz) }}`. Moments arrive
as aware datetimes (UTC in the database) and are shown in the time zone `tz` (the TIMEZONE setting).

English keeps the house style of the campaign's own leaflets, "Wednesday 21 March 2018, 8.15am";
every other language takes its own CLDR patterns for the time of day and its own names of days
and months, so nothing here needs changing when a language is added.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime, format_time
from babel.numbers import format_decimal

from messages.i18n import SOURCE_LANGUAGE, current_language, current_locale, own_name


def number(value: object) -> object:
    """A whole number with the language's grouping (12,345 in English); other values unchanged."""
    if isinstance(value, int) and not isinstance(value, bool):
        return format_decimal(value, locale=current_locale())
    return value


def decimal(value: float | int, digits: int = 1) -> str:
    """A figure rounded to `digits` places, always showing them (6.6, 59.0)."""
    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    return format_decimal(value, format=pattern, locale=current_locale())


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


FILTERS = {"number": number, "thousands": number, "decimal": decimal, "day": day, "short_day": short_day,
           "clock": clock, "when": when, "stamp": stamp, "calendar_day": calendar_day, "month_year": month_year,
           "weekday": weekday, "dated": dated, "zone": zone,
           # A language code as its own speakers name it ("bn" -> "বাংলা"), e.g. in a report's per-language counts.
           "language_name": own_name}
