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
    assert question.weekday == "Thursday"
    assert question.readings[0].date() == dt.date(2018, 3, 21)


def test_month_first_dates_are_questioned_not_swapped():
    assert problem("03/21/2018 8:15").kind is DateProblemKind.MONTH_FIRST


def test_past_dates_are_questioned_and_next_year_offered():
    question = problem("17 February 10am")
    assert question.kind is DateProblemKind.PAST
    assert question.readings == [dt.datetime(2019, 2, 17, 10, 0, tzinfo=dt.UTC)]
    assert problem("17/02/2018 10am").kind is DateProblemKind.PAST
    assert moment("17/02/2018 10am", allow_past=True) == dt.datetime(2018, 2, 17, 10, 0, tzinfo=dt.UTC)


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
