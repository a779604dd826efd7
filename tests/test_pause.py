"""A break from alerts (/pause): ordinary alerts are not sent to a paused chat and the report
counts them as paused; reminders of dates it is going to still arrive; /pause off, or the end of
the pause, lets alerts through again; /mydata shows it and /forget and the sweep erase it."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from bot.engines.reminders import compose_promoted
from storage.broadcasts.deliveries import count_deliveries
from storage.broadcasts.status import create_broadcast
from storage.broadcasts.tables import Broadcast, DeliveryStatus
from storage.events import rsvps
from storage.lists.models import ChatKind
from tests.builders import chat_row, make_list, subscribe
from tests.conftest import ORGANISER_ID
from tests.test_events import small_event, utc

PAUSED, OTHER = 101, 102
ALERT = "Vigil tonight"


@pytest.fixture
async def protests(running_bot):
    mailing_list = await make_list(running_bot.db, "protests", "Protests and demos")
    for chat_id in (PAUSED, OTHER):
        await subscribe(running_bot.db, chat_id, "protests")
    return mailing_list


async def alert(running_bot, mailing_list):
    async with running_bot.db.transaction() as session:
        broadcast = await create_broadcast(session, list_id=mailing_list.id, text=ALERT, created_by=ORGANISER_ID,
                                           now=running_bot.services.clock.now())
    running_bot.services.broadcaster.wake()
    return await running_bot.services.broadcaster.wait_until_finished(broadcast.id)


def alerts_to(server, chat_id: int) -> int:
    return sum(1 for m in server.sent_to(chat_id) if (m.get("text") or "").startswith(ALERT))


async def test_a_paused_chat_gets_no_alerts_and_the_report_counts_it(running_bot, protests, clock):
    person = running_bot.person(PAUSED)
    paused = await person.say("/pause 7")
    assert "Paused until Thursday 8 March 2018, 12pm" in paused
    summary = await alert(running_bot, protests)
    assert alerts_to(running_bot.server, PAUSED) == 0 and alerts_to(running_bot.server, OTHER) == 1
    assert (summary.counts.sent, summary.counts.paused, summary.counts.pending) == (1, 1, 0)
    assert "1 paused (the chat is taking a break from alerts)" in running_bot.server.sent_to(ORGANISER_ID)[-1]["text"]
    async with running_bot.db.transaction() as session:
        assert (await count_deliveries(session, broadcast_id=summary.id))[DeliveryStatus.PAUSED] == 1

    clock.advance(dt.timedelta(days=7))  # the pause is over by itself
    await alert(running_bot, protests)
    assert alerts_to(running_bot.server, PAUSED) == 1


async def test_pause_off_ends_it_and_the_buttons_choose_the_days(running_bot, protests, clock):
    person = running_bot.person(PAUSED)
    assert "Alerts are not paused" in await person.say("/pause")
    assert [b["text"] for b in person.buttons()] == ["1 day", "7 days", "30 days"]
    [pressed] = await person.press("30 days")
    assert "Paused until Saturday 31 March 2018, 1pm" in pressed["text"]  # 1pm BST, 30 days on
    assert [b["text"] for b in person.buttons(pressed)][-1] == "End the pause"
    assert "Alerts paused (/pause): until 31 March 2018 13:00" in await person.say("/mydata")
    assert "The pause is over" in await person.say("/pause off")
    assert "Alerts paused (/pause): no" in await person.say("/mydata")
    await alert(running_bot, protests)
    assert alerts_to(running_bot.server, PAUSED) == 1
    assert "as a number of days" in await person.say("/pause forever")
    assert "as a number of days" in await person.say("/pause 0")
    assert "Paused until Friday 2 March 2018" in (await person.press("1 day"))[0]["text"]


async def test_reminders_of_a_date_one_is_going_to_still_arrive(running_bot, clock, settings):
    await make_list(running_bot.db, "encounter-groups", "Free encounter groups")
    going, not_going = 101, 102
    for chat_id in (going, not_going, 103):
        await subscribe(running_bot.db, chat_id, "encounter-groups")
    date_id = await small_event(running_bot.db, clock, settings,
                                rules="1 day before at 19:00 to everyone; 90 minutes before to going")
    async with running_bot.db.transaction() as session:
        await rsvps.answer_rsvp(session, event_date_id=date_id, telegram_id=going, kind=ChatKind.PRIVATE,
                                going=True, now=clock.now(), compose_promoted=compose_promoted(settings.tz))
    for chat_id in (going, not_going):
        await running_bot.person(chat_id).say("/pause 30")
    for moment in (utc(2018, 3, 16, 19, 0), utc(2018, 3, 17, 8, 30)):
        clock.set(moment)
        assert len((await running_bot.services.reminders.fire_due()).sent) == 1
        async with running_bot.db.transaction() as session:
            ids = list(await session.scalars(select(Broadcast.id)))
        for broadcast_id in ids:
            await running_bot.services.broadcaster.wait_until_finished(broadcast_id)

    def reminders(chat_id):
        return sum(1 for m in running_bot.server.sent_to(chat_id) if (m.get("text") or "").startswith("<b>Reminder:"))

    assert (reminders(going), reminders(not_going), reminders(103)) == (2, 0, 1)


async def test_forget_and_the_sweep_erase_the_pause(running_bot, clock):
    person = running_bot.person(PAUSED)
    await person.say("/pause 7")
    await person.send("/forget")
    await person.press("Yes, erase everything")
    assert await chat_row(running_bot.db, PAUSED) is None

    await running_bot.person(OTHER).say("/pause 7")  # on no list: erased once its period is over
    clock.advance(dt.timedelta(days=31))
    await running_bot.services.retention.sweep_now()
    assert await chat_row(running_bot.db, OTHER) is None
