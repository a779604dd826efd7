"""One bad row must not stop the rest (issue 11): bounds on every event field at every way in,
and a reminder, notice or /stats answer that cannot be made from what a row holds is reported
and skipped, never a sweep that rolls back for ever or a start-up that fails."""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import re
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text, update

from bot.engines.reminders import compose_promoted
from messages import render
from storage.broadcasts.tables import Broadcast
from storage.dates import parse_reminder_rules
from storage.events import catalogue, drafts, rsvps, tables, yaml_files
from storage.events.cards import DateCard
from storage.events.tables import Event, EventDate, Reminder
from storage.iapt.tables import IaptArea, IaptBreakdown, IaptFigure, IaptMeasure, IaptPeriod
from storage.lists.mailing_lists import MAX_TITLE_LENGTH as MAX_LIST_TITLE_LENGTH
from storage.lists.models import ChatKind, MailingList
from storage.telegram_html import visible_length
from tests.builders import make_list, subscribe
from tests.conftest import ORGANISER_ID
from tests.iapt_support import loaded_database, requires_data
from tests.test_events import date_ids, import_example, small_event, utc
from tests.test_events_reminders import GOING, SUPPORTERS, all_delivered, bot_running, reminders_to

MESSAGE_LIMIT = 4096
EMOJI = "😀"  # outside the Basic Multilingual Plane: two UTF-16 units, as Telegram counts it
OVER_LONG_VENUE = "Hall " * 1200  # 6000 characters: a reminder of it cannot be one message


def at_most(limit: int) -> str:
    """The longest value a field of `limit` UTF-16 units takes, all of it wide characters."""
    return EMOJI * (limit // 2) + "x" * (limit % 2)


# ------------------------------------------------------------------ the bounds fit Telegram's limit


def test_every_event_message_with_every_field_at_its_longest_fits_one_telegram_message():
    tz = ZoneInfo("Europe/London")
    event = Event(id=1, list_id=1, capacity=999_999,
                  **{attribute: at_most(limit) for attribute, limit in drafts.FIELD_LIMITS.items()})
    event.postcode = "EC1A 1BB"  # normalised: at most 8 characters of A-Z, 0-9 and a space
    assert all(drafts.utf16_length(getattr(event, attribute)) == limit
               for attribute, limit in drafts.FIELD_LIMITS.items() if attribute != "postcode")
    # Ending the next day makes the longest span; the most a count and a status line can say.
    date = EventDate(id=1, event_id=1, starts_at=utc(2018, 9, 26, 10, 15), ends_at=utc(2018, 9, 27, 11, 45),
                     status=tables.DateStatus.CHANGED.value, booked_elsewhere=999_999)
    list_title = EMOJI * MAX_LIST_TITLE_LENGTH  # a list's title is bounded in characters
    card = DateCard(event, date, list_title, going=999_999, waiting=999_999, not_going=999_999, my_status="waiting",
                    my_waiting_position=999_999,
                    reminders={status.value: 999_999 for status in tables.ReminderStatus})
    # Reminders and notices go out as broadcasts, with the list's footer under them.
    footer = render("broadcast_footer.html", mailing_list=MailingList(id=1, slug="s" * 40, title=list_title),
                    support_pointer=True)  # the longer footer, when SUPPORT_POINTER_UNDER_ALERTS is on
    as_broadcast = {
        "event_reminder.html": dict(event=event, date=date, tz=tz, going_only=True),
        "event_moved.html": dict(event=event, date=date, old_starts_at=utc(2018, 9, 19, 10, 15), tz=tz),
        "event_cancelled.html": dict(event=event, date=date, tz=tz),
        "event_promoted.html": dict(event=event, date=date, tz=tz),
    }
    lengths = {name: visible_length(f"{render(name, **context)}\n\n{footer}") for name, context in as_broadcast.items()}
    lengths["event_card.html"] = visible_length(render("event_card.html", card=card, tz=tz, organiser=True))
    # A place offered (held for them, or open to all) says more about the deadline, not less.
    for open_to_all in (False, True):
        offer = tables.PlaceOffer(open_to_all=open_to_all, expires_at=utc(2018, 9, 26, 8, 15))
        offered = dataclasses.replace(card, my_offer=offer)
        lengths[f"event_card.html, offered ({open_to_all=})"] = visible_length(
            render("event_card.html", card=offered, tz=tz, organiser=True))
    for open_to_all in (False, True):
        notice = render("event_place_offered.html", event=event, date=date, tz=tz, expires_at=date.starts_at,
                        open_to_all=open_to_all)
        lengths[f"event_place_offered.html ({open_to_all=})"] = visible_length(f"{notice}\n\n{footer}")
    assert all(length <= MESSAGE_LIMIT for length in lengths.values()), lengths
    # The card, the longest, really is near the limit: the bounds are not vacuous.
    assert lengths["event_card.html"] > MESSAGE_LIMIT * 0.9, lengths


def test_reports_to_organisers_fit_one_message_however_many_and_however_long():
    from bot.engines.reminders import REPORT_LISTED
    from storage.dates import Audience, ReminderRule
    from storage.events.reminders import DueReminder, FailedReminder

    tz = ZoneInfo("Europe/London")
    event = Event(id=1, list_id=1, title=EMOJI * 5000, venue_name="v", address="a", postcode="W11 2AY")
    date = EventDate(id=1, event_id=1, starts_at=utc(2018, 9, 26, 10, 15), ends_at=utc(2018, 9, 26, 11, 15))
    rule = ReminderRule(Audience.LIST, days_before=14, at=dt.time(19, 0))
    many = [DueReminder(number, event, date, rule) for number in range(500)]
    failed = [FailedReminder(due, "x" * tables.MAX_FAILURE_LENGTH) for due in many]
    for template, context in (("event_reminders_missed.html", {"missed": many}),
                              ("event_reminders_failed.html", {"failed": failed})):
        text = render(template, tz=tz, listed=REPORT_LISTED, **context)
        assert visible_length(text) <= MESSAGE_LIMIT, template
        assert "and 492 more" in text


# ------------------------------------------------------------------ every way in checks every field


@pytest.fixture
async def lists(database):
    await make_list(database, "protests", "Protests and demos")
    await make_list(database, "encounter-groups", "Free encounter groups")


async def test_newevent_refuses_an_over_long_venue_naming_it_and_never_cuts_it(database, telegram, clock, settings,
                                                                              lists):
    async with bot_running(database, telegram, clock, settings) as bot:
        organiser = bot.person(ORGANISER_ID)
        await organiser.send("/newevent")
        await organiser.press("Protests and demos")
        await organiser.say("Demo")
        await organiser.say("wed 21 march 8:15")
        await organiser.say("10am")
        await organiser.press("No more dates")
        refused = await organiser.say(EMOJI * 101)  # 202 units: two more than a venue may have
        assert "the venue has 202 characters, more than the 200 allowed" in refused
        assert "postcode" in await organiser.say(EMOJI * 100)  # exactly 200 is accepted
        assert "the address has 301 characters" in await organiser.say("x" * 294 + " London W11 2AY")
        assert "meet" in await organiser.say("35 Powis Square, London W11 2AY")
        assert "the meeting point has 201 characters" in await organiser.say("m" * 201)
        assert "station" in await organiser.say("skip")
        assert "the nearest station has 101 characters" in await organiser.say("s" * 101)
        assert "map pin" in await organiser.say("skip")
        assert "Anything else" in await organiser.say("skip")
        assert "the details have 1601 characters, more than the 1600 allowed" in await organiser.say("d" * 1601)
        assert "step-free access" in await organiser.say("skip")
        assert "the accessibility has 201 characters" in await organiser.say("a" * 201)
        assert "Food and drink" in await organiser.say("skip")
        assert "the refreshments have 151 characters" in await organiser.say("r" * 151)
        assert "What does it cost?" in await organiser.say("skip")
        assert "the cost has 101 characters" in await organiser.say("c" * 101)
        assert "contact" in await organiser.say("skip")
        assert "the contact has 201 characters" in await organiser.say("c" * 201)


async def test_editevent_refuses_an_over_long_field_naming_it(database, telegram, clock, settings, lists):
    [date_id] = [await small_event(database, clock, settings, starts_at=utc(2018, 3, 21, 10))]
    async with bot_running(database, telegram, clock, settings) as bot:
        organiser = bot.person(ORGANISER_ID)
        await organiser.send("/editevent")
        await organiser.press("Small group")
        await organiser.press("Contact")
        assert "the contact has 400 characters, more than the 200 allowed" in await organiser.say(EMOJI * 200)
        await organiser.say("Ana, 020 7946 0000")
    async with database.transaction() as session:
        event, _date = await catalogue.get_event_date(session, event_date_id=date_id)
    assert event.contact == "Ana, 020 7946 0000"


def test_the_yaml_import_refuses_an_over_long_field_naming_it(settings, clock):
    document = """
events:
  - key: demo
    list: protests
    title: Demo
    venue: The Tabernacle
    address: 35 Powis Square, London
    postcode: W11 2AY
    meeting_point: "%s"
    dates:
      - start: 2018-03-21 08:15
        end: 2018-03-21 10:00
""" % ("m" * 201)
    with pytest.raises(yaml_files.EventsFileError) as refused:
        yaml_files.read_events_file(document, tz=settings.tz, now=clock.now(),
                                    default_rules=parse_reminder_rules(settings.reminder_rules))
    told = render("cli_events_rejected.txt", path="events.yaml", problems=refused.value.problems)
    assert "the meeting point has 201 characters, more than the 200 allowed" in told


# ------------------------------------------------------------------ a bad row written straight in


async def write_straight_in(db, date_id: int, **values: str) -> None:
    """Bypasses every check, as a hand edit or an older version of the bot could have."""
    async with db.transaction() as session:
        if db.dialect == "postgresql":
            # There the column's width refuses such a value already; a column made wider by hand
            # (or by an older schema) is what the bot must survive.
            for column in values:
                await session.execute(text(f"ALTER TABLE events ALTER COLUMN {column} TYPE TEXT"))
        event, _date = await catalogue.get_event_date(session, event_date_id=date_id)
        await session.execute(update(Event).where(Event.id == event.id).values(**values))


async def reminder_rows(db, date_id: int) -> list[tuple[str, str | None]]:
    async with db.transaction() as session:
        rows = await session.scalars(select(Reminder).where(Reminder.event_date_id == date_id)
                                     .order_by(Reminder.due_at))
        return [(row.status, row.failure) for row in rows]


def failure_reports(server) -> list[str]:
    return [m["text"] for m in server.sent_to(ORGANISER_ID) if "could not be sent" in m.get("text", "")]


@pytest.fixture
async def demo_and_bad_event(database, clock, settings, lists):
    """The demo (three supporters, one going) and, on the same list and with the same reminders
    (the evening before at 7pm), an event whose venue was written over-long straight into the
    database. Its reminder is due first, so it comes first in every sweep."""
    await import_example(database, clock, settings)
    for chat_id in SUPPORTERS:
        await subscribe(database, chat_id, "protests")
    [demo_date] = await date_ids(database, "demo-2018-03-21")
    bad_date = await small_event(database, clock, settings, slug="protests", starts_at=utc(2018, 3, 21, 8),
                                 rules="1 day before at 18:00 to everyone")
    await write_straight_in(database, bad_date, venue_name=OVER_LONG_VENUE)
    async with database.transaction() as session:
        await rsvps.answer_rsvp(session, event_date_id=demo_date, telegram_id=GOING, kind=ChatKind.PRIVATE,
                                going=True, now=clock.now(), compose_promoted=compose_promoted(settings.tz))
    return demo_date, bad_date


async def test_a_reminder_that_cannot_be_composed_fails_alone_and_organisers_hear_once(
        database, telegram, clock, settings, demo_and_bad_event):
    demo_date, bad_date = demo_and_bad_event
    async with bot_running(database, telegram, clock, settings) as bot:
        clock.set(utc(2018, 3, 20, 19, 0))
        report = await bot.services.reminders.fire_due()
        await all_delivered(bot)
        assert [due.date.id for due in report.sent] == [demo_date]
        assert [item.due.date.id for item in report.failed] == [bad_date]
        for chat_id in SUPPORTERS:
            assert len(reminders_to(telegram, chat_id)) == 1
            assert "Demo at the Millennium" in reminders_to(telegram, chat_id)[0]
        [(status, failure)] = await reminder_rows(database, bad_date)
        assert status == "failed"
        assert "too long for one Telegram message" in failure and "the venue has 6000 characters" in failure
        [told] = failure_reports(telegram)
        assert "Small group" in told and "the venue has 6000 characters" in told
        assert visible_length(told) <= MESSAGE_LIMIT
        # The next sweeps find nothing to do and tell nobody again; the going-only reminder follows.
        clock.set(utc(2018, 3, 21, 6, 45))
        later = await bot.services.reminders.fire_due()
        assert [due.date.id for due in later.sent] == [demo_date] and not later.failed
        await all_delivered(bot)
        assert len(failure_reports(telegram)) == 1
        assert len(reminders_to(telegram, GOING)) == 2


async def test_the_bot_starts_with_a_bad_row_due_and_sends_the_others(database, telegram, clock, settings,
                                                                      demo_and_bad_event):
    demo_date, bad_date = demo_and_bad_event
    clock.set(utc(2018, 3, 20, 19, 5))  # both fell due while the bot was down
    async with bot_running(database, telegram, clock, settings) as bot:
        rebuilt = bot.services.reminders.last_rebuild
        assert [due.date.id for due in rebuilt.caught_up.sent] == [demo_date]
        assert [item.due.date.id for item in rebuilt.caught_up.failed] == [bad_date]
        await all_delivered(bot)
        assert all(len(reminders_to(telegram, chat_id)) == 1 for chat_id in SUPPORTERS)
    async with bot_running(database, telegram, clock, settings):  # and again: nothing is retried or re-told
        pass
    assert len(failure_reports(telegram)) == 1
    assert [status for status, _failure in await reminder_rows(database, bad_date)] == ["failed"]


async def test_cancelling_or_moving_a_bad_row_changes_nothing_and_says_why(database, telegram, clock, settings,
                                                                           demo_and_bad_event):
    _demo_date, bad_date = demo_and_bad_event
    async with bot_running(database, telegram, clock, settings) as bot:
        organiser = bot.person(ORGANISER_ID)
        await organiser.send("/cancelevent")
        await organiser.press("Small group")
        [answer] = await organiser.press("Yes, cancel it")
        assert "Nothing was changed" in answer["text"] and "the venue has 6000 characters" in answer["text"]
        await organiser.send("/editevent")
        await organiser.press("Small group")
        await organiser.press("Time")
        answer = await organiser.say("22/03/2018 8am")
        assert "Nothing was changed" in answer and "the venue has 6000 characters" in answer
    async with database.transaction() as session:
        _event, date = await catalogue.get_event_date(session, event_date_id=bad_date)
        notices = list(await session.scalars(select(Broadcast.origin_key)))
    assert (date.status, date.starts_at) == ("scheduled", utc(2018, 3, 21, 8))
    assert notices == []
    assert [status for status, _failure in await reminder_rows(database, bad_date)] == ["pending"]


# ------------------------------------------------------------------ /stats: a bad row costs its own answer only


@pytest.fixture
async def damaged_figures(tmp_path):
    """Every published figure, then three faults written straight into the database: Tower
    Hamlets' referrals of 2018-19 made infinite, Somerset's name made longer than any message,
    and Darlington's name made something matplotlib cannot draw (a formula with an unknown symbol)."""
    async with loaded_database(tmp_path) as db:
        async with db.transaction() as session:
            area = select(IaptArea.id).where(IaptArea.code == "08V").scalar_subquery()
            period = select(IaptPeriod.id).where(IaptPeriod.label == "2018-19").scalar_subquery()
            measure = select(IaptMeasure.id).where(IaptMeasure.key == "referrals_received_count").scalar_subquery()
            total = select(IaptBreakdown.id).where(IaptBreakdown.variable_type == "Total").scalar_subquery()
            damaged = await session.execute(
                update(IaptFigure).where(IaptFigure.area_id == area, IaptFigure.period_id == period,
                                         IaptFigure.measure_id == measure, IaptFigure.breakdown_id == total)
                .values(value=float("inf")))
            assert damaged.rowcount == 1
            if db.dialect == "postgresql":  # a name column made wider by hand, as write_straight_in does
                await session.execute(text("ALTER TABLE iapt_areas ALTER COLUMN name TYPE TEXT"))
            renamed = await session.execute(update(IaptArea).where(IaptArea.code == "11X")
                                            .values(name="NHS SOMERSET CCG " * 300))
            assert renamed.rowcount == 1
            await session.execute(update(IaptArea).where(IaptArea.code == "00C")
                                  .values(name="NHS DARLINGTON $\\nosuchsymbol$ CCG"))
        yield db


def shown(telegram_html: str) -> str:
    """What Telegram shows of an HTML text: tags gone, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", telegram_html))


@requires_data
async def test_stats_rows_that_cannot_be_handled_are_reported_and_skipped(damaged_figures, telegram, clock, settings,
                                                                          caplog):
    async with bot_running(damaged_figures, telegram, clock, settings) as bot:
        asker = bot.person(301)
        # The infinite figure is left out and said to be unreadable; the rest of the answer stands.
        answer = shown(await asker.say("/stats tower hamlets 2018-19"))
        assert "Referrals received: unreadable (a fault in the stored figures)" in answer
        assert "Finished a course of treatment: 1,710" in answer
        assert "unreadable and left out" in caplog.text
        # An answer longer than any message: an apology, not a refusal from Telegram or silence.
        apology = shown(await asker.say("/stats 11X"))
        assert apology.startswith("Sorry: the figures of NHS SOMERSET CCG") and "cannot be shown" in apology
        assert len(apology) < 400
        assert all(len(shown(m.get("text") or m.get("caption") or "")) <= MESSAGE_LIMIT for m in asker.messages)
        # A chart that cannot be drawn: said so, then the figures as text.
        said, figures = await asker.send("/stats 00C trend")
        assert "the chart of NHS DARLINGTON $\\nosuchsymbol$ CCG could not be drawn" in shown(said["text"])
        assert "2018-19: 2,410 · 925 · 54% (52.1%)" in shown(figures["text"])
        assert not telegram.calls("sendPhoto")
        # Inline, the over-long area is offered as an apology too; and everything else still works.
        update_ = telegram.inline_query(303, "11X")
        await bot.deliver(update_)
        [result] = telegram.calls("answerInlineQuery")[-1].params["results"]
        assert "cannot be shown" in result["title"]
        assert len(shown(result["input_message_content"]["message_text"])) <= MESSAGE_LIMIT
        assert "Finished a course of treatment: 1,710" in shown(await asker.say("/stats tower hamlets 2018-19"))
        assert "Referrals received: 1,603,643" in shown(await asker.say("/stats england 2018-19"))


# ------------------------------------------------------------------ the schema and the missed-reminders report


async def test_the_event_columns_are_as_wide_as_the_bounds_on_this_database(database):
    from sqlalchemy import inspect

    async with database.engine.connect() as connection:
        columns = await connection.run_sync(lambda sync: {c["name"]: c["type"] for c in inspect(sync).get_columns(
            "events")})
        reminder_columns = await connection.run_sync(lambda sync: {c["name"]: c["type"] for c in inspect(
            sync).get_columns("reminders")})
    widths = {attribute: getattr(columns[attribute], "length", None) for attribute in drafts.FIELD_LIMITS}
    # details is TEXT on both databases, bounded in code only (see migration 0008_event_limits).
    assert widths == {**drafts.FIELD_LIMITS, "details": None}
    assert reminder_columns["failure"].length == tables.MAX_FAILURE_LENGTH


async def test_a_missed_reminder_of_an_over_long_title_is_reported_in_one_message(database, telegram, clock, settings,
                                                                                 lists):
    date_id = await small_event(database, clock, settings, slug="protests", starts_at=utc(2018, 3, 21, 8),
                                rules="1 day before at 18:00 to everyone")
    await write_straight_in(database, date_id, title="Small group " * 500)
    clock.set(utc(2018, 3, 21, 9))  # the bot was down from before the reminder until after the start
    async with bot_running(database, telegram, clock, settings) as bot:
        assert len(bot.services.reminders.last_rebuild.caught_up.missed) == 1
        await all_delivered(bot)  # the report is a durable notice, sent by the engine after start-up
    [report] = [m["text"] for m in telegram.sent_to(ORGANISER_ID) if "Reminders not sent" in m.get("text", "")]
    assert "Small group Small group" in report and visible_length(report) < 600
