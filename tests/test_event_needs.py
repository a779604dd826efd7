"""What people need to know about an event (issue 13): accessibility, food and drink, and cost,
through /newevent (skippable), /editevent, YAML in and out, the card and the calendar file."""

from __future__ import annotations

import icalendar
import pytest
from sqlalchemy import select

from messages import render
from storage.events import catalogue, yaml_files
from storage.events.tables import Event
from tests.builders import make_list, subscribe
from tests.test_events import import_example, small_event, utc

TABERNACLE_CAFE = "Café on site; please don't bring your own food and drink."


@pytest.fixture
async def seed_lists(running_bot):
    await make_list(running_bot.db, "protests", "Protests and demos")
    await make_list(running_bot.db, "encounter-groups", "Free encounter groups")


async def test_the_seed_events_carry_what_people_need_to_know(running_bot, seed_lists, clock, settings):
    await import_example(running_bot.db, clock, settings)
    async with running_bot.db.transaction() as session:
        groups = await catalogue.get_event_by_key(session, key="encounter-groups-2018")
        demo = await catalogue.get_event_by_key(session, key="demo-2018-03-21")
    assert groups.refreshments == TABERNACLE_CAFE
    assert "Wheelchair accessible" in groups.accessibility
    assert groups.cost == "Free, donations towards costs appreciated."
    assert demo.accessibility and demo.refreshments and demo.cost


async def test_the_card_and_the_calendar_file_show_them(running_bot, supporter, seed_lists, clock, settings):
    await import_example(running_bot.db, clock, settings)
    await subscribe(running_bot.db, supporter.chat_id, "encounter-groups")
    shown = await supporter.send("/events")
    card = next(message for message in shown if "Free encounter group" in message.get("text", ""))
    assert "Access: Wheelchair accessible, with step-free access and an accessible toilet." in card["text"]
    assert "Food and drink: Café on site; please don&#39;t bring your own food and drink." in card["text"]
    assert "Cost: Free, donations towards costs appreciated." in card["text"]
    sent = await supporter.press("Add to calendar", card)
    calendar = icalendar.Calendar.from_ical(sent[0]["_upload"]["content"])
    description = str(next(iter(calendar.walk("VEVENT")))["description"])
    assert "Access: Wheelchair accessible" in description
    assert f"Food and drink: {TABERNACLE_CAFE}" in description
    assert "Cost: Free, donations towards costs appreciated." in description


async def test_an_event_without_them_shows_no_empty_lines_for_them(running_bot, supporter, seed_lists, clock,
                                                                   settings):
    await small_event(running_bot.db, clock, settings, starts_at=utc(2018, 3, 17, 10))
    await subscribe(running_bot.db, supporter.chat_id, "encounter-groups")
    card = (await supporter.send("/events"))[-1]["text"]
    assert "Access:" not in card and "Food and drink:" not in card and "Cost:" not in card


async def test_editevent_changes_and_empties_them(running_bot, organiser, seed_lists, clock, settings):
    await small_event(running_bot.db, clock, settings, starts_at=utc(2018, 3, 17, 10))
    for field, value in (("Access", "Step-free; hearing loop; BSL interpreter"), ("Food and drink", TABERNACLE_CAFE),
                         ("Cost", "£3, or free if that is hard")):
        await organiser.send("/editevent")
        await organiser.press("Small group")
        asked = await organiser.press(field)
        assert "Now: (empty)" in asked[0]["text"]
        assert "Changed" in await organiser.say(value)
    async with running_bot.db.transaction() as session:
        event = await session.scalar(select(Event))
    assert (event.accessibility, event.refreshments, event.cost) == (
        "Step-free; hearing loop; BSL interpreter", TABERNACLE_CAFE, "£3, or free if that is hard")
    await organiser.send("/editevent")
    await organiser.press("Small group")
    await organiser.press("Cost")
    await organiser.say("none")
    async with running_bot.db.transaction() as session:
        assert (await session.scalar(select(Event))).cost == ""


async def test_yaml_export_carries_them_and_imports_again(running_bot, seed_lists, clock, settings):
    await import_example(running_bot.db, clock, settings)
    async with running_bot.db.transaction() as session:
        exported = await yaml_files.export_events(session, tz=settings.tz)
    assert "refreshments: Café on site; please don't bring your own food and drink." in exported
    assert "cost: Free, donations towards costs appreciated." in exported
    items = yaml_files.read_events_file(exported, tz=settings.tz, now=clock.now(), default_rules=[])
    groups = next(item for item in items if item.draft.key == "encounter-groups-2018")
    assert groups.draft.refreshments == TABERNACLE_CAFE


def test_the_yaml_import_bounds_them_and_refuses_other_types(settings, clock):
    document = """
events:
  - key: demo
    list: protests
    title: Demo
    venue: The Tabernacle
    address: 35 Powis Square, London
    postcode: W11 2AY
    cost: "%s"
    accessibility: [not, text]
    dates:
      - start: 2018-03-21 08:15
        end: 2018-03-21 10:00
""" % ("£" * 101)
    try:
        yaml_files.read_events_file(document, tz=settings.tz, now=clock.now(), default_rules=[])
    except yaml_files.EventsFileError as error:
        assert "'accessibility' should be text" in render("cli_events_rejected.txt", path="e.yaml",
                                                          problems=error.problems)
    else:
        raise AssertionError("the file was accepted")
    fixed = document.replace("    accessibility: [not, text]\n", "")
    try:
        yaml_files.read_events_file(fixed, tz=settings.tz, now=clock.now(), default_rules=[])
    except yaml_files.EventsFileError as error:
        told = render("cli_events_rejected.txt", path="e.yaml", problems=error.problems)
        assert "the cost has 101 characters, more than the 100 allowed" in told
    else:
        raise AssertionError("the file was accepted")
