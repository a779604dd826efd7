"""Places offered, not assigned (issue 13): a place freed on a full date is offered to the first
waiting with "Take the place" and a deadline, then to the next; within the last two hours to
everyone waiting at once. Offers are rows driven by the scheduler on the injected clock, survive
restarts, and are settled once however many processes look."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from sqlalchemy import func, select

from storage import retention
from storage.broadcasts.tables import Broadcast
from storage.events import offers
from storage.events.tables import OfferStatus, PlaceOffer
from tests.builders import make_list, subscribe
from tests.conftest import ORGANISER_ID
from tests.test_events import rsvp_statuses, small_event, utc
from tests.test_events_reminders import bot_running

START = utc(2018, 3, 17, 10)  # the small event: Saturday 17 March 2018, 10am (GMT)


@pytest.fixture
async def groups(database):
    await make_list(database, "encounter-groups", "Free encounter groups")


def offers_to(person) -> list[dict]:
    return [m for m in person.messages if "A place came free" in m.get("text", "")]


async def full_with_waiting(bot, clock, settings, *, waiting: int = 2):
    """Capacity 1: person 201 going, then 202, 203 ... on the waiting list in that order."""
    date_id = await small_event(bot.db, clock, settings, capacity=1, starts_at=START)
    people = [bot.person(user_id) for user_id in range(201, 202 + waiting)]
    for person in people:
        await subscribe(bot.db, person.chat_id, "encounter-groups")
        await person.send("/events")
        await person.press("Going")
    return date_id, people


async def offer_rows(db, date_id: int) -> list[tuple[int, str, bool]]:
    from storage.lists.models import Chat

    async with db.transaction() as session:
        rows = await session.execute(select(Chat.telegram_id, PlaceOffer.status, PlaceOffer.open_to_all)
                                     .join(Chat, Chat.id == PlaceOffer.chat_id)
                                     .where(PlaceOffer.event_date_id == date_id).order_by(PlaceOffer.id))
        return [tuple(row) for row in rows.all()]


async def delivered(bot, person, count: int) -> list[dict]:
    await bot.server.wait_until(lambda: len(offers_to(person)) >= count)
    return offers_to(person)


async def test_a_freed_place_is_offered_in_turn_and_the_card_stays_true(database, telegram, clock, settings,
                                                                         groups):
    async with bot_running(database, telegram, clock, settings) as bot:
        date_id, (first, second, third, fourth) = await full_with_waiting(bot, clock, settings, waiting=3)
        await first.press("Can't go")
        [offer] = await delivered(bot, second, 1)
        # 12 hours from 1 March, 12pm: well before 2 hours ahead of the start.
        assert "Press \"Take the place\" by Friday 2 March 2018, 12am" in offer["text"]
        assert [b["text"] for b in second.buttons(offer)] == ["Take the place"]
        assert offers_to(third) == [] and offers_to(fourth) == []
        assert (await rsvp_statuses(bot.db, date_id))[202] == "waiting"  # offered, not assigned

        # The held place is nobody else's; everyone's position stays true.
        card = (await second.send("/events"))[-1]
        held = "number 1 on the waiting list, and a place is held for you until Friday 2 March 2018, 12am"
        assert held in card["text"]
        assert "Take the place" in [b["text"] for b in second.buttons(card)]
        assert "<b>Fully booked.</b>" in (await third.send("/events"))[-1]["text"]
        assert "number 2 on the waiting list" in third.last["text"]
        newcomer = bot.person(209)
        await subscribe(bot.db, newcomer.chat_id, "encounter-groups")
        await newcomer.send("/events")
        assert "number 4 on the waiting list" in (await newcomer.press("Going"))[0]["text"]

        # Unclaimed by the deadline: the next is offered it, and the first waits at the end.
        clock.set(utc(2018, 3, 2, 0, 0))
        await bot.services.reminders.fire_due()
        [offer_to_third] = await delivered(bot, third, 1)
        assert "Friday 2 March 2018, 12pm" in offer_to_third["text"]
        assert "number 4 on the waiting list" in (await second.send("/events"))[-1]["text"]
        assert "number 1 on the waiting list, and a place is held" in (await third.send("/events"))[-1]["text"]
        assert "number 2 on the waiting list" in (await fourth.send("/events"))[-1]["text"]
        # Too late for the first; the second takes it.
        assert "no longer open to you" in (await second.press("Take the place", offer))[0]["text"]
        assert "The place is yours" in (await third.press("Take the place", offer_to_third))[0]["text"]
        assert "The place is yours" in (await third.press("Take the place", offer_to_third))[0]["text"]  # twice
        assert "✓ You are going." in (await third.send("/events"))[-1]["text"]
    assert await rsvp_statuses(database, date_id) == {201: "not_going", 202: "waiting", 203: "going",
                                                      204: "waiting", 209: "waiting"}
    assert await offer_rows(database, date_id) == [(202, "expired", False), (203, "taken", False)]


async def test_an_offer_ends_two_hours_before_the_start_and_then_everyone_is_told(database, telegram, clock,
                                                                                   settings, groups):
    clock.set(utc(2018, 3, 17, 1, 0))  # nine hours before: 12 hours would run past the start
    async with bot_running(database, telegram, clock, settings) as bot:
        date_id, (first, second, third) = await full_with_waiting(bot, clock, settings)
        await first.press("Can't go")
        [offer] = await delivered(bot, second, 1)
        assert "by Saturday 17 March 2018, 8am" in offer["text"]
        clock.set(utc(2018, 3, 17, 8, 0))
        await bot.services.reminders.fire_due()
        [to_second_again] = (await delivered(bot, second, 2))[1:]
        [to_third] = await delivered(bot, third, 1)
        for message in (to_second_again, to_third):
            assert "the first to press \"Take the place\" gets it" in message["text"]
        assert "The place is yours" in (await third.press("Take the place", to_third))[0]["text"]
        assert "no longer open to you" in (await second.press("Take the place", to_second_again))[0]["text"]
    assert await rsvp_statuses(database, date_id) == {201: "not_going", 202: "waiting", 203: "going"}
    assert await offer_rows(database, date_id) == [(202, "expired", False), (203, "taken", True),
                                                   (202, "withdrawn", True)]


async def test_within_the_last_two_hours_a_freed_place_goes_to_whoever_presses_first(database, telegram, clock,
                                                                                     settings, groups):
    clock.set(utc(2018, 3, 17, 8, 30))
    async with bot_running(database, telegram, clock, settings) as bot:
        date_id, (first, second, third) = await full_with_waiting(bot, clock, settings)
        await first.press("Can't go")
        [to_second] = await delivered(bot, second, 1)
        [to_third] = await delivered(bot, third, 1)
        presses = await asyncio.gather(second.press("Take the place", to_second),
                                       third.press("Take the place", to_third))
        answers = sorted(message[0]["text"][:20] for message in presses)
        assert answers[0].startswith("Sorry") and answers[1].startswith("✓ The place is yours")
    statuses = await rsvp_statuses(database, date_id)
    assert sorted(statuses.values()) == ["going", "not_going", "waiting"]


async def test_pressing_going_on_the_card_takes_the_place_offered(database, telegram, clock, settings, groups):
    async with bot_running(database, telegram, clock, settings) as bot:
        date_id, (first, second, _third) = await full_with_waiting(bot, clock, settings)
        await first.press("Can't go")
        await delivered(bot, second, 1)
        card = (await second.send("/events"))[-1]
        assert "✓ You are going." in (await second.press("Going", card))[0]["text"]
    assert (await rsvp_statuses(database, date_id))[202] == "going"


async def test_saying_cant_go_while_offered_passes_the_place_on_at_once(database, telegram, clock, settings, groups):
    async with bot_running(database, telegram, clock, settings) as bot:
        date_id, (first, second, third) = await full_with_waiting(bot, clock, settings)
        await first.press("Can't go")
        await delivered(bot, second, 1)
        card = (await second.send("/events"))[-1]
        await second.press("Can't go", card)
        await delivered(bot, third, 1)
    assert await offer_rows(database, date_id) == [(202, "withdrawn", False), (203, "open", False)]


async def test_offers_and_their_deadlines_survive_a_restart(database, telegram, clock, settings, groups):
    async with bot_running(database, telegram, clock, settings) as bot:
        date_id, (first, second, third) = await full_with_waiting(bot, clock, settings)
        await first.press("Can't go")
        await delivered(bot, second, 1)
    async with database.transaction() as session:
        [offer_id] = [offer.id for offer in await session.scalars(select(PlaceOffer))]
    async with bot_running(database, telegram, clock, settings) as bot:
        await bot.services.reminders.rebuild()
        assert offer_id in bot.services.reminders.offer_job_ids()
        clock.set(utc(2018, 3, 2, 0, 1))
        await bot.services.reminders.fire_due()
        await delivered(bot, bot.person(203), 1)
        assert bot.services.reminders.offer_job_ids() == {offer_id + 1}
    assert await offer_rows(database, date_id) == [(202, "expired", False), (203, "open", False)]


async def test_an_expiry_seen_by_several_processes_at_once_is_settled_once(database, telegram, clock, settings,
                                                                           groups):
    async with bot_running(database, telegram, clock, settings) as bot:
        date_id, (first, second, third) = await full_with_waiting(bot, clock, settings)
        await first.press("Can't go")
        await delivered(bot, second, 1)
        offering = bot.services.offering
    async with database.transaction() as session:
        [offer_id] = await offers.due_offer_ids(session, now=utc(2018, 3, 2, 1))

    async def expire() -> list[int]:
        async with database.transaction() as session:
            return await offers.expire_offer(session, offer_id=offer_id, now=utc(2018, 3, 2, 1), offering=offering)

    told = await asyncio.gather(*(expire() for _ in range(4)))
    assert sorted(len(chats) for chats in told) == [0, 0, 0, 1]
    async with database.transaction() as session:
        notices = await session.scalar(select(func.count()).select_from(Broadcast)
                                       .where(Broadcast.origin_key.like("offer:%")))
    assert notices == 2  # the first offer's, and the next one's: once each
    assert await offer_rows(database, date_id) == [(202, "expired", False), (203, "open", False)]


async def test_offers_show_in_mydata_and_go_with_forget_and_the_sweep(database, telegram, clock, settings, groups):
    async with bot_running(database, telegram, clock, settings) as bot:
        date_id, (first, second, third) = await full_with_waiting(bot, clock, settings)
        await first.press("Can't go")
        await delivered(bot, second, 1)
        shown = await second.say("/mydata")
        assert "Places offered to you" in shown and "Small group, 17 March 2018 10:00: open until" in shown
        await second.send("/forget")
        await second.press("Yes, erase everything")
        assert await offer_rows(database, date_id) == []
        # The place held for them is free again: the scheduler's sweep offers it to the next.
        await bot.services.reminders.fire_due()
        await delivered(bot, third, 1)
    assert await offer_rows(database, date_id) == [(203, "open", False)]
    # Once the date is over, the sweep drops its offers whoever they were made to.
    await retention.sweep(database, now=START + dt.timedelta(days=1), keep_for=dt.timedelta(days=30))
    assert await offer_rows(database, date_id) == []


async def test_the_offer_hours_are_a_setting(database, telegram, clock, settings, groups):
    settings = settings.model_copy(update={"place_offer_hours": 3.0})
    async with bot_running(database, telegram, clock, settings) as bot:
        _date_id, (first, second, _third) = await full_with_waiting(bot, clock, settings)
        await first.press("Can't go")
        [offer] = await delivered(bot, second, 1)
    assert "by Thursday 1 March 2018, 3pm" in offer["text"]
    async with database.transaction() as session:
        [row] = list(await session.scalars(select(PlaceOffer)))
    assert (row.status, row.expires_at) == (OfferStatus.OPEN.value, utc(2018, 3, 1, 15))


async def test_a_moved_date_brings_the_deadline_forward_and_a_cancelled_one_withdraws_it(database, telegram, clock,
                                                                                         settings, groups):
    async with bot_running(database, telegram, clock, settings) as bot:
        date_id, (first, second, _third) = await full_with_waiting(bot, clock, settings)
        await first.press("Can't go")
        [offer] = await delivered(bot, second, 1)
        organiser = bot.person(ORGANISER_ID)
        await organiser.send("/editevent")
        await organiser.press("Small group")
        await organiser.press("Time")
        assert "Changed" in await organiser.say("1 March 2018 8pm")
        async with database.transaction() as session:
            [row] = list(await session.scalars(select(PlaceOffer)))
        assert row.expires_at == utc(2018, 3, 1, 18)  # 2 hours before the new start
        await organiser.send("/cancelevent")
        await organiser.press("Small group")
        await organiser.press("Yes, cancel it")
        assert "no longer taking answers" in (await second.press("Take the place", offer))[0]["text"]
    assert await offer_rows(database, date_id) == [(202, "withdrawn", False)]


async def test_two_processes_expiring_at_once_offer_the_place_on_once(database, telegram, clock, settings, groups):
    from tests.test_processes import another_process

    async with bot_running(database, telegram, clock, settings) as bot:
        date_id, (first, second, third) = await full_with_waiting(bot, clock, settings)
        await first.press("Can't go")
        await delivered(bot, second, 1)
        async with another_process(database, telegram, clock, settings) as (other, _application):
            clock.set(utc(2018, 3, 2, 0, 0))
            await asyncio.gather(bot.services.reminders.fire_due(), other.reminders.fire_due(),
                                 bot.services.reminders.fire_due(), other.reminders.fire_due())
            await delivered(bot, third, 1)
            await bot.services.broadcaster.wait_until_idle()
            await other.broadcaster.wait_until_idle()
    assert len(offers_to(third)) == 1
    assert await offer_rows(database, date_id) == [(202, "expired", False), (203, "open", False)]
