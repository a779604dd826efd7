"""Property-based tests of every parser of what people type or upload (issue 11, "Fuzzing").

Each parser, given anything at all, either returns a well-formed value or raises its own
documented error; any other exception, or a hang, is a bug. The examples are drawn from two
sources: arbitrary text, and sequences of the words and numbers the parser looks for, so that
most examples get past the first check. Inputs that once broke a parser are kept as
`@example`s. The settings profile (same examples every run, no deadline) is in conftest.py.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import re
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import pytest
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st
from telegram import Chat, Message, MessageEntity, User

from bot.engines.composing import check_message_length, compose_message
from messages import render
from storage.broadcasts.status import TextTooLong
from storage.dates import (
    DateProblem,
    DateProblemKind,
    ReminderRule,
    ReminderRuleProblem,
    parse_end,
    parse_moment,
    parse_reminder_rules,
)
from storage.events.drafts import normalise_postcode, parse_capacity, parse_map_pin, parse_places_booked, split_postcode
from storage.events.problems import InvalidEventError
from storage.events.yaml_files import EventsFileError, read_events_file
from storage.iapt.report import View, parse_stats_request
from storage.iapt.search import AreaEntry, AreaFinder, Choices, Found, NotFound, full_form, search_key
from storage.import_problems import ImportRefused
from storage.lists.mailing_lists import InvalidListError, check_new_list
from storage.lists.models import MailingList
from storage.lists.organisers import parse_user_id
from storage.lists.subscriber_csv import parse_subscriber_csv
from storage.telegram_html import MAX_CAPTION_LENGTH, MAX_TEXT_LENGTH, visible_length
from tests.template_samples import import_problem_words

# Examples per parser: a few thousand for the cheap ones, fewer where one example does more work.
MANY = 2000
SOME = 500

ZONES = [ZoneInfo("Europe/London"), ZoneInfo("America/New_York"), ZoneInfo("Pacific/Kiritimati"),
         ZoneInfo("Pacific/Pago_Pago")]
NOW = dt.datetime(2018, 3, 1, 12, 0, tzinfo=dt.UTC)
LONDON = ZoneInfo("Europe/London")

moments = st.datetimes(min_value=dt.datetime(1990, 1, 1), max_value=dt.datetime(2100, 1, 1), timezones=st.just(dt.UTC))
# Digits that are not ASCII: some int() reads ('٣'), some it refuses although str.isdigit accepts them ('²').
ODD_DIGITS = ["²", "٣", "①", "𝟗", "໕"]
numbers = st.one_of(st.integers(0, 100).map(str), st.integers(0, 10**30).map(str), st.sampled_from(ODD_DIGITS))


def phrases(words: list[str], *, max_words: int = 8) -> st.SearchStrategy[str]:
    """Text made of `words`, numbers and a little noise, joined by spaces or by nothing."""
    token = st.one_of(st.sampled_from(words), numbers, st.text(max_size=3))
    return st.one_of(
        st.text(max_size=60),
        st.lists(token, max_size=max_words).map(" ".join),
        st.lists(token, max_size=max_words).map("".join),
    )


# ------------------------------------------------------------------ British dates and times

DATE_WORDS = [
    "21", "03", "2018", "18", "21/03/2018", "03/21/2018", "21.3.18", "21-03-2018", "2018-03-21", "21/3",
    "29/02", "31/04/2019", "0/0", "00/00/0000", "9999-12-31", "0001-01-01", "31/12/9999", "1/1/0001",
    "8.15am", "8.15", "8:15", "08:15", "12am", "12pm", "12 am", "7.30", "19:00", "23:59", "24:00", "1:60",
    "13pm", "0am", "noon", "midday", "midnight", "am", "pm", "a.m.", "p.m.",
    "today", "tonight", "tomorrow", "wed", "weds.", "wednesday", "sun", "march", "mar", "mar.", "sept",
    "21st", "3rd", "of", "at", "on", "the", "from", "until", "till", "to", "-", "/", ".", ",", ":",
    "hours", "hour", "h", "hrs", "minutes", "mins", "m", "and", "1h30", "2h", "90", "0 hours",
    "next", "in", "in 2 hours", "an", "half", "this", "evening", "morning", "afternoon", "night", "days",
    "in 3 days", "friday", "fri", "03/04", "12/12",
]
date_texts = phrases(DATE_WORDS)


def _check_moment(moment: dt.datetime) -> None:
    assert moment.tzinfo is not None and moment.utcoffset() == dt.timedelta(0)


@settings(max_examples=MANY)
@given(text=date_texts, now=moments, tz=st.sampled_from(ZONES), allow_past=st.booleans())
@example(text="21/03/2018 ²", now=NOW, tz=LONDON, allow_past=False)  # isdigit() but not int()
@example(text="31/12/9999 23:00", now=NOW, tz=ZoneInfo("America/New_York"), allow_past=False)  # UTC year 10000
@example(text="01/01/0001 05:00", now=NOW, tz=ZoneInfo("Pacific/Kiritimati"), allow_past=True)  # UTC year 0
def test_parse_moment_reads_a_moment_or_says_why_not(text, now, tz, allow_past):
    try:
        moment = parse_moment(text, now=now, tz=tz, allow_past=allow_past)
    except DateProblem as problem:
        for reading in problem.readings:
            _check_moment(reading)
        return
    _check_moment(moment)
    assert allow_past or moment > now


@settings(max_examples=MANY)
@given(text=date_texts, start=moments, tz=st.sampled_from(ZONES))
@example(text="99999999999 hours", start=NOW, tz=LONDON)  # past timedelta's range
@example(text="9" * 5000 + " minutes", start=NOW, tz=LONDON)  # past int()'s 4300 digits
@example(text="9999 hours", start=dt.datetime(9999, 12, 1, tzinfo=dt.UTC), tz=LONDON)  # past the year 9999
def test_parse_end_reads_an_end_after_the_start_or_says_why_not(text, start, tz):
    try:
        end = parse_end(text, start=start, tz=tz)
    except DateProblem:
        return
    _check_moment(end)
    assert end > start


LONDON_MOMENTS = st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2090, 1, 1),
                               timezones=st.just(dt.UTC))
WEEKDAY_NAMES = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


def _clock_change_or_none(call):
    """The moment `call` returns, or None when the typed local time is skipped or doubled by a
    clock change (which is asked, never guessed)."""
    try:
        return call()
    except DateProblem as problem:
        assert problem.kind in (DateProblemKind.CLOCKS_GO_FORWARD, DateProblemKind.CLOCKS_GO_BACK)
        assert len(problem.readings) == 2
        return None


@settings(max_examples=SOME)
@given(now=LONDON_MOMENTS, weekday=st.integers(0, 6), hour=st.integers(0, 23), minute=st.integers(0, 59),
       next_one=st.booleans())
def test_a_weekday_and_a_time_name_the_next_such_moment(now, weekday, hour, minute, next_one):
    text = f"{'next ' if next_one else ''}{WEEKDAY_NAMES[weekday]} {hour:02d}:{minute:02d}"
    moment = _clock_change_or_none(lambda: parse_moment(text, now=now, tz=LONDON))
    if moment is None:
        return
    local, today = moment.astimezone(LONDON), now.astimezone(LONDON).date()
    assert local.weekday() == weekday and (local.hour, local.minute) == (hour, minute)
    assert now < moment
    assert 0 <= (local.date() - today).days <= 7
    if next_one:
        assert local.date() > today


@settings(max_examples=SOME)
@given(now=LONDON_MOMENTS, amount=st.integers(1, 9999), unit=st.sampled_from(["hours", "minutes", "h", "mins"]))
def test_in_a_while_is_that_much_real_time_to_the_minute(now, amount, unit):
    moment = parse_moment(f"in {amount} {unit}", now=now, tz=LONDON)
    length = dt.timedelta(hours=amount) if unit.startswith("h") else dt.timedelta(minutes=amount)
    assert moment == (now + length).replace(second=0, microsecond=0)
    assert moment > now


@settings(max_examples=SOME)
@given(now=LONDON_MOMENTS, day=st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2000, 12, 31)),
       hour=st.integers(8, 23), minute=st.integers(0, 59))
def test_a_day_and_month_without_a_year_is_the_next_such_day(now, day, hour, minute):
    text = f"{day.day} {day.strftime('%B')} {hour}:{minute:02d}"
    moment = _clock_change_or_none(lambda: parse_moment(text, now=now, tz=LONDON))
    if moment is None:
        return
    local, local_now = moment.astimezone(LONDON), now.astimezone(LONDON).replace(tzinfo=None)
    assert (local.month, local.day, local.hour, local.minute) == (day.month, day.day, hour, minute)
    assert moment > now
    # No earlier year would still have been to come.
    for year in range(local_now.year, local.year):
        try:
            earlier = local.replace(year=year, tzinfo=None)
        except ValueError:  # 29 February
            continue
        assert earlier <= local_now


@settings(max_examples=SOME)
@given(now=LONDON_MOMENTS, hour=st.integers(1, 11), minute=st.integers(0, 59),
       words=st.sampled_from(["tonight", "this evening", "tomorrow evening", "friday evening", "tomorrow night"]))
def test_evening_words_make_a_time_without_am_or_pm_the_evening_one(now, hour, minute, words):
    try:
        moment = parse_moment(f"{words} {hour}.{minute:02d}", now=now, tz=LONDON)
    except DateProblem as problem:
        # Only the hours the words leave open (1 to 5: 'tonight 2.00'), a clock change, or a time passed.
        assert problem.kind in (DateProblemKind.MORNING_OR_EVENING, DateProblemKind.CLOCKS_GO_FORWARD,
                                DateProblemKind.CLOCKS_GO_BACK, DateProblemKind.PAST)
        if problem.kind is DateProblemKind.MORNING_OR_EVENING:
            assert hour < 6
        return
    local = moment.astimezone(LONDON)
    assert (local.hour, local.minute) == (hour + 12, minute) and hour >= 6
    assert moment > now


@settings(max_examples=SOME)
@given(now=moments, first=st.integers(1, 12), second=st.integers(1, 12), zero=st.booleans(),
       time=st.sampled_from(["", " 10am", " 19:00", " 8.15"]))
def test_a_short_date_that_reads_either_way_is_always_asked(now, first, second, zero, time):
    text = f"{first:02d}/{second:02d}" if zero else f"{first}/{second}"
    try:
        moment = parse_moment(text + time, now=now, tz=LONDON)
    except DateProblem as problem:
        if first != second:
            assert problem.kind is DateProblemKind.DAY_OR_MONTH and len(problem.readings) == 2
        return
    assert first == second, f"{text!r} was read as {moment} without asking"


@settings(max_examples=SOME)
@given(now=moments, hour=st.integers(0, 23), minute=st.integers(0, 59), half=st.sampled_from(["", "am", "pm"]),
       separator=st.sampled_from([".", ":"]))
def test_a_time_with_no_day_is_always_asked(now, hour, minute, half, separator):
    with pytest.raises(DateProblem):
        parse_moment(f"{hour}{separator}{minute:02d}{half}", now=now, tz=LONDON)


# ------------------------------------------------------------------ reminder rules

RULE_WORDS = ["1", "2", "the", "a", "day", "days", "before", "at", "19:00", "9.30", "25:00", "to", "everyone",
              "list", "going", "minutes", "minute", "mins", "m", "hours", "hour", "hrs", "h", "90", "0", "31",
              "none", ";", "\n", "999999", "43200", "721"]


@settings(max_examples=MANY)
@given(text=phrases(RULE_WORDS, max_words=10))
@example(text="9" * 5000 + " minutes before to going")  # int() refuses more than 4300 digits
@example(text="99999999999999999999 days before at 19:00 to everyone")
def test_reminder_rules_parse_and_read_back_or_name_the_rule(text):
    try:
        rules = parse_reminder_rules(text)
    except ValueError as problem:
        # Only the refusal that names the rule, never another ValueError from inside.
        assert type(problem) is ReminderRuleProblem and problem.rule.strip() and problem.rule in text
        return
    assert all(isinstance(rule, ReminderRule) for rule in rules)
    # What the bot shows of a rule is what it reads back, and every rule has a moment.
    assert parse_reminder_rules("; ".join(rule.describe() for rule in rules)) == rules
    for rule in rules:
        _check_moment(rule.due_at(NOW, LONDON))


# ------------------------------------------------------------------ /stats questions

STATS_WORDS = ["tower", "hamlets", "nhs", "ccg", "icb", "stp", "region", "service", "trend", "trends", "chart",
               "ethnicity", "by ethnicity", "ethnic groups", "history", "2018-19", "2018/19", "2018–2019", "2018-20",
               "2019", "20٣٤", "2099-00", "the", "&", "'", ".", "-", "st. john's", "E38000186", "08C"]
AREAS = [
    AreaEntry(1, "CCG", "08C", "NHS Tower Hamlets CCG", aliases=("Tower Hamlets",), codes=("E38000186",)),
    AreaEntry(2, "ICB", "QMF", "NHS North East London Integrated Care Board"),
    AreaEntry(3, "Provider", "RWK", "Tower Hamlets Talking Therapies"),
    AreaEntry(4, "CCG", "07T", "NHS Hammersmith & Fulham CCG"),
    AreaEntry(5, "Commissioning Region", "Y56", "London Commissioning Region"),
]
FINDER = AreaFinder(AREAS, preferred={1: [2], 3: [1]})


@settings(max_examples=MANY)
@given(text=phrases(STATS_WORDS))
@example(text="tower hamlets 20٣٤-٣٥ trend")  # digits that are not ASCII
def test_stats_questions_always_split_into_area_year_and_view(text):
    request = parse_stats_request(text)
    assert request.area_text == " ".join(request.area_text.split())
    assert isinstance(request.view, View)
    assert request.year is None or re.fullmatch(r"20\d\d-\d\d", request.year)
    assert request.bare_year is None or 2000 <= request.bare_year <= 2099
    assert request.year is None or request.bare_year is None


@settings(max_examples=SOME)
@given(text=phrases(STATS_WORDS))
def test_area_search_answers_every_query(text):
    full_form(text), search_key(text)
    found = FINDER.find(text)
    if isinstance(found, Found):
        assert found.area in AREAS
    elif isinstance(found, Choices):
        assert 2 <= len(found.candidates) <= 6
    else:
        assert isinstance(found, NotFound) and len(found.nearest) <= 3


# ------------------------------------------------------------------ subscriber CSV imports

csv_cells = st.one_of(numbers, st.sampled_from(["chat_id", "id", "-100123", " 42 ", "", "0", "1e5", "1_000"]),
                      st.text(max_size=8))
csv_files = st.one_of(
    st.text(max_size=200),
    st.lists(st.lists(csv_cells, max_size=3), max_size=8).map(
        lambda rows: "\n".join(",".join(row) for row in rows)),
    st.lists(st.lists(csv_cells, max_size=3), max_size=8).map(
        lambda rows: (lambda out: ([csv.writer(out).writerow(row) for row in rows], out.getvalue())[1])(io.StringIO())),
)


@settings(max_examples=MANY)
@given(text=csv_files)
@example(text="1\n" + "9" * 200_000)  # a cell past the csv module's field size limit
@example(text='"12\r\n3"')
def test_subscriber_csv_gives_chat_ids_or_every_bad_line(text):
    try:
        ids = parse_subscriber_csv(text)
    except ImportRefused as problem:
        words = [import_problem_words(p) for p in problem.problems]
        assert problem.problems and all(p.line >= 1 for p in problem.problems) and all(words)
        assert len("; ".join(f"line {p.line}: {w}" for p, w in zip(problem.problems, words, strict=True))) \
            <= 200 * len(problem.problems)
        return
    assert all(isinstance(chat_id, int) and 0 < abs(chat_id) < 10**15 for chat_id in ids)


# ------------------------------------------------------------------ YAML event files

FIELD_NAMES = ["key", "list", "title", "venue", "address", "postcode", "meeting_point", "nearest_station", "map",
               "details", "contact", "capacity", "reminders", "dates", "start", "end", "booked_elsewhere",
               "cancelled", "latitude", "longitude", "events", "unknown"]
yaml_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**400), 10**400), st.floats(), st.text(max_size=12),
    st.sampled_from(["2018-03-17 14:00", "17/03/2018 2pm", "16:00", "2 hours", "W11 2AY", "1 day before at 19:00 "
                     "to everyone", "protests"]),
    st.datetimes(min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30)), st.dates(),
)
yaml_values = st.recursive(
    yaml_scalars,
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(st.sampled_from(FIELD_NAMES), children, max_size=6)),
    max_leaves=25,
)
GOOD_EVENT = {"key": "demo", "list": "protests", "title": "Demo", "venue": "Hall", "address": "1 Road, London",
              "postcode": "W11 2AY", "dates": [{"start": "2018-03-17 14:00", "end": "16:00"}]}
event_documents = st.one_of(
    yaml_values,
    st.lists(st.fixed_dictionaries({}, optional={name: yaml_values for name in FIELD_NAMES[:14]}), max_size=3)
    .map(lambda found: {"events": found}),
    st.dictionaries(st.sampled_from(FIELD_NAMES[:14]), yaml_values, max_size=4)
    .map(lambda changes: {"events": [{**GOOD_EVENT, **changes}]}),
)
event_files = st.one_of(st.text(max_size=200), event_documents.map(lambda doc: yaml.safe_dump(doc, allow_unicode=True)))


def _laughs(levels: int, width: int, *, field: str) -> str:
    """A 'billion laughs' file: each anchor is `width` aliases of the one before."""
    lines = ["a0: &a0 [lol]"]
    for level in range(1, levels + 1):
        lines.append(f"a{level}: &a{level} [{', '.join([f'*a{level - 1}'] * width)}]")
    lines.append(f"events: [{{{field}: *a{levels}}}]")
    return "\n".join(lines)


@settings(max_examples=SOME)
@given(text=event_files)
@example(text=_laughs(9, 9, field="key"))  # 387 million items once the key is printed in a problem
@example(text=_laughs(9, 9, field="reminders"))  # ... or once the rules are joined for reading
@example(text="events: [{key: k, map: {latitude: " + "9" * 400 + ", longitude: 0}}]")  # float() overflows
@example(text="events: [" + "[" * 5000 + "]" * 5000 + "]")  # deep nesting
@example(text="events: [{key: k, reminders: 1}]")  # a number where rules go was iterated
def test_event_files_give_events_or_every_problem(text):
    try:
        found = read_events_file(text, tz=LONDON, now=NOW, default_rules=[])
    except EventsFileError as problem:
        assert problem.problems
        # A report the size of the file, not of what its aliases would expand to.
        told = render("cli_events_rejected.txt", path="events.yaml", problems=problem.problems)
        assert len(told) <= 3 * len(text) + 300 * len(problem.problems)
        return
    for item in found:
        assert item.draft.key and item.draft.dates
        for date in item.draft.dates:
            _check_moment(date.starts_at)
            assert date.ends_at > date.starts_at


# ------------------------------------------------------------------ venues, map pins, places

@settings(max_examples=MANY)
@given(text=phrases(["35 Powis Square", "London", "W11 2AY", "w112ay", "EC1A 1BB", "SW1A", "1AA", ",", "\n"]))
def test_addresses_split_into_street_and_postcode_or_ask_for_one(text):
    try:
        address, postcode = split_postcode(text)
    except InvalidEventError:
        return
    assert normalise_postcode(postcode) == postcode
    assert len(address) < len(text.strip())


@settings(max_examples=MANY)
@given(text=phrases(["51.4939", "-0.183", ",", ";", " ", "-", ".", "90", "180", "-90.0001", "00"]))
def test_map_pins_are_on_the_map_or_refused(text):
    try:
        latitude, longitude = parse_map_pin(text)
    except InvalidEventError:
        return
    assert -90 <= latitude <= 90 and -180 <= longitude <= 180


@settings(max_examples=MANY)
@given(text=phrases(["no limit", "none", "unlimited", "-", "0", "1", "40", " "], max_words=2))
@example(text="²")  # str.isdigit accepts it, int() does not
@example(text="9" * 5000)  # int() refuses more than 4300 digits
@example(text="99999999999999999999")  # past the database's integer
def test_capacity_is_a_number_of_places_or_no_limit(text):
    try:
        places = parse_capacity(text)
    except InvalidEventError:
        return
    assert places is None or 1 <= places < 2**31


@settings(max_examples=MANY)
@given(text=phrases(["0", "1", "40", " ", "-1"], max_words=2))
@example(text="²")  # str.isdigit accepts it, int() does not: /editevent's 'booked elsewhere' crashed
@example(text="99999999999999999999")  # past the database's integer
def test_places_booked_elsewhere_are_a_number_of_places_or_refused(text):
    try:
        places = parse_places_booked(text)
    except InvalidEventError:
        return
    assert 0 <= places < 2**31


# ------------------------------------------------------------------ /organiser and /newlist arguments

@settings(max_examples=MANY)
@given(text=phrases(["123456789", "-5", "--5", "+5", "0", "4503599627370496"], max_words=2))
@example(text="²")  # str.isdigit accepts it, int() does not
@example(text="--5")
@example(text="99999999999999999999999")  # past the database's integer
def test_organiser_user_ids_are_telegram_user_ids_or_refused(text):
    user_id = parse_user_id(text)
    assert user_id is None or 1 <= user_id <= 2**52


@settings(max_examples=MANY)
@given(text=phrases(["protests", "Protests and demos", "a-b_c", "_x", "İ", "x" * 41, "\n"], max_words=6))
def test_new_list_arguments_make_a_list_or_say_why_not(text):
    # As /newlist reads them: the first word is the short name, the rest the title.
    args = text.split()
    if len(args) < 2:
        return
    try:
        check_new_list(slug=args[0].lower(), title=" ".join(args[1:]))
    except InvalidListError as problem:
        assert str(render("newlist_invalid.html", problem=problem)).strip()
        return
    assert re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,39}", args[0].lower())


# ------------------------------------------------------------------ broadcast texts

ALLOWED_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a", "tg-emoji",
                "code", "pre", "blockquote"}
SIMPLE_ENTITIES = ["bold", "italic", "underline", "strikethrough", "spoiler", "code", "blockquote",
                   "expandable_blockquote", "url", "mention", "hashtag", "email", "bot_command"]
FOOTER_LIST = MailingList(id=1, slug="protests", title="Protests & <demos>")


def _utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class _TagChecker(HTMLParser):
    """Fails on a tag Telegram does not accept, or one closed out of order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []

    def handle_starttag(self, tag, attrs):
        assert tag in ALLOWED_TAGS, tag
        self.open.append(tag)

    def handle_endtag(self, tag):
        assert self.open and self.open.pop() == tag, tag


# Telegram's rules for entities over one another: nothing inside code or pre, no link inside a
# link, no blockquote inside a blockquote, and no block (a blockquote) inside a link. A message
# that breaks them is refused by the checker with its position (tests/test_strict_api.py).
_HOLDS_NOTHING = {"code", "pre"}
_LINKS = {"text_link", "text_mention", "url", "email", "mention", "hashtag", "bot_command", "custom_emoji"}
_QUOTES = {"blockquote", "expandable_blockquote"}


def _may_share_a_span(first: str, second: str) -> bool:
    if first in _HOLDS_NOTHING or second in _HOLDS_NOTHING:
        return False
    if {first, second} & _LINKS and {first, second} & _QUOTES:
        return False
    return not any(first in family and second in family for family in (_LINKS, _QUOTES))


@st.composite
def organiser_messages(draw) -> Message:
    """A message as Telegram delivers it: text with entities that nest but never half-overlap."""
    text = draw(st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=300)
                | st.text(alphabet="ab <>&\"'\n😀", max_size=40)
                | st.integers(4000, 4200).map(lambda size: "x" * size))
    # Entities start and end between characters, never inside a surrogate pair.
    boundaries = [0]
    for character in text:
        boundaries.append(boundaries[-1] + _utf16_length(character))
    cuts = sorted(draw(st.sets(st.sampled_from(boundaries), max_size=6)))
    entities = []
    for start, end in zip(cuts, cuts[1:], strict=False):
        if end == start or not draw(st.booleans()):
            continue
        span_kinds: list[str] = []
        for _ in range(draw(st.integers(1, 2))):  # sometimes two entities over the same span
            kind = draw(st.sampled_from([*SIMPLE_ENTITIES, "pre", "text_link", "custom_emoji", "text_mention"]))
            if span_kinds and not _may_share_a_span(span_kinds[0], kind):
                continue  # Telegram never sends that pair (Bot API, "MessageEntity"), so neither do we
            span_kinds.append(kind)
            extra = {}
            if kind == "pre":
                # Telegram's languages are names like 'python' or 'c++'; python-telegram-bot does not
                # escape them (nor URLs), so a quote in one would break the HTML it makes.
                extra["language"] = draw(st.none() | st.text(alphabet="abcpy+#-", max_size=8))
            elif kind == "text_link":
                extra["url"] = draw(st.sampled_from(["https://example.org/?a=1&b=<2>", "https://x.org/%22q%22"]))
            elif kind == "custom_emoji":
                extra["custom_emoji_id"] = "5368324170671202286"
            elif kind == "text_mention":
                extra["user"] = User(7, "Ann & <Bob>", False)
            entities.append(MessageEntity(kind, start, end - start, **extra))
    return Message(1, dt.datetime(2018, 3, 1, tzinfo=dt.UTC), Chat(1, "private"), text=text, entities=entities)


@settings(max_examples=SOME)
@given(message=organiser_messages(), media_kind=st.sampled_from([None, "photo", "document"]))
@example(message=Message(1, dt.datetime(2018, 3, 1, tzinfo=dt.UTC), Chat(1, "private"), text="0",
                         entities=[MessageEntity("text_link", 0, 1, url="https://example.org/?a=1&b=<2>")]),
         media_kind=None)  # a '>' inside href="..." ended the tag early when counting
def test_broadcast_texts_keep_their_length_and_are_refused_only_when_too_long(message, media_kind):
    """The organiser's formatting becomes Telegram HTML that counts as long as what they typed;
    the length check refuses exactly the texts that, with the footer, pass Telegram's limit."""
    text_html = message.text_html
    checker = _TagChecker()
    checker.feed(text_html)
    checker.close()
    assert checker.open == []
    assert visible_length(text_html) == _utf16_length(message.text)
    footer = compose_message(text="", media_kind=None, media_file_id=None, mailing_list=FOOTER_LIST).text
    shown = _utf16_length(message.text) + _utf16_length(html.unescape(re.sub(r"<[^>]+>", "", footer)))
    limit = MAX_CAPTION_LENGTH if media_kind else MAX_TEXT_LENGTH
    try:
        check_message_length(text=text_html, media_kind=media_kind, mailing_list=FOOTER_LIST)
    except TextTooLong as problem:
        assert problem.length == shown > limit
        return
    assert shown <= limit
