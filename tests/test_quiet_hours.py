"""Quiet hours (/quiet): alerts and reminders sent in a chat's quiet hours arrive silently
(disable_notification), on time and all of them; an urgent alert rings anyway; the report counts
what went silently. Time is the injected clock, in Europe/London with its summer time."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from storage.broadcasts.listings import recent_broadcasts
from storage.broadcasts.status import create_broadcast
from storage.broadcasts.tables import Broadcast
from storage.lists.alert_settings import QuietHours, QuietHoursProblem, QuietPolicy
from storage.lists.models import ChatKind
from tests.builders import chat_row, make_list, subscribe
from tests.conftest import ORGANISER_ID
from tests.test_events import small_event, utc

LOUD, DEFAULT, AFTERNOON = 101, 102, 103  # /quiet off; the default 22:00-07:30; /quiet 13:00-15:00


@pytest.fixture
async def protests(running_bot):
    mailing_list = await make_list(running_bot.db, "protests", "Protests and demos")
    for chat_id in (LOUD, DEFAULT, AFTERNOON):
        await subscribe(running_bot.db, chat_id, "protests")
    return mailing_list


def rang(server, chat_id: int) -> list[bool]:
    """For each message the bot sent the chat: whether it rang (was sent with the notification on)."""
    return [not m["_disable_notification"] for m in server.sent_to(chat_id)]


async def alert(running_bot, mailing_list, **extra):
    async with running_bot.db.transaction() as session:
        broadcast = await create_broadcast(session, list_id=mailing_list.id, text="Vigil tonight",
                                           created_by=ORGANISER_ID, now=running_bot.services.clock.now(), **extra)
    running_bot.services.broadcaster.wake()
    return await running_bot.services.broadcaster.wait_until_finished(broadcast.id)


async def choose_quiet_hours(running_bot):
    assert "Quiet hours: off" in await running_bot.person(LOUD).say("/quiet off")
    assert "Quiet hours: 13:00-15:00" in await running_bot.person(AFTERNOON).say("/quiet 13:00-15:00")


@pytest.mark.parametrize(("now", "quiet"), [
    (utc(2018, 3, 1, 23, 0), True),  # 11pm GMT
    (utc(2018, 3, 1, 7, 29), True),  # 7.29am GMT: before the end, across midnight
    (utc(2018, 3, 1, 7, 30), False),
    (utc(2018, 7, 1, 21, 30), True),  # 10.30pm BST, though 21:30 by UTC
    (utc(2018, 1, 15, 21, 30), False),  # 9.30pm GMT
])
async def test_alerts_in_quiet_hours_arrive_at_once_but_silently(running_bot, protests, clock, now, quiet):
    await choose_quiet_hours(running_bot)
    clock.set(now)
    summary = await alert(running_bot, protests)
    server = running_bot.server
    assert summary.counts.sent == 3 and summary.started_at == now  # nobody held back, nobody dropped
    assert rang(server, DEFAULT)[-1] is not quiet
    assert rang(server, LOUD)[-1] is True
    assert rang(server, AFTERNOON)[-1] is True
    assert summary.counts.silent == (1 if quiet else 0)
    report = server.sent_to(ORGANISER_ID)[-1]["text"]
    assert ("1 of those sent went silently" in report) is quiet


async def test_a_chats_own_quiet_hours_replace_the_default(running_bot, protests, clock):
    await choose_quiet_hours(running_bot)
    clock.set(utc(2018, 3, 1, 14, 0))
    summary = await alert(running_bot, protests)
    assert [rang(running_bot.server, chat)[-1] for chat in (LOUD, DEFAULT, AFTERNOON)] == [True, True, False]
    assert summary.counts.silent == 1


async def test_an_urgent_alert_rings_even_in_quiet_hours(running_bot, protests, clock):
    clock.set(utc(2018, 3, 1, 23, 0))
    summary = await alert(running_bot, protests, urgent=True)
    assert all(rang(running_bot.server, chat)[-1] for chat in (LOUD, DEFAULT, AFTERNOON))
    assert summary.counts.silent == 0
    assert "Urgent: it rang even in quiet hours" in running_bot.server.sent_to(ORGANISER_ID)[-1]["text"]


async def test_the_organiser_marks_an_alert_urgent_at_the_confirm_step(running_bot, protests, organiser, clock):
    clock.set(utc(2018, 3, 1, 23, 0))
    await organiser.say("/broadcast protests")
    _preview, confirm = await organiser.send("Vigil tonight")
    assert "In a chat's quiet hours (22:00-07:30 unless the chat chose others) it arrives silently" in confirm["text"]
    [marked] = await organiser.press("Rings even in quiet hours")
    assert "<b>Urgent:</b> it rings even in quiet hours" in marked["text"]
    # The ring button is on the row after Send now / Schedule / Cancel (then come "Add ... version" rows).
    assert [b["text"] for b in organiser.buttons(marked)][3] == "Silent in quiet hours"
    [unmarked] = await organiser.press("Silent in quiet hours")
    assert "arrives silently" in unmarked["text"]
    await organiser.press("Rings even in quiet hours")
    await organiser.press("Send now")
    async with running_bot.db.transaction() as session:
        [sent] = await recent_broadcasts(session, limit=1)
    summary = await running_bot.services.broadcaster.wait_until_finished(sent.id)
    assert summary.urgent and summary.counts.sent == 3
    assert rang(running_bot.server, DEFAULT) == [True]


async def test_reminders_in_quiet_hours_arrive_silently(running_bot, clock, settings):
    await make_list(running_bot.db, "encounter-groups", "Free encounter groups")
    for chat_id in (LOUD, DEFAULT):
        await subscribe(running_bot.db, chat_id, "encounter-groups")
    await running_bot.person(LOUD).say("/quiet off")
    date_id = await small_event(running_bot.db, clock, settings, rules="1 day before at 23:00 to everyone")
    clock.set(utc(2018, 3, 16, 23, 0))
    assert len((await running_bot.services.reminders.fire_due()).sent) == 1
    async with running_bot.db.transaction() as session:
        [reminder] = list(await session.scalars(select(Broadcast).where(Broadcast.origin_key.is_not(None))))
    await running_bot.services.broadcaster.wait_until_finished(reminder.id)
    assert rang(running_bot.server, DEFAULT) == [False] and rang(running_bot.server, LOUD)[-1] is True
    assert "Reminder" in running_bot.server.sent_to(DEFAULT)[0]["text"] and date_id


async def test_quiet_shows_and_sets_the_quiet_hours(running_bot, supporter):
    shown = await supporter.say("/quiet")
    assert "Quiet hours: 22:00-07:30</b> (Europe/London time, the bot's default)" in shown
    assert [b["text"] for b in supporter.buttons()] == ["21:00-08:00", "22:00-07:30", "23:00-07:00",
                                                          "No quiet hours", "The default"]
    assert "Could not read “tea time”" in await supporter.say("/quiet tea time")
    assert "the start and the end are the same time" in await supporter.say("/quiet 22:00-22:00")
    [pressed] = await supporter.press("23:00-07:00")
    assert "Quiet hours: 23:00-07:00</b> (Europe/London time)." in pressed["text"]
    assert "Quiet hours (/quiet): 23:00-07:00" in await supporter.say("/mydata")
    assert "Quiet hours: off" in (await supporter.press("No quiet hours"))[0]["text"]
    assert "Quiet hours (/quiet): off" in await supporter.say("/mydata")
    assert "the bot's default" in (await supporter.press("The default"))[0]["text"]
    assert "Quiet hours: 21:00-07:00" in await supporter.say("/quiet 21.00 - 7.00")
    assert (await chat_row(running_bot.db, supporter.chat_id)).quiet_hours == "21:00-07:00"


async def test_forget_erases_the_quiet_hours(running_bot, supporter):
    await supporter.say("/quiet 21:00-07:00")
    await supporter.send("/forget")
    await supporter.press("Yes, erase everything")
    assert await chat_row(running_bot.db, supporter.chat_id) is None
    assert "the bot's default" in await supporter.say("/quiet")


async def test_a_group_chooses_its_quiet_hours_through_its_administrators(running_bot):
    running_bot.server.add_group(-600, title="Branch", admins={601})
    member = running_bot.person(602, chat_id=-600)
    assert "administrators" in await member.say("/quiet off")
    assert "Quiet hours: off" in await running_bot.person(601, chat_id=-600).say("/quiet off")
    assert (await chat_row(running_bot.db, -600)).kind == ChatKind.GROUP.value


@pytest.mark.parametrize(("text", "start", "end"), [
    ("22:00-07:30", (22, 0), (7, 30)), ("9-17", (9, 0), (17, 0)), ("2200-0730", (22, 0), (7, 30)),
    ("23.15 to 6.45", (23, 15), (6, 45))])
def test_quiet_hours_are_read_as_people_write_them(text, start, end):
    assert QuietHours.parse(text) == QuietHours(dt.time(*start), dt.time(*end))


@pytest.mark.parametrize("text", ["", "22:00", "25:00-07:00", "22:61-07:00", "07:00-07:00", "tonight"])
def test_unreadable_quiet_hours_are_refused(text):
    with pytest.raises(QuietHoursProblem):
        QuietHours.parse(text)


def test_quiet_hours_span_midnight_and_follow_summer_time():
    from zoneinfo import ZoneInfo

    policy = QuietPolicy(ZoneInfo("Europe/London"), QuietHours.parse("22:00-07:30"))
    # The night the clocks go forward (25 March 2018, 1am GMT becomes 2am BST).
    for moment, quiet in ((utc(2018, 3, 24, 21, 59), False), (utc(2018, 3, 24, 22, 0), True),
                          (utc(2018, 3, 25, 6, 29), True), (utc(2018, 3, 25, 6, 30), False)):
        assert policy.silent(None, policy.local_time(moment)) is quiet, moment
    assert policy.silent("off", policy.local_time(utc(2018, 3, 24, 23, 0))) is False
    assert policy.silent("12:00-13:00", policy.local_time(utc(2018, 3, 24, 12, 30))) is True
    assert policy.silent("garbage", policy.local_time(utc(2018, 3, 24, 23, 0))) is True  # read as the default
