"""British dates as organisers type them, questioned rather than guessed; reminder rules across clock changes."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from storage.dates import (
    Audience,
    DateProblem,
    DateProblemKind,
    ReminderRule,
    parse_end,
    parse_moment,
    parse_reminder_rules,
)

LONDON = ZoneInfo("Europe/London")
NOW = dt.datetime(2018, 3, 1, 12, 0, tzinfo=dt.UTC)
DEMO = dt.datetime(2018, 3, 21, 8, 15, tzinfo=dt.UTC)  # 8.15am GMT is 08:15 UTC


def moment(text: str, **kwargs) -> dt.datetime:
    return parse_moment(text, now=kwargs.pop("now", NOW), tz=LONDON, **kwargs)


def problem(text: str, **kwargs) -> DateProblem:
    with pytest.raises(DateProblem) as caught:
        moment(text, **kwargs)
    return caught.value


@pytest.mark.parametrize("text", [
    "21/03/2018 8.15am",
    "21 March 2018 08:15",
    "wed 21 march 8:15",
    "Wednesday 21st March 2018 at 8.15am",
    "21/3/18 08:15",
    "21.03.2018 8.15",
    "21-03-2018 8:15 am",
    "2018-03-21 08:15",
    "March 21st, 2018, 8:15a.m.",
    "on the 21st of March at 8.15 am",
])
def test_common_british_forms_of_the_demo_time(text):
    assert moment(text) == DEMO


def test_afternoon_noon_and_relative_days():
    assert moment("17 March 2018 2pm") == dt.datetime(2018, 3, 17, 14, 0, tzinfo=dt.UTC)
    assert moment("17 March 2018 noon") == dt.datetime(2018, 3, 17, 12, 0, tzinfo=dt.UTC)
    assert moment("tomorrow 19:30") == dt.datetime(2018, 3, 2, 19, 30, tzinfo=dt.UTC)


def test_summer_time_is_applied_to_local_times():
    # 10am on 17 April 2018 is BST, so 09:00 UTC.
    assert moment("17/04/2018 10am") == dt.datetime(2018, 4, 17, 9, 0, tzinfo=dt.UTC)


def test_a_time_that_could_be_morning_or_evening_is_questioned():
    question = problem("21 March 2018 7.30")
    assert question.kind is DateProblemKind.MORNING_OR_EVENING
    assert [r.hour for r in question.readings] == [7, 19]
    assert problem("21 March 2018 7").kind is DateProblemKind.MORNING_OR_EVENING
    # Written with a leading zero, or with am/pm, it is not in doubt.
    assert moment("21 March 2018 07:30").hour == 7
    assert moment("21 March 2018 7.30pm").hour == 19


def test_midnight_and_twelve_am_are_questioned():
    assert problem("21 March 2018 12am").kind is DateProblemKind.MIDNIGHT_OR_NOON
    assert problem("21 March 2018 midnight").kind is DateProblemKind.MIDNIGHT_OR_NOON


def test_a_weekday_that_contradicts_the_date_is_questioned():
    question = problem("thu 21 march 8:15")
    assert question.kind is DateProblemKind.WEEKDAY_MISMATCH
    assert question.weekday.astimezone(LONDON).strftime("%A") == "Thursday"
    assert question.readings[0].date() == dt.date(2018, 3, 21)


def test_month_first_dates_are_questioned_not_swapped():
    assert problem("03/21/2018 8:15").kind is DateProblemKind.MONTH_FIRST


def test_past_dates_are_questioned_and_a_day_without_a_year_is_the_next_one():
    # No year: the next 17 February, which on 1 March 2018 is in 2019.
    assert moment("17 February 10am") == dt.datetime(2019, 2, 17, 10, 0, tzinfo=dt.UTC)
    assert moment("1 march 1pm") == dt.datetime(2018, 3, 1, 13, 0, tzinfo=dt.UTC)  # later today
    assert moment("1 march 11am") == dt.datetime(2019, 3, 1, 11, 0, tzinfo=dt.UTC)  # earlier today
    assert moment("29/02 10am") == dt.datetime(2020, 2, 29, 10, 0, tzinfo=dt.UTC)  # the next leap day
    assert problem("17/02/2018 10am").kind is DateProblemKind.PAST
    assert problem("today 9am").kind is DateProblemKind.PAST
    assert moment("17/02/2018 10am", allow_past=True) == dt.datetime(2018, 2, 17, 10, 0, tzinfo=dt.UTC)
    # Imports of events already held keep a day without a year in the current year.
    assert moment("17 February 10am", allow_past=True) == dt.datetime(2018, 2, 17, 10, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize("text, kind", [
    ("31 April 2018 10am", DateProblemKind.NO_SUCH_DAY),
    ("21 March 2018", DateProblemKind.NO_TIME),
    ("next wednesday-ish", DateProblemKind.UNREADABLE),
    ("21 Marhc 2018 8am", DateProblemKind.UNREADABLE),
    ("21 March 2018 25:00", DateProblemKind.UNREADABLE),
    ("", DateProblemKind.UNREADABLE),
])
def test_bad_dates_say_what_is_wrong(text, kind):
    assert problem(text).kind is kind


def test_clock_change_hours_are_questioned():
    # 01:30 on 25 March 2018 does not exist in London; 01:30 on 28 October 2018 happens twice.
    assert problem("25 March 2018 01:30").kind is DateProblemKind.CLOCKS_GO_FORWARD
    twice = problem("28 October 2018 01:30")
    assert twice.kind is DateProblemKind.CLOCKS_GO_BACK
    assert twice.readings == [dt.datetime(2018, 10, 28, 0, 30, tzinfo=dt.UTC),
                              dt.datetime(2018, 10, 28, 1, 30, tzinfo=dt.UTC)]


def test_end_as_time_length_or_full_date():
    start = moment("17 March 2018 10am")
    assert parse_end("2pm", start=start, tz=LONDON) == start + dt.timedelta(hours=4)
    assert parse_end("14:00", start=start, tz=LONDON) == start + dt.timedelta(hours=4)
    assert parse_end("2.00", start=start, tz=LONDON) == start + dt.timedelta(hours=4)
    assert parse_end("4 hours", start=start, tz=LONDON) == start + dt.timedelta(hours=4)
    assert parse_end("1h30", start=start, tz=LONDON) == start + dt.timedelta(minutes=90)
    assert parse_end("18 March 2018 10am", start=start, tz=LONDON) == start + dt.timedelta(days=1)
    with pytest.raises(DateProblem) as caught:
        parse_end("9am", start=start, tz=LONDON)
    assert caught.value.kind is DateProblemKind.END_BEFORE_START


def test_reminder_rules_read_and_describe_themselves():
    rules = parse_reminder_rules("1 day before at 19:00 to everyone; 90 minutes before to going")
    assert rules == [ReminderRule(Audience.LIST, days_before=1, at=dt.time(19, 0)),
                     ReminderRule(Audience.GOING, minutes_before=90)]
    assert [rule.describe() for rule in rules] == ["1 day before at 19:00 to everyone",
                                                   "90 minutes before to going"]
    assert parse_reminder_rules("the day before 18.30 going\n2 hours before everyone") == [
        ReminderRule(Audience.GOING, days_before=1, at=dt.time(18, 30)),
        ReminderRule(Audience.LIST, minutes_before=120),
    ]
    assert parse_reminder_rules("none") == []
    with pytest.raises(ValueError, match="not understood"):
        parse_reminder_rules("sometime before")


def test_day_before_rule_fires_at_1900_bst_after_the_clocks_change():
    # Monday 26 March 2018 is the day after the change to BST; 19:00 BST on the Sunday is 18:00 UTC.
    event = moment("mon 26 march 2018 10am")
    rule = ReminderRule(Audience.LIST, days_before=1, at=dt.time(19, 0))
    due = rule.due_at(event, LONDON)
    assert due == dt.datetime(2018, 3, 25, 18, 0, tzinfo=dt.UTC)
    assert due.astimezone(LONDON).strftime("%H:%M %Z") == "19:00 BST"


def test_day_before_rule_fires_at_1900_gmt_before_the_clocks_change():
    event = moment("sun 25 march 2018 10am")
    due = ReminderRule(Audience.LIST, days_before=1, at=dt.time(19, 0)).due_at(event, LONDON)
    assert due.astimezone(LONDON).strftime("%H:%M %Z") == "19:00 GMT"


def test_minutes_before_rule_counts_real_minutes_across_the_change():
    # 03:00 BST on 25 March 2018 is 02:00 UTC; ninety real minutes earlier is 00:30 GMT,
    # two and a half hours earlier on the wall clock.
    event = moment("25 March 2018 03:00")
    due = ReminderRule(Audience.GOING, minutes_before=90).due_at(event, LONDON)
    assert event - due == dt.timedelta(minutes=90)
    assert due.astimezone(LONDON).strftime("%H:%M %Z") == "00:30 GMT"
    # And in autumn, across the repeated hour: 02:00 GMT less ninety minutes is 01:30 BST.
    autumn = moment("28 October 2018 02:00")
    due = ReminderRule(Audience.GOING, minutes_before=90).due_at(autumn, LONDON)
    assert autumn - due == dt.timedelta(minutes=90)
    assert due.astimezone(LONDON).strftime("%H:%M %Z") == "01:30 BST"


# ------------------------------------------------------------------ as people type them (issue 13)

# Wednesday 2 December 2026, 10:00 in London (GMT).
WEDNESDAY = dt.datetime(2026, 12, 2, 10, 0, tzinfo=dt.UTC)


def london(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=LONDON).astimezone(dt.UTC)


@pytest.mark.parametrize("text, expected", [
    ("next wednesday 8.15am", london(2026, 12, 9, 8, 15)),
    ("Next Wednesday at 8.15am", london(2026, 12, 9, 8, 15)),
    ("wed 8.15", london(2026, 12, 9, 8, 15)),  # 8.15 today has passed: next week's
    ("wed 11am", london(2026, 12, 2, 11, 0)),  # still to come today
    ("next wed 11am", london(2026, 12, 9, 11, 0)),  # 'next': never today
    ("friday 7pm", london(2026, 12, 4, 19, 0)),
    ("this friday 7pm", london(2026, 12, 4, 19, 0)),
    ("noon tomorrow", london(2026, 12, 3, 12, 0)),
    ("tomorrow midday", london(2026, 12, 3, 12, 0)),
    ("tonight 7.30", london(2026, 12, 2, 19, 30)),
    ("tonight 7", london(2026, 12, 2, 19, 0)),
    ("tonight at 10.30", london(2026, 12, 2, 22, 30)),
    ("this evening 6.45", london(2026, 12, 2, 18, 45)),
    ("tomorrow evening 7", london(2026, 12, 3, 19, 0)),
    ("friday afternoon 2.30", london(2026, 12, 4, 14, 30)),
    ("sat morning 7.30", london(2026, 12, 5, 7, 30)),
    ("in 2 hours", london(2026, 12, 2, 12, 0)),
    ("in 90 minutes", london(2026, 12, 2, 11, 30)),
    ("in an hour", london(2026, 12, 2, 11, 0)),
    ("in half an hour", london(2026, 12, 2, 10, 30)),
    ("in 3 days 6pm", london(2026, 12, 5, 18, 0)),
    ("21 march 8.15am", london(2027, 3, 21, 8, 15)),  # no year: the next 21 March
    ("21 December 8.15am", london(2026, 12, 21, 8, 15)),
])
def test_dates_as_people_type_them(text, expected):
    assert moment(text, now=WEDNESDAY) == expected


def test_in_two_hours_is_real_time_to_the_minute():
    assert moment("in 2 hours", now=WEDNESDAY + dt.timedelta(seconds=42)) == london(2026, 12, 2, 12, 0)
    assert problem("in 0 minutes", now=WEDNESDAY).kind is DateProblemKind.PAST


@pytest.mark.parametrize("text, kind, readings", [
    ("8.15", DateProblemKind.NO_DAY, []),
    ("7pm", DateProblemKind.NO_DAY, []),
    ("03/04", DateProblemKind.DAY_OR_MONTH, [london(2027, 4, 3, 12, 0), london(2027, 3, 4, 12, 0)]),
    ("03/04 10am", DateProblemKind.DAY_OR_MONTH, [london(2027, 4, 3, 12, 0), london(2027, 3, 4, 12, 0)]),
    ("wed 7.30", DateProblemKind.MORNING_OR_EVENING, [london(2026, 12, 9, 7, 30), london(2026, 12, 9, 19, 30)]),
    ("friday 7", DateProblemKind.MORNING_OR_EVENING, [london(2026, 12, 4, 7, 0), london(2026, 12, 4, 19, 0)]),
    ("tonight 8am", DateProblemKind.MORNING_OR_EVENING, [london(2026, 12, 2, 8, 0), london(2026, 12, 2, 20, 0)]),
    ("tonight 2.00", DateProblemKind.MORNING_OR_EVENING, [london(2026, 12, 2, 2, 0), london(2026, 12, 2, 14, 0)]),
    ("tonight 12.30", DateProblemKind.MIDNIGHT_OR_NOON, []),
    ("tomorrow fri 7pm", DateProblemKind.WEEKDAY_MISMATCH, [london(2026, 12, 3, 12, 0)]),
    ("next 7pm", DateProblemKind.UNREADABLE, []),
    ("next week", DateProblemKind.UNREADABLE, []),
])
def test_what_would_be_guessed_is_questioned(text, kind, readings):
    question = problem(text, now=WEDNESDAY)
    assert question.kind is kind
    assert question.readings == readings


def test_a_short_date_that_reads_one_way_only_is_read():
    assert moment("21/03 8.15am", now=WEDNESDAY) == london(2027, 3, 21, 8, 15)
    assert moment("04/04 8.15am", now=WEDNESDAY) == london(2027, 4, 4, 8, 15)
    # With a year, day first as dates are written in Britain.
    assert moment("03/04/2027 10am", now=WEDNESDAY) == london(2027, 4, 3, 10, 0)


# Friday 27 March 2026: the clocks go forward at 01:00 GMT on Sunday 29 March.
SPRING_FRIDAY = london(2026, 3, 27, 12, 0)
# Friday 23 October 2026: the clocks go back at 02:00 BST on Sunday 25 October.
AUTUMN_FRIDAY = london(2026, 10, 23, 12, 0)


def test_the_weekend_the_clocks_go_forward():
    assert moment("sunday 10am", now=SPRING_FRIDAY) == dt.datetime(2026, 3, 29, 9, 0, tzinfo=dt.UTC)  # BST
    assert moment("saturday 10am", now=SPRING_FRIDAY) == dt.datetime(2026, 3, 28, 10, 0, tzinfo=dt.UTC)  # GMT
    skipped = problem("sunday 1.30am", now=SPRING_FRIDAY)
    assert skipped.kind is DateProblemKind.CLOCKS_GO_FORWARD
    # What it could be a slip for: 00:30 GMT or 02:30 BST.
    assert skipped.readings == [dt.datetime(2026, 3, 29, 0, 30, tzinfo=dt.UTC),
                                dt.datetime(2026, 3, 29, 1, 30, tzinfo=dt.UTC)]
    # Real time across the change: two hours after 00:30 GMT is 03:30 BST.
    assert moment("in 2 hours", now=dt.datetime(2026, 3, 29, 0, 30, tzinfo=dt.UTC)) == \
        dt.datetime(2026, 3, 29, 2, 30, tzinfo=dt.UTC)


def test_the_weekend_the_clocks_go_back():
    assert moment("sunday 10am", now=AUTUMN_FRIDAY) == dt.datetime(2026, 10, 25, 10, 0, tzinfo=dt.UTC)  # GMT
    assert moment("saturday 10am", now=AUTUMN_FRIDAY) == dt.datetime(2026, 10, 24, 9, 0, tzinfo=dt.UTC)  # BST
    twice = problem("sun 1.30am", now=AUTUMN_FRIDAY)
    assert twice.kind is DateProblemKind.CLOCKS_GO_BACK
    assert twice.readings == [dt.datetime(2026, 10, 25, 0, 30, tzinfo=dt.UTC),  # 01:30 BST
                              dt.datetime(2026, 10, 25, 1, 30, tzinfo=dt.UTC)]  # 01:30 GMT
