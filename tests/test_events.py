"""Events through the local Bot API server: publishing by conversation and by import, the cards
supporters see, RSVPs, capacity and the waiting list, calendar files, attendance, erasure."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import icalendar
import pytest
from sqlalchemy import func, select

from messages import render
from storage.dates import parse_reminder_rules
from storage.events import catalogue, yaml_files
from storage.events.drafts import DateDraft, EventDraft
from storage.events.tables import Event, EventDate, Reminder, ReminderStatus, Rsvp
from tests.builders import make_list, rows_mentioning, subscribe

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "events.yaml"
DEFAULT_RULES = "1 day before at 19:00 to everyone; 90 minutes before to going"


def utc(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=dt.UTC)


@pytest.fixture
async def seed_lists(running_bot):
    await make_list(running_bot.db, "protests", "Protests and demos")
    await make_list(running_bot.db, "encounter-groups", "Free encounter groups")


async def import_example(db, clock, settings) -> yaml_files.ImportSummary:
    items = yaml_files.read_events_file(EXAMPLE.read_text(), tz=settings.tz, now=clock.now(),
                                        default_rules=parse_reminder_rules(settings.reminder_rules))
    async with db.transaction() as session:
        return await yaml_files.import_events(session, items=items, now=clock.now(), tz=settings.tz)


async def small_event(db, clock, settings, *, capacity: int | None = 2, starts_at: dt.datetime | None = None,
                      slug: str = "encounter-groups", rules: str = DEFAULT_RULES) -> int:
    """A one-date event on `slug` (by default the encounter group of 17 March 2018); returns its date's id."""
    starts_at = starts_at or utc(2018, 3, 17, 10)
    async with db.transaction() as session:
        from storage.lists.mailing_lists import get_list_by_slug
        mailing_list = await get_list_by_slug(session, slug=slug)
        draft = EventDraft(list_id=mailing_list.id, title="Small group", venue_name="The Tabernacle",
                           address="35 Powis Square, London", postcode="W11 2AY",
                           dates=[DateDraft(starts_at, starts_at + dt.timedelta(hours=4))],
                           rules=parse_reminder_rules(rules), capacity=capacity)
        event = await catalogue.create_event(session, draft=draft, now=clock.now(), tz=settings.tz)
        return (await catalogue.dates_of(session, event_id=event.id))[0].id


async def date_ids(db, key: str) -> list[int]:
    async with db.transaction() as session:
        event = await catalogue.get_event_by_key(session, key=key)
        return [item.id for item in await catalogue.dates_of(session, event_id=event.id)]


async def rsvp_statuses(db, date_id: int) -> dict[int, str]:
    from storage.lists.models import Chat

    async with db.transaction() as session:
        rows = (await session.execute(select(Chat.telegram_id, Rsvp.status).join(Rsvp, Rsvp.chat_id == Chat.id)
                                      .where(Rsvp.event_date_id == date_id))).all()
    return {row[0]: row[1] for row in rows}


def cards(messages):
    return [m for m in messages if "text" in m and "Going" in str(m.get("reply_markup"))]


# ------------------------------------------------------------------ publishing by conversation


async def test_organiser_publishes_the_demo_by_conversation(running_bot, organiser, seed_lists):
    first = await organiser.send("/newevent")
    assert "Which list" in first[0]["text"]
    await organiser.press("Protests and demos")
    assert "What is it called?" in organiser.last["text"]
    assert "When does it start?" in await organiser.say("Demo at the Millennium Conference Centre")
    assert "When does it end?" in await organiser.say("wed 21 march 8:15")
    assert "another date" in await organiser.say("10am")
    await organiser.press("No more dates")
    assert "venue" in organiser.last["text"]
    assert "postcode" in await organiser.say("Millennium Conference Centre")
    assert "meet" in await organiser.say("4-18 Harrington Gardens, London SW7 4LH")
    assert "station" in await organiser.say("Harrington Gardens entrance")
    assert "map pin" in await organiser.say("Gloucester Road")
    assert "Anything else" in await organiser.say("51.4939, -0.183")
    assert "step-free access" in await organiser.say("skip")
    assert "Food and drink" in await organiser.say("Step-free entrance, accessible toilets, hearing loop")
    assert "What does it cost?" in await organiser.say("Café on site; please don't bring your own food and drink")
    assert "contact" in await organiser.say("Free, donations towards costs appreciated")
    assert "How many places" in await organiser.say("skip")
    confirm = await organiser.say("no limit")
    assert "Access: Step-free entrance, accessible toilets, hearing loop" in confirm
    assert "Food and drink: Café on site; please don&#39;t bring your own food and drink" in confirm
    assert "Cost: Free, donations towards costs appreciated" in confirm
    assert "Wednesday 21 March 2018, 8.15am to 10am" in confirm
    assert "Meeting point: Harrington Gardens entrance" in confirm
    assert "Nearest station: Gloucester Road" in confirm
    assert "1 day before at 19:00 to everyone: for the first date, Tuesday 20 March 2018, 7pm" in confirm
    assert "90 minutes before to going: for the first date, Wednesday 21 March 2018, 6.45am" in confirm
    published = await organiser.press("Publish")
    assert "Published" in published[0]["text"]

    async with running_bot.db.transaction() as session:
        event = await session.scalar(select(Event))
        dates = await catalogue.dates_of(session, event_id=event.id)
        pending = list(await session.scalars(select(Reminder).order_by(Reminder.due_at)))
    assert (event.postcode, event.address, event.capacity) == ("SW7 4LH", "4-18 Harrington Gardens, London", None)
    assert (event.latitude, event.longitude) == (51.4939, -0.183)
    assert (event.accessibility, event.refreshments, event.cost) == (
        "Step-free entrance, accessible toilets, hearing loop",
        "Café on site; please don't bring your own food and drink", "Free, donations towards costs appreciated")
    assert [(d.starts_at, d.ends_at) for d in dates] == [(utc(2018, 3, 21, 8, 15), utc(2018, 3, 21, 10))]
    assert [(r.due_at, r.status) for r in pending] == [(utc(2018, 3, 20, 19), "pending"),
                                                      (utc(2018, 3, 21, 6, 45), "pending")]
    # The scheduler has a job for each, named by the reminder's id and carrying only that.
    scheduler = running_bot.services.reminders
    assert {r.id for r in pending} <= scheduler.scheduled_ids()
    assert [job.data for job in scheduler.jobs_of(pending[0].id)] == [pending[0].id]


async def test_the_encounter_groups_are_one_event_on_two_dates(running_bot, organiser, seed_lists, clock):
    clock.set(utc(2018, 2, 1, 12))
    await organiser.send("/newevent")
    await organiser.press("Free encounter groups")
    await organiser.say("Free encounter group")
    await organiser.say("17/02/2018 10am")
    assert "another date" in await organiser.say("2pm")
    assert "2 dates so far" in await organiser.say("17 March 2018 10:00")
    await organiser.press("No more dates")
    await organiser.say("The Tabernacle")
    await organiser.say("35 Powis Square, London W11 2AY")
    for answer in ("skip",) * 8:
        await organiser.say(answer)
    confirm = await organiser.say("20")
    assert "Saturday 17 February 2018, 10am to 2pm" in confirm
    assert "Saturday 17 March 2018, 10am to 2pm" in confirm
    assert "Places: 20" in confirm
    await organiser.press("Publish")
    async with running_bot.db.transaction() as session:
        event = await session.scalar(select(Event))
        dates = await catalogue.dates_of(session, event_id=event.id)
        reminders = await session.scalar(select(func.count()).select_from(Reminder))
    assert (event.venue_name, event.postcode, event.capacity) == ("The Tabernacle", "W11 2AY", 20)
    assert [d.starts_at for d in dates] == [utc(2018, 2, 17, 10), utc(2018, 3, 17, 10)]
    assert reminders == 4  # two rules, two dates


async def test_bad_and_past_dates_are_questioned_never_guessed(running_bot, organiser, seed_lists):
    await organiser.send("/newevent")
    await organiser.press("Protests and demos")
    await organiser.say("Demo")
    answer = await organiser.say("21/03/2018 7.30")
    assert "Wednesday 21 March 2018, 7.30am" in answer and "Wednesday 21 March 2018, 7.30pm" in answer
    assert "Thursday? Wednesday 21 March 2018 is not a Thursday" in await organiser.say("thu 21 march 8:15")
    assert "has already passed" in await organiser.say("17/02/2018 10am")
    assert "Is “03/04” <b>Tuesday 3 April 2018</b> or <b>Sunday 4 March 2018</b>?" in await organiser.say("03/04")
    assert "on which day?" in await organiser.say("8.15")
    assert "day first" in await organiser.say("03/21/2018 8:15")
    assert "does not exist" in await organiser.say("31/04/2018 10am")
    assert "has no time" in await organiser.say("21 March 2018")
    assert "could not read" in await organiser.say("next wednesday-ish")
    assert "clocks go forward" in await organiser.say("25/03/2018 01:30")
    assert "When does it end?" in await organiser.say("21/03/2018 8.15am")
    assert "end after it starts" in await organiser.say("7am")


async def test_a_start_typed_as_people_say_it_is_echoed_in_full(running_bot, organiser, seed_lists):
    # The clock stands at Thursday 1 March 2018, noon.
    await organiser.send("/newevent")
    await organiser.press("Protests and demos")
    await organiser.say("Demo")
    assert "It starts <b>Wednesday 7 March 2018, 8.15am</b>. When does it end?" in \
        await organiser.say("next wednesday 8.15am")
    await organiser.send("/cancel")
    await organiser.send("/newevent")
    await organiser.press("Protests and demos")
    await organiser.say("Demo")
    assert "It starts <b>Wednesday 21 March 2018, 8.15am</b>." in await organiser.say("21 march 8.15am")


async def test_newevent_is_for_organisers_and_cancel_discards(running_bot, supporter, organiser, seed_lists):
    assert "that command is for the campaign's organisers" in await supporter.say("/newevent")
    assert "that command is for the campaign's organisers" in await supporter.say("/cancelevent")
    await organiser.send("/newevent")
    await organiser.press("Protests and demos")
    assert "Discarded" in await organiser.say("/cancel")
    async with running_bot.db.transaction() as session:
        assert await session.scalar(select(func.count()).select_from(Event)) == 0


# ------------------------------------------------------------------ publishing by import


async def test_the_example_file_imports_both_seed_events_and_again_changes_nothing(running_bot, seed_lists,
                                                                                   clock, settings):
    summary = await import_example(running_bot.db, clock, settings)
    assert (summary.created, summary.updated) == (2, 0)
    again = await import_example(running_bot.db, clock, settings)
    assert (again.created, again.updated, again.dates_added) == (0, 2, 0)
    async with running_bot.db.transaction() as session:
        demo = await catalogue.get_event_by_key(session, key="demo-2018-03-21")
        groups = await catalogue.get_event_by_key(session, key="encounter-groups-2018")
        group_dates = await catalogue.dates_of(session, event_id=groups.id)
        statuses = dict((await session.execute(
            select(Reminder.status, func.count()).group_by(Reminder.status))).all())
    assert demo.meeting_point == "Harrington Gardens entrance" and demo.nearest_station == "Gloucester Road"
    assert (demo.postcode, groups.postcode) == ("SW7 4LH", "W11 2AY")
    assert [d.booked_elsewhere for d in group_dates] == [20, 0]
    # 17 February is history by 1 March: its reminders were never due to go, so they are skipped.
    assert statuses == {"pending": 4, "skipped": 2}


async def test_export_round_trips(running_bot, seed_lists, clock, settings, tmp_path):
    await import_example(running_bot.db, clock, settings)
    async with running_bot.db.transaction() as session:
        exported = await yaml_files.export_events(session, tz=settings.tz)
    assert "start: 2018-03-21 08:15" in exported and "booked_elsewhere: 20" in exported
    items = yaml_files.read_events_file(exported, tz=settings.tz, now=clock.now(), default_rules=[])
    original = yaml_files.read_events_file(EXAMPLE.read_text(), tz=settings.tz, now=clock.now(),
                                           default_rules=parse_reminder_rules(settings.reminder_rules))
    assert [item.draft for item in items] == [item.draft for item in original]


def test_a_bad_file_is_refused_whole_with_every_problem(settings, clock):
    text = """
events:
  - key: one
    list: protests
    title: A
    venue: V
    address: 1 Road
    postcode: NOT A POSTCODE
    dates: [{start: 2018-03-21 08:15, end: 2018-03-21 10:00}]
  - key: two
    list: protests
    title: B
    venue: V
    address: 1 Road
    postcode: W11 2AY
    dates: [{start: 21/03/2018 7.30, end: '9:00'}]
  - key: three
    list: protests
    title: C
    venue: V
    address: 1 Road
    postcode: W11 2AY
    dates: [{start: 2018-03-21 08:15, end: 14:00}]
"""
    with pytest.raises(yaml_files.EventsFileError) as caught:
        yaml_files.read_events_file(text, tz=settings.tz, now=clock.now(), default_rules=[])
    messages = render("cli_events_rejected.txt", path="events.yaml", problems=caught.value.problems).splitlines()[1:]
    assert len(messages) == 3
    assert "not a UK postcode" in messages[0]
    assert "without guessing (morning or evening)" in messages[1]
    assert "in quotes" in messages[2]


def test_cli_imports_and_exports(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from bot.cli.main import app

    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/cli.db")
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    assert runner.invoke(app, ["lists", "create", "protests", "--title", "Protests"]).exit_code == 0
    missing_list = runner.invoke(app, ["events", "import", str(EXAMPLE)])
    assert missing_list.exit_code == 1 and "encounter-groups" in missing_list.output
    assert runner.invoke(app, ["lists", "create", "encounter-groups", "--title", "Groups"]).exit_code == 0
    imported = runner.invoke(app, ["events", "import", str(EXAMPLE)])
    assert imported.exit_code == 0, imported.output
    assert "2 new" in imported.output
    exported = runner.invoke(app, ["events", "export"])
    assert exported.exit_code == 0 and "key: demo-2018-03-21" in exported.output


# ------------------------------------------------------------------ what supporters see


async def test_events_shows_the_venue_pin_the_card_and_its_buttons(running_bot, supporter, seed_lists, clock,
                                                                   settings):
    await import_example(running_bot.db, clock, settings)
    assert "not on any list" in await supporter.say("/events")
    await subscribe(running_bot.db, supporter.chat_id, "protests")
    shown = await supporter.send("/events")
    venue, card = shown
    assert venue["venue"]["title"] == "Millennium Conference Centre"
    assert venue["venue"]["address"] == "4-18 Harrington Gardens, London SW7 4LH"
    assert (venue["location"]["latitude"], venue["location"]["longitude"]) == (51.4939, -0.183)
    assert "<b>Demo at the Millennium Conference Centre</b>" in card["text"]
    assert "Wednesday 21 March 2018, 8.15am to 10am" in card["text"]
    assert "Meeting point: Harrington Gardens entrance" in card["text"]
    assert "Nearest station: Gloucester Road" in card["text"]
    assert "For organisers" not in card["text"]
    assert [b["text"] for b in supporter.buttons(card)] == ["Going", "Can't go", "Add to calendar"]

    changed = await supporter.press("Going", card)
    assert "✓ You are going." in changed[0]["text"]
    assert "Share my name with organisers" in [b["text"] for b in supporter.buttons(changed[0])]


async def test_add_to_calendar_sends_an_ics_file(running_bot, supporter, seed_lists, clock, settings):
    await import_example(running_bot.db, clock, settings)
    await subscribe(running_bot.db, supporter.chat_id, "protests")
    await supporter.send("/events")
    sent = await supporter.press("Add to calendar")
    document = sent[0]
    assert document["document"]["file_name"].endswith(".ics")
    calendar = icalendar.Calendar.from_ical(document["_upload"]["content"])
    entry = next(iter(calendar.walk("VEVENT")))
    assert entry.decoded("dtstart") == utc(2018, 3, 21, 8, 15)
    assert entry.decoded("dtend") == utc(2018, 3, 21, 10)
    assert str(entry["summary"]) == "Demo at the Millennium Conference Centre"
    assert "SW7 4LH" in str(entry["location"])
    assert "Harrington Gardens entrance" in str(entry["description"])


async def test_capacity_waiting_list_and_promotion(running_bot, seed_lists, clock, settings):
    date_id = await small_event(running_bot.db, clock, settings, capacity=2)
    people = [running_bot.person(user_id) for user_id in (201, 202, 203, 204)]
    for person in people:
        await subscribe(running_bot.db, person.chat_id, "encounter-groups")
    first, second, third, fourth = people
    for person in (first, second):
        await person.send("/events")
        assert "✓ You are going." in (await person.press("Going"))[0]["text"]
    await third.send("/events")
    assert "<b>Fully booked.</b>" in third.last["text"]
    waiting = (await third.press("Going"))[0]["text"]
    assert "number 1 on the waiting list" in waiting
    await fourth.send("/events")
    assert "number 2 on the waiting list" in (await fourth.press("Going"))[0]["text"]
    assert await rsvp_statuses(running_bot.db, date_id) == {201: "going", 202: "going", 203: "waiting",
                                                            204: "waiting"}

    # The first drops out: the first on the waiting list is offered the place (tests/test_place_offers.py
    # follows offers further), and takes it.
    assert "You said you can't go." in (await first.press("Can't go"))[0]["text"]
    await running_bot.server.wait_until(lambda: any("A place came free" in m.get("text", "") for m in third.messages))
    assert not any("A place came free" in m.get("text", "") for m in fourth.messages)
    assert "The place is yours" in (await third.press("Take the place"))[0]["text"]
    assert await rsvp_statuses(running_bot.db, date_id) == {201: "not_going", 202: "going", 203: "going",
                                                            204: "waiting"}
    await fourth.send("/events")
    assert "number 1 on the waiting list" in fourth.last["text"]


async def test_fully_booked_date_of_the_seed_is_shown_as_such(running_bot, supporter, seed_lists, clock, settings):
    clock.set(utc(2018, 2, 1, 12))
    await import_example(running_bot.db, clock, settings)
    await subscribe(running_bot.db, supporter.chat_id, "encounter-groups")
    shown = cards(await supporter.send("/events"))
    assert "Saturday 17 February 2018" in shown[0]["text"] and "<b>Fully booked.</b>" in shown[0]["text"]
    assert "20 places left." in shown[1]["text"]
    assert "waiting list" in (await supporter.press("Going", shown[0]))[0]["text"]


async def test_two_last_place_answers_at_once_do_not_overbook(running_bot, seed_lists, clock, settings):
    import asyncio

    date_id = await small_event(running_bot.db, clock, settings, capacity=1)
    people = [running_bot.person(user_id) for user_id in range(301, 309)]
    for person in people:
        await subscribe(running_bot.db, person.chat_id, "encounter-groups")
        await person.send("/events")
    await asyncio.gather(*(person.press("Going") for person in people))
    statuses = list((await rsvp_statuses(running_bot.db, date_id)).values())
    assert statuses.count("going") == 1 and statuses.count("waiting") == 7


async def test_organisers_see_counts_and_export_attendance_without_names(running_bot, organiser, seed_lists, clock,
                                                                         settings):
    date_id = await small_event(running_bot.db, clock, settings, capacity=2)
    sharer, quiet, cannot = (running_bot.person(user_id) for user_id in (401, 402, 403))
    for person in (sharer, quiet, cannot):
        await subscribe(running_bot.db, person.chat_id, "encounter-groups")
        await person.send("/events")
    await sharer.press("Going")
    await quiet.press("Going")
    await cannot.press("Can't go")
    shared = await sharer.press("Share my name")
    assert "will see your name (User 401)" in shared[0]["text"]

    card = cards(await organiser.send("/events"))[0]
    assert "going 2, waiting 0, can't go 1" in card["text"]
    assert "Reminders: 2 pending" in card["text"]
    sent = await organiser.press("Attendees (CSV)", card)
    rows = list(csv.DictReader(io.StringIO(sent[0]["_upload"]["content"].decode())))
    assert rows == [{"start": "2018-03-17 10:00", "status": "scheduled", "going": "2", "waiting": "0",
                     "cant_go": "1", "booked_elsewhere": "0", "places_left": "0", "names_shared": "User 401"}]
    assert "402" not in sent[0]["_upload"]["content"].decode()
    assert date_id


async def test_mydata_shows_answers_and_forget_erases_them(running_bot, supporter, seed_lists, clock, settings):
    await small_event(running_bot.db, clock, settings, capacity=None)
    await subscribe(running_bot.db, supporter.chat_id, "encounter-groups")
    await supporter.send("/events")
    await supporter.press("Going")
    await supporter.press("Share my name")
    data = await supporter.say("/mydata")
    assert "Events you answered" in data and "Small group, 17 March 2018 10:00: going" in data
    assert "User 101" in data
    await supporter.say("/forget")
    await supporter.press("Yes, erase")
    assert await rows_mentioning(running_bot.db, {supporter.chat_id}) == []
    async with running_bot.db.transaction() as session:
        assert await session.scalar(select(func.count()).select_from(Rsvp)) == 0


async def test_group_cards_have_no_rsvp_buttons(running_bot, seed_lists, clock, settings):
    await import_example(running_bot.db, clock, settings)
    running_bot.server.add_group(-500, admins={501})
    admin = running_bot.person(501, chat_id=-500)
    await subscribe(running_bot.db, -500, "protests")
    shown = await admin.send("/events")
    assert [b["text"] for b in admin.buttons(shown[-1])] == ["Add to calendar"]


async def test_answers_to_a_started_date_are_refused(running_bot, supporter, seed_lists, clock, settings):
    date_id = await small_event(running_bot.db, clock, settings, capacity=None)
    await subscribe(running_bot.db, supporter.chat_id, "encounter-groups")
    await supporter.send("/events")
    clock.set(utc(2018, 3, 17, 10, 30))
    answer = await supporter.press("Going")
    assert "takes no more answers" in answer[0]["text"]
    assert await rsvp_statuses(running_bot.db, date_id) == {}


async def test_reimporting_keeps_answers_and_history(running_bot, supporter, seed_lists, clock, settings):
    await import_example(running_bot.db, clock, settings)
    [demo] = await date_ids(running_bot.db, "demo-2018-03-21")
    await subscribe(running_bot.db, supporter.chat_id, "protests")
    await supporter.send("/events")
    await supporter.press("Going")
    await import_example(running_bot.db, clock, settings)
    assert await rsvp_statuses(running_bot.db, demo) == {supporter.chat_id: "going"}
    async with running_bot.db.transaction() as session:
        statuses = set(await session.scalars(select(EventDate.status)))
        reminder_statuses = set(await session.scalars(select(Reminder.status).where(Reminder.event_date_id == demo)))
    assert statuses == {"scheduled"}
    assert reminder_statuses == {ReminderStatus.PENDING.value}
