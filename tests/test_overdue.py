"""Overdue broadcasts: one the bot could only start more than OVERDUE_AFTER_MINUTES after its time
(it was down) is not sent by itself; every organiser gets its preview with Send now and Drop,
durably, and the first to press decides."""

from __future__ import annotations

import datetime as dt

import pytest

from storage.broadcasts.listings import broadcast_summary
from storage.broadcasts.status import create_broadcast
from storage.broadcasts.tables import BroadcastStatus
from storage.lists import organisers
from tests.builders import make_list, subscribe
from tests.conftest import ORGANISER_ID, bot_running

SECOND_ORGANISER = 901
ALERT = "Demo at 8.15am, Harrington Gardens entrance"


@pytest.fixture
async def protests(database):
    mailing_list = await make_list(database, "protests", "Protests and demos")
    for chat_id in (101, 102):
        await subscribe(database, chat_id, "protests")
    async with database.transaction() as session:
        await organisers.add_organiser(session, user_id=SECOND_ORGANISER, added_by=ORGANISER_ID,
                                       configured=frozenset({ORGANISER_ID}))
    return mailing_list


async def scheduled(db, mailing_list, clock, *, in_hours=1):
    async with db.transaction() as session:
        broadcast = await create_broadcast(session, list_id=mailing_list.id, text=ALERT, created_by=ORGANISER_ID,
                                           send_at=clock.now() + dt.timedelta(hours=in_hours), now=clock.now())
    return broadcast.id


async def status_of(db, broadcast_id):
    async with db.transaction() as session:
        return (await broadcast_summary(session, broadcast_id=broadcast_id)).status


async def look(bot):
    bot.services.broadcaster.wake()
    await bot.services.broadcaster.wait_until_idle()


def alerts_to(server, chat_id):
    return [m for m in server.sent_to(chat_id) if (m.get("text") or "").startswith(ALERT)]


async def test_a_broadcast_due_while_the_bot_was_down_waits_for_an_organiser(database, telegram, clock, settings,
                                                                             protests):
    async with bot_running(database, telegram, clock, settings):
        broadcast_id = await scheduled(database, protests, clock)
    clock.advance(dt.timedelta(hours=1, minutes=31))  # down from before its time until 31 minutes after
    async with bot_running(database, telegram, clock, settings) as bot:
        await look(bot)
        await telegram.wait_until(lambda: len(telegram.sent_to(SECOND_ORGANISER)) == 2)
        assert await status_of(database, broadcast_id) is BroadcastStatus.OVERDUE
        assert alerts_to(telegram, 101) == []
        for organiser_id in (ORGANISER_ID, SECOND_ORGANISER):
            about, preview = sorted(telegram.sent_to(organiser_id), key=lambda m: "reply_markup" in m)
            assert f"Broadcast #{broadcast_id} is overdue and was not sent" in about["text"]
            assert "It was due Thursday 01 March 2018 at 13:00" in about["text"]
            assert preview["text"] == (f"{ALERT}\n\n<i>You get this as a member of Protests and demos. "
                                       "To leave: /unsubscribe protests</i>")
            assert [b["text"] for b in preview["reply_markup"]["inline_keyboard"][0]] == [
                f"Send #{broadcast_id} now", f"Drop #{broadcast_id}"]
        second = bot.person(SECOND_ORGANISER)
        preview = next(m for m in second.messages if "reply_markup" in m)
        [answer] = await second.press("Send", preview)
        assert f"Broadcast #{broadcast_id} is sending now" in answer["text"]
        summary = await bot.services.broadcaster.wait_until_finished(broadcast_id)
        assert summary.counts.sent == 2 and len(alerts_to(telegram, 101)) == 1
        first = bot.person(ORGANISER_ID)
        late = await first.press("Drop", next(m for m in first.messages if "reply_markup" in m))
        assert "was decided already: it is done" in late[0]["text"]


async def test_an_overdue_broadcast_dropped_is_never_sent(running_bot, protests, clock, organiser):
    broadcast_id = await scheduled(running_bot.db, protests, clock)
    clock.advance(dt.timedelta(hours=3))
    await look(running_bot)
    await running_bot.server.wait_until(lambda: len(organiser.messages) == 2)
    [answer] = await organiser.press("Drop", next(m for m in organiser.messages if "reply_markup" in m))
    assert f"Dropped: broadcast #{broadcast_id} will not be sent" in answer["text"]
    await look(running_bot)
    assert await status_of(running_bot.db, broadcast_id) is BroadcastStatus.CANCELLED
    assert alerts_to(running_bot.server, 101) == []
    shown = await organiser.say("/broadcasts")
    assert f"#{broadcast_id}</b> to <b>Protests and demos</b>: cancelled" in shown


async def test_within_the_grace_a_late_broadcast_is_sent_as_usual(running_bot, protests, clock):
    broadcast_id = await scheduled(running_bot.db, protests, clock)
    clock.advance(dt.timedelta(hours=1, minutes=30))
    running_bot.services.broadcaster.wake()
    summary = await running_bot.services.broadcaster.wait_until_finished(broadcast_id)
    assert summary.status is BroadcastStatus.DONE and summary.counts.sent == 2


async def test_broadcasts_lists_an_overdue_broadcast_with_a_cancel_button(running_bot, protests, clock, organiser):
    broadcast_id = await scheduled(running_bot.db, protests, clock)
    clock.advance(dt.timedelta(hours=2))
    await look(running_bot)
    shown = await organiser.send("/broadcasts")
    listing = next(m for m in shown if "Broadcasts" in m["text"])
    assert f"#{broadcast_id}</b> to <b>Protests and demos</b>: overdue (Send now or Drop under its preview)" in \
        listing["text"]
    assert "Written by <code>900</code>" in listing["text"]
    await organiser.press(f"Cancel #{broadcast_id}", listing)
    assert await status_of(running_bot.db, broadcast_id) is BroadcastStatus.CANCELLED
