"""Retention (issue 10, "Leaving really leaves"): old deliveries become per-broadcast counts,
chats on no list are erased after RETENTION_DAYS, the sweep runs only in the scheduler-lease
holder, /forget covers the organiser side, and database errors name no chat with a list."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from bot.local_api.faults import ChatFault
from messages import render
from storage import leases, retention
from storage.broadcasts.deliveries import broadcast_counts, count_deliveries
from storage.broadcasts.listings import broadcast_summary, recent_broadcasts
from storage.broadcasts.notices import report_of
from storage.broadcasts.status import create_broadcast
from storage.broadcasts.tables import BroadcastStatus, Delivery, DeliveryStatus, DeliveryTally
from storage.events.tables import Rsvp
from storage.lists import organisers
from storage.lists.models import Chat, Organiser, Subscription
from tests.builders import (
    chat_row,
    make_list,
    one_date_event,
    rows_keyed_by_chat_row,
    rows_mentioning,
    slugs_of,
    subscribe,
)
from tests.conftest import ORGANISER_ID, bot_running

DAY = dt.timedelta(days=1)
ALERT = "Vigil on Saturday, 2pm, Whitehall"


@pytest.fixture
async def protests(running_bot):
    return await make_list(running_bot.db, "protests", "Protests &amp; demos")


async def sweep(bot) -> retention.SweepReport:
    return await bot.services.retention.sweep_now()


async def broadcast_and_wait(bot, mailing_list, *, created_by=ORGANISER_ID, text=ALERT,
                             status=BroadcastStatus.DONE) -> int:
    """The broadcast, finished, and its report to `created_by` sent (a broadcast of its own)."""
    async with bot.db.transaction() as session:
        broadcast = await create_broadcast(session, list_id=mailing_list.id, text=text,
                                           created_by=created_by, now=bot.services.clock.now())
    bot.services.broadcaster.wake()
    summary = await bot.services.broadcaster.wait_until_finished(broadcast.id, timeout=20)
    assert summary.status is status
    return broadcast.id


async def report_id(bot, broadcast_id) -> int:
    async with bot.db.transaction() as session:
        return (await report_of(session, broadcast_id=broadcast_id)).id


async def every_count(bot, broadcast_id):
    """Every figure an organiser or the operator sees of a broadcast."""
    async with bot.db.transaction() as session:
        counters = await broadcast_counts(session, broadcast_id=broadcast_id)
        by_rows = await count_deliveries(session, broadcast_id=broadcast_id)
        summary = await broadcast_summary(session, broadcast_id=broadcast_id)
        recent = await recent_broadcasts(session, limit=20)
    settings = bot.services.settings
    status = render("cli_broadcast_status.txt", items=[summary], tz=settings.tz, rate=settings.sending_rate,
                    detail=True)
    return counters, by_rows, status, recent


async def delivery_rows(db) -> int:
    async with db.transaction() as session:
        return await session.scalar(select(func.count()).select_from(Delivery))


async def tallies_of(db, broadcast_id) -> dict[str, int]:
    async with db.transaction() as session:
        rows = await session.scalars(select(DeliveryTally).where(DeliveryTally.broadcast_id == broadcast_id))
        return {row.status: row.count for row in rows}


# ------------------------------------------------------------------ deliveries become counts


async def test_old_deliveries_become_counts_and_every_figure_stays_the_same(running_bot, organiser, protests,
                                                                            clock):
    for chat_id in (101, 102, 103, 104, 105):
        await subscribe(running_bot.db, chat_id, "protests")
    running_bot.server.set_fault(104, ChatFault(kind="blocked"))
    running_bot.server.set_fault(105, ChatFault(kind="not_found"))
    broadcast_id = await broadcast_and_wait(running_bot, protests)
    # The final report is a broadcast of its own, with one delivery: it says that the organiser's
    # chat heard about this list's alert, so it follows the same rule as the alert's deliveries.
    report_broadcast_id = await report_id(running_bot, broadcast_id)
    before = await every_count(running_bot, broadcast_id)
    report_before = await every_count(running_bot, report_broadcast_id)
    listing_before = await organiser.say("/broadcasts")
    assert before[1][DeliveryStatus.SENT] == 3 and before[1][DeliveryStatus.BLOCKED] == 1
    assert report_before[1][DeliveryStatus.SENT] == 1
    assert await delivery_rows(running_bot.db) == 5 + 1

    clock.advance(29 * DAY)
    await sweep(running_bot)
    assert await delivery_rows(running_bot.db) == 5 + 1  # within the period: the report may need them

    clock.advance(2 * DAY)
    report = await retention.sweep(running_bot.db, now=clock.now(), keep_for=30 * DAY, batch_size=2)
    assert report.deliveries_reduced == 5 + 1
    assert await delivery_rows(running_bot.db) == 0
    assert await every_count(running_bot, broadcast_id) == before
    assert await every_count(running_bot, report_broadcast_id) == report_before
    assert await organiser.say("/broadcasts") == listing_before
    assert await tallies_of(running_bot.db, broadcast_id) == {"sent": 3, "blocked": 1, "gone": 1}
    assert await tallies_of(running_bot.db, report_broadcast_id) == {"sent": 1}
    # Those still on the list stay; the alert is no longer among "their data".
    assert await slugs_of(running_bot.db, 101) == ["protests"]
    shown = await running_bot.person(101).say("/mydata")
    assert "alert received" not in shown and "alerts received" not in shown


async def test_the_sweep_is_idempotent(running_bot, protests, clock):
    for chat_id in (101, 102):
        await subscribe(running_bot.db, chat_id, "protests")
    await running_bot.person(103).say("/subscribe protests")
    await running_bot.person(103).say("/stop")
    broadcast_id = await broadcast_and_wait(running_bot, protests)
    report_broadcast_id = await report_id(running_bot, broadcast_id)
    clock.advance(31 * DAY)
    first = await sweep(running_bot)
    after_first = [await every_count(running_bot, broadcast_id), await every_count(running_bot, report_broadcast_id)]
    # The alert's two deliveries and its report's one, to the organiser; 103 left long ago.
    assert (first.deliveries_reduced, first.chats_erased) == (2 + 1, 1)
    second = await sweep(running_bot)
    assert (second.chats_noted_on_no_list, second.deliveries_reduced, second.chats_erased) == (0, 0, 0)
    assert [await every_count(running_bot, broadcast_id),
            await every_count(running_bot, report_broadcast_id)] == after_first
    assert await tallies_of(running_bot.db, broadcast_id) == {"sent": 2}
    assert await tallies_of(running_bot.db, report_broadcast_id) == {"sent": 1}


async def test_a_failed_broadcasts_deliveries_become_counts_too(running_bot, protests, clock):
    for chat_id in (101, 102):
        await subscribe(running_bot.db, chat_id, "protests")
    # Fits alone, so it is accepted, but not with the list's footer: the engine marks it FAILED.
    broadcast_id = await broadcast_and_wait(running_bot, protests, text="x" * 4090, status=BroadcastStatus.FAILED)
    before = await every_count(running_bot, broadcast_id)
    assert before[1][DeliveryStatus.FAILED] == 2
    clock.advance(31 * DAY)
    await sweep(running_bot)
    async with running_bot.db.transaction() as session:
        left = await session.scalar(select(func.count()).select_from(Delivery)
                                    .where(Delivery.broadcast_id == broadcast_id))
    assert left == 0  # the rows no longer say which chats this list tried to alert
    assert await tallies_of(running_bot.db, broadcast_id) == {"failed": 2}
    assert await every_count(running_bot, broadcast_id) == before


async def test_a_reminders_deliveries_stay_until_its_event_is_over(database, telegram, clock, settings):
    from storage.dates import parse_reminder_rules

    settings = settings.model_copy(update={"retention_days": 7})
    async with bot_running(database, telegram, clock, settings) as bot:
        await make_list(bot.db, "protests", "Protests")
        await subscribe(bot.db, 101, "protests")
        starts_at = clock.now() + 45 * DAY
        await one_date_event(bot.db, slug="protests", starts_at=starts_at, now=clock.now(), tz=settings.tz,
                             rules=parse_reminder_rules("20 days before at 12:00 to everyone"))
        clock.advance(26 * DAY)  # the reminder is due
        await bot.services.reminders.fire_due()
        await bot.services.broadcaster.wait_until_idle()
        assert await delivery_rows(bot.db) == 1
        clock.advance(8 * DAY)  # past the period after the reminder, but the event is still to come
        await bot.services.retention.sweep_now()
        assert await delivery_rows(bot.db) == 1  # whoever was reminded must hear if it moves
        clock.advance(12 * DAY)  # the event is over
        await bot.services.retention.sweep_now()
        assert await delivery_rows(bot.db) == 0


# ------------------------------------------------------------------ chats that left


async def test_joining_again_within_the_period_keeps_the_chat(running_bot, protests, clock):
    supporter = running_bot.person(101)
    await supporter.say("/subscribe protests")
    await supporter.say("/stop")
    clock.advance(20 * DAY)
    await supporter.say("/subscribe protests")
    clock.advance(20 * DAY)
    await sweep(running_bot)
    assert await slugs_of(running_bot.db, 101) == ["protests"]
    # Leaving one list while still on another does not start the count.
    await make_list(running_bot.db, "groups", "Encounter groups")
    await supporter.say("/subscribe groups")
    await supporter.say("/unsubscribe protests")
    clock.advance(40 * DAY)
    await sweep(running_bot)
    assert await slugs_of(running_bot.db, 101) == ["groups"]


async def test_an_answered_event_keeps_the_chat_until_the_period_after_it_ends(running_bot, protests, clock,
                                                                               settings):
    supporter = running_bot.person(101)
    starts_at = clock.now() + 40 * DAY
    await one_date_event(running_bot.db, slug="protests", starts_at=starts_at, now=clock.now(), tz=settings.tz)
    await supporter.say("/subscribe protests")
    await supporter.send("/events")
    await supporter.press("Going")
    await supporter.say("/stop")
    data = await supporter.say("/mydata")
    erased_on = (starts_at + dt.timedelta(hours=4) + 30 * DAY).astimezone(settings.tz)
    assert f"will be erased on {erased_on:%A} {erased_on.day} {erased_on:%B %Y}" in data

    clock.advance(31 * DAY)
    await sweep(running_bot)
    assert await chat_row(running_bot.db, 101) is not None  # going to an event still to come
    clock.advance(25 * DAY)
    await sweep(running_bot)
    assert await chat_row(running_bot.db, 101) is not None  # the event ended less than 30 days ago
    clock.set(starts_at + dt.timedelta(hours=4) + 30 * DAY + dt.timedelta(minutes=1))
    await sweep(running_bot)
    assert await chat_row(running_bot.db, 101) is None


async def test_answers_to_a_date_long_over_are_erased_for_chats_still_on_a_list(running_bot, protests, clock,
                                                                                  settings):
    supporter = running_bot.person(101)
    starts_at = clock.now() + 2 * DAY
    ends_at = starts_at + dt.timedelta(hours=4)
    await one_date_event(running_bot.db, slug="protests", starts_at=starts_at, now=clock.now(), tz=settings.tz)
    await supporter.say("/subscribe protests")
    await supporter.send("/events")
    await supporter.press("Going")
    await supporter.press("Share my name")
    clock.set(ends_at + 29 * DAY)
    await sweep(running_bot)
    assert "Events you answered" in await supporter.say("/mydata")
    clock.set(ends_at + 30 * DAY + dt.timedelta(minutes=1))
    await sweep(running_bot)
    data = await supporter.say("/mydata")
    assert "Events you answered" not in data and "name shared" not in data
    assert await slugs_of(running_bot.db, 101) == ["protests"]  # still on its list, as it chose
    async with running_bot.db.transaction() as session:
        assert await session.scalar(select(func.count()).select_from(Rsvp)) == 0


async def test_a_chat_blocked_during_a_broadcast_has_left(running_bot, protests, clock):
    await subscribe(running_bot.db, 101, "protests")
    await subscribe(running_bot.db, 102, "protests")
    running_bot.server.set_fault(102, ChatFault(kind="blocked"))
    broadcast_id = await broadcast_and_wait(running_bot, protests)
    before = await every_count(running_bot, broadcast_id)
    clock.advance(31 * DAY)
    await sweep(running_bot)
    assert await chat_row(running_bot.db, 102) is None
    assert await rows_mentioning(running_bot.db, {102}) == []
    assert await every_count(running_bot, broadcast_id) == before


async def test_an_organisers_chat_on_no_list_goes_with_the_reports_it_was_sent(running_bot, protests, clock):
    """Reports are deliveries like any other: erasing a departed chat takes them into the counts."""
    await subscribe(running_bot.db, 101, "protests")
    reports = [await report_id(running_bot, await broadcast_and_wait(running_bot, protests)) for _ in range(2)]
    organiser_chat = await chat_row(running_bot.db, ORGANISER_ID)  # made to send the report to
    async with running_bot.db.transaction() as session:  # it has been on no list for long
        chat = await session.get(Chat, organiser_chat.id)
        chat.left_at = clock.now() - 31 * DAY
    assert len(await rows_keyed_by_chat_row(running_bot.db, organiser_chat.id)) == 2
    before = [await every_count(running_bot, report_broadcast_id) for report_broadcast_id in reports]

    swept = await sweep(running_bot)
    assert (swept.deliveries_reduced, swept.chats_erased) == (0, 1)  # the reports are recent
    assert await chat_row(running_bot.db, ORGANISER_ID) is None
    assert await rows_keyed_by_chat_row(running_bot.db, organiser_chat.id) == []
    assert [await every_count(running_bot, report_broadcast_id) for report_broadcast_id in reports] == before
    for report_broadcast_id in reports:
        assert await tallies_of(running_bot.db, report_broadcast_id) == {"sent": 1}
    clock.advance(31 * DAY)  # the erased chat's reports are not counted a second time
    assert (await sweep(running_bot)).deliveries_reduced == 2  # the alerts' deliveries, to 101
    assert [await every_count(running_bot, report_broadcast_id) for report_broadcast_id in reports] == before


async def test_chats_on_no_list_with_nothing_recorded_start_their_period_at_the_next_sweep(running_bot, protests,
                                                                                         clock):
    await subscribe(running_bot.db, 101, "protests")
    async with running_bot.db.transaction() as session:  # as when a list is deleted
        await session.execute(Subscription.__table__.delete())
    assert (await chat_row(running_bot.db, 101)).left_at is None
    await sweep(running_bot)
    assert (await chat_row(running_bot.db, 101)).left_at == clock.now()
    clock.advance(31 * DAY)
    await sweep(running_bot)
    assert await chat_row(running_bot.db, 101) is None


async def test_privacy_and_mydata_state_the_period(running_bot, protests, settings):
    supporter = running_bot.person(101)
    privacy = await supporter.say("/privacy")
    assert ("Once this chat is on no list and every event it answered is over, everything about it is erased "
            "30 days later.") in privacy
    assert "kept for 30 days after each alert finished sending" in privacy
    await supporter.say("/subscribe protests")
    assert "How long: while this chat is on a list." in await supporter.say("/mydata")
    assert "erased 30 days after" in await supporter.say("/stop")
    assert "will be erased on Saturday 31 March 2018" in await supporter.say("/mydata")


async def test_the_period_is_a_setting(database, telegram, clock, settings):
    settings = settings.model_copy(update={"retention_days": 7})
    async with bot_running(database, telegram, clock, settings) as bot:
        await make_list(bot.db, "protests", "Protests")
        supporter = bot.person(101)
        await supporter.say("/subscribe protests")
        await supporter.say("/stop")
        assert "erased 7 days later" in await supporter.say("/privacy")
        clock.advance(8 * DAY)
        await bot.services.retention.sweep_now()
        assert await chat_row(bot.db, 101) is None


# ------------------------------------------------------------------ who sweeps, and when


async def test_the_lease_holder_sweeps_at_start_up(database, telegram, clock, settings):
    await make_list(database, "protests", "Protests")
    await subscribe(database, 101, "protests")
    async with database.transaction() as session:
        chat = await session.scalar(select(Chat).where(Chat.telegram_id == 101))
        await session.execute(Subscription.__table__.delete())
        chat.left_at = clock.now() - 31 * DAY
    async with bot_running(database, telegram, clock, settings) as bot:
        sweeper = bot.services.retention
        await asyncio.wait_for(sweeper.swept.wait(), timeout=20)
        assert await chat_row(bot.db, 101) is None
        [job] = bot.application.job_queue.get_jobs_by_name("retention-sweep")
        assert job.job.trigger.interval == dt.timedelta(hours=1)


async def test_a_process_without_the_lease_does_not_sweep(database, telegram, clock, settings):
    async with database.transaction() as session:
        far = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
        await leases.take_or_renew_lease(session, name="scheduler", holder="another-process",
                                         now=dt.datetime.now(dt.UTC), ttl=far - dt.datetime.now(dt.UTC))
    async with bot_running(database, telegram, clock, settings) as bot:
        assert not bot.application.job_queue.get_jobs_by_name("retention-sweep")
        assert not bot.services.retention.swept.is_set()


# ------------------------------------------------------------------ /forget, the organiser side


async def test_forget_ends_an_organisers_role_and_anonymises_their_rows(running_bot, organiser, protests):
    await organiser.say("/organiser add 555")
    added = running_bot.person(555)
    await added.say("/organiser add 556")
    await broadcast_and_wait(running_bot, protests, created_by=555)
    assert await rows_mentioning(running_bot.db, {555})

    await added.say("/forget")
    [answer] = await added.press("Yes, erase")
    assert "You are no longer an organiser" in answer["text"]
    assert await rows_mentioning(running_bot.db, {555}) == []
    assert "/newlist" not in await added.say("/help")
    async with running_bot.db.transaction() as session:
        assert not await organisers.is_organiser(session, user_id=555, configured=frozenset())
        # The organiser they added stays one, no longer saying who added them.
        assert (await session.get(Organiser, 556)).added_by is None


async def test_forget_tells_a_configured_organiser_the_setting_still_names_them(running_bot, organiser, protests):
    await organiser.say("/organiser add 555")
    await broadcast_and_wait(running_bot, protests)
    organiser_chat = await chat_row(running_bot.db, ORGANISER_ID)
    assert await rows_keyed_by_chat_row(running_bot.db, organiser_chat.id)  # the report's delivery
    await organiser.say("/forget")
    [answer] = await organiser.press("Yes, erase")
    assert "You are still an organiser, because the bot's settings (ORGANISER_IDS) name you" in answer["text"]
    assert await rows_mentioning(running_bot.db, {ORGANISER_ID}) == []
    assert await rows_keyed_by_chat_row(running_bot.db, organiser_chat.id) == []
    assert "/newlist" in await organiser.say("/help")


async def test_a_group_admin_erasing_the_group_stays_an_organiser(running_bot, organiser, protests):
    await organiser.say("/organiser add 301")
    running_bot.server.add_group(-100200, admins={301})
    admin = running_bot.person(301, chat_id=-100200)
    await admin.say("/subscribe protests")
    await admin.say("/forget")
    [answer] = await admin.press("Yes, erase")
    assert "no longer an organiser" not in answer["text"]
    assert await chat_row(running_bot.db, -100200) is None
    async with running_bot.db.transaction() as session:
        assert await organisers.is_organiser(session, user_id=301, configured=frozenset())


# ------------------------------------------------------------------ logging


async def test_database_errors_do_not_quote_chats_or_lists(database):
    """An error's text ends up in the log (the error handler logs it); it must not carry the
    statement's values, here a chat row id beside a list id."""
    mailing_list = await make_list(database, "protests", "Protests")
    with pytest.raises(IntegrityError) as raised:
        async with database.transaction() as session:
            session.add(Subscription(chat_id=987654, list_id=mailing_list.id))
            await session.flush()
    assert "987654" not in str(raised.value)
