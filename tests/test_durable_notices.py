"""No notice is lost to a crash (issue 11): a waiting-list promotion's notice and a broadcast's
final report are recorded in the transaction that causes them, and the broadcast engine sends
them once, after a restart too. Kills are `halt_as_if_killed()` between the commit and the send."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from bot.engines.broadcaster import Broadcaster
from bot.engines.reminders import compose_promoted
from bot.telegram_io.sending import TelegramSender
from storage.broadcasts.listings import broadcast_summary, recent_broadcasts
from storage.broadcasts.notices import report_of
from storage.broadcasts.tables import Broadcast, BroadcastKind, BroadcastStatus
from storage.events import catalogue, rsvps
from tests.builders import make_list, subscribe
from tests.conftest import ORGANISER_ID
from tests.test_broadcast_engine import create, subscribe_many
from tests.test_events import rsvp_statuses, small_event

PROMOTED = "A place came free"
REPORT = "Broadcast finished"


@pytest.fixture
async def encounter_groups(running_bot):
    return await make_list(running_bot.db, "encounter-groups", "Free encounter groups")


def told(person_or_chat, words: str) -> int:
    return sum(words in (m.get("text") or "") for m in person_or_chat.messages)


def restart_engine(running_bot) -> Broadcaster:
    """A new engine on the same database, as a restarted process would have (with a sender of its own)."""
    killed = running_bot.services.broadcaster
    sender = TelegramSender(killed.sender.bot, rate=killed.rate)
    restarted = Broadcaster(db=running_bot.db, sender=sender, clock=killed.clock, compose=killed.compose,
                            report=killed.report, rate=killed.rate, concurrency=killed.concurrency,
                            configured_organisers=killed.configured_organisers)
    running_bot.services.broadcaster = restarted
    restarted.start()
    return restarted


async def kill_engine(running_bot) -> None:
    running_bot.services.broadcaster.halt_as_if_killed()
    # A killed process renews its worker lease no more; here it lapses at once.
    await running_bot.application.bot_data["scheduler_lease"].stop()


async def notices_of_promotion(db, date_id: int) -> list[Broadcast]:
    async with db.transaction() as session:
        return list(await session.scalars(select(Broadcast).where(Broadcast.origin_key.like(f"promoted:{date_id}:%"))))


async def notices_of_offer(db, date_id: int) -> list[Broadcast]:
    async with db.transaction() as session:
        return list(await session.scalars(select(Broadcast).where(Broadcast.origin_key.like(f"offer:{date_id}:%"))))


async def one_on_the_waiting_list(running_bot, clock, settings):
    """A date with one place: 201 has it, 202 waits for it."""
    date_id = await small_event(running_bot.db, clock, settings, capacity=1)
    first, second = running_bot.person(201), running_bot.person(202)
    for person in (first, second):
        await subscribe(running_bot.db, person.chat_id, "encounter-groups")
        await person.send("/events")
        await person.press("Going")
    assert await rsvp_statuses(running_bot.db, date_id) == {201: "going", 202: "waiting"}
    return date_id, first, second


async def test_a_place_offer_committed_just_before_a_kill_is_told_once_after_the_restart(
        running_bot, encounter_groups, clock, settings):
    date_id, first, second = await one_on_the_waiting_list(running_bot, clock, settings)
    await kill_engine(running_bot)

    await first.press("Can't go")  # commits the offer; the process "dies" before sending anything
    assert await rsvp_statuses(running_bot.db, date_id) == {201: "not_going", 202: "waiting"}
    assert told(second, PROMOTED) == 0
    [notice] = await notices_of_offer(running_bot.db, date_id)
    assert "Take the place" in notice.buttons
    assert notice.state is BroadcastStatus.SENDING and notice.recipients == 1

    restarted = restart_engine(running_bot)
    await restarted.wait_until_finished(notice.id)
    assert told(second, PROMOTED) == 1
    restarted.wake()
    await restarted.wait_until_idle()
    await restart_engine_again(running_bot)
    assert told(second, PROMOTED) == 1
    assert told(first, PROMOTED) == 0


async def restart_engine_again(running_bot) -> None:
    await running_bot.services.broadcaster.stop()
    again = restart_engine(running_bot)
    again.wake()
    await again.wait_until_idle()


@pytest.mark.parametrize("change", ["capacity", "booked_elsewhere"])
async def test_promotions_by_an_organisers_edit_are_queued_with_it_and_sent_once(
        running_bot, encounter_groups, clock, settings, change):
    date_id, _first, second = await one_on_the_waiting_list(running_bot, clock, settings)
    compose = compose_promoted(settings.tz)

    async def make_room(session):
        event, event_date = await catalogue.get_event_date(session, event_date_id=date_id)
        if change == "capacity":
            await catalogue.update_event(session, event_id=event.id, changes={"capacity": 2})
            promoted = await rsvps.promote_waiting_everywhere(session, event_id=event.id, now=clock.now(),
                                                              compose_promoted=compose)
            return [chat for _date, chats in promoted for chat in chats]
        event.capacity = 2
        await session.flush()
        return await rsvps.set_booked_elsewhere(session, event_date_id=date_id, places=0, now=clock.now(),
                                                compose_promoted=compose)

    # Rolled back: neither the promotion nor its notice stays.
    with pytest.raises(RuntimeError):
        async with running_bot.db.transaction() as session:
            assert await make_room(session) == [202]
            raise RuntimeError("the organiser's edit failed after the promotion")
    assert await notices_of_promotion(running_bot.db, date_id) == []
    assert (await rsvp_statuses(running_bot.db, date_id))[202] == "waiting"

    async with running_bot.db.transaction() as session:
        assert await make_room(session) == [202]
    [notice] = await notices_of_promotion(running_bot.db, date_id)
    engine = running_bot.services.broadcaster
    engine.wake()
    await engine.wait_until_finished(notice.id)
    assert told(second, PROMOTED) == 1


async def test_the_final_report_is_recorded_with_done_and_sent_once_across_a_kill(running_bot, clock):
    protests = await make_list(running_bot.db, "protests", "Protests and demos")
    await subscribe_many(running_bot.db, [101, 102, 103])
    server = running_bot.server
    organiser = running_bot.person(ORGANISER_ID)
    engine = running_bot.services.broadcaster
    broadcast = await create(running_bot, protests)
    await server.wait_until(lambda: all(server.delivered[chat] for chat in (101, 102, 103)))
    # Nothing more leaves this process: whatever comes next waits for its turn, unsent.
    engine.sender.throttle.hold(60)

    async def report_recorded():
        async with running_bot.db.transaction() as session:
            return await report_of(session, broadcast_id=broadcast.id) is not None

    async with asyncio.timeout(10):
        while not await report_recorded():
            await asyncio.sleep(0.02)
    async with running_bot.db.transaction() as session:
        done = await broadcast_summary(session, broadcast_id=broadcast.id)
        report = await report_of(session, broadcast_id=broadcast.id)
    assert done.status is BroadcastStatus.DONE and done.counts.sent == 3
    assert report.kind == BroadcastKind.REPORT.value and report.recipients == 1
    assert told(organiser, REPORT) == 0
    await kill_engine(running_bot)

    restarted = restart_engine(running_bot)
    await restarted.wait_until_finished(broadcast.id)
    assert told(organiser, REPORT) == 1
    await restart_engine_again(running_bot)
    assert told(organiser, REPORT) == 1
    # The report is not a broadcast organisers need to look after.
    async with running_bot.db.transaction() as session:
        listed = [item.id for item in await recent_broadcasts(session)]
    assert listed == [broadcast.id]
