"""Reminders: sent once at the right moment, across restarts, rebuilds, edits, cancellations and
clock changes. Time moves only when a test moves the injected clock; nothing sleeps for it."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.app import build_application, running
from bot.engines.reminders import compose_promoted
from bot.services import services_in
from bot.telegram_io.observing import ProcessedUpdates
from storage.broadcasts.tables import Broadcast
from storage.events import notices, reminders, rsvps
from storage.events.tables import Reminder
from storage.lists.models import ChatKind
from tests.builders import make_list, subscribe
from tests.conftest import ORGANISER_ID, TOKEN, RunningBot
from tests.test_events import date_ids, import_example, small_event, utc

LONDON = ZoneInfo("Europe/London")

SUPPORTERS = (101, 102, 103)
GOING = 101


@asynccontextmanager
async def bot_running(database, telegram, clock, settings) -> AsyncIterator[RunningBot]:
    """A bot process over the shared database and Bot API server; leaving the block stops it,
    as a restart would (its in-memory jobs vanish)."""
    application = build_application(settings=settings, db=database, clock=clock, token=TOKEN, api_url=telegram.url)
    services = services_in(application)
    processed = ProcessedUpdates(application)
    async with running(application, poll_timeout=0.2):
        yield RunningBot(server=telegram, services=services, processed=processed, application=application)


@pytest.fixture
async def demo(database, clock, settings):
    """The seed events imported, three supporters on the protests list, one of them going to the demo."""
    await make_list(database, "protests", "Protests and demos")
    await make_list(database, "encounter-groups", "Free encounter groups")
    await import_example(database, clock, settings)
    for chat_id in SUPPORTERS:
        await subscribe(database, chat_id, "protests")
    [date_id] = await date_ids(database, "demo-2018-03-21")
    async with database.transaction() as session:
        await rsvps.answer_rsvp(session, event_date_id=date_id, telegram_id=GOING, kind=ChatKind.PRIVATE,
                                going=True, now=clock.now(), compose_promoted=compose_promoted(LONDON))
    return date_id


def reminders_to(server, chat_id: int) -> list[str]:
    return [m["text"] for m in server.sent_to(chat_id) if m.get("text", "").startswith("<b>Reminder:")]


def texts_to(server, chat_id: int, start: str) -> list[str]:
    return [m["text"] for m in server.sent_to(chat_id) if m.get("text", "").startswith(start)]


async def all_delivered(bot: RunningBot) -> None:
    """Waits until every broadcast the bot created has gone out."""
    async with bot.db.transaction() as session:
        ids = list(await session.scalars(select(Broadcast.id)))
    for broadcast_id in ids:
        await bot.services.broadcaster.wait_until_finished(broadcast_id, timeout=10)


async def statuses(db, date_id: int) -> list[tuple[str, str]]:
    async with db.transaction() as session:
        rows = await reminders.reminder_statuses(session, event_date_id=date_id)
    return [(rule, status) for rule, _due, status in rows]


async def test_reminders_are_sent_once_at_their_moment_across_restarts(database, telegram, clock, settings, demo):
    server = telegram
    async with bot_running(database, telegram, clock, settings) as bot:
        clock.set(utc(2018, 3, 20, 18, 59, 59))
        assert not (await bot.services.reminders.fire_due()).sent
        clock.set(utc(2018, 3, 20, 19, 0))  # 7pm GMT, the evening before
        assert len((await bot.services.reminders.fire_due()).sent) == 1
        await all_delivered(bot)
        assert all(len(reminders_to(server, chat)) == 1 for chat in SUPPORTERS)
        text = reminders_to(server, 101)[0]
        assert "Demo at the Millennium Conference Centre" in text and "Wednesday 21 March 2018, 8.15am" in text
        assert "Meeting point: Harrington Gardens entrance" in text

    # Restarted: the rebuild at start-up, and another rebuild, send nothing again.
    async with bot_running(database, telegram, clock, settings) as bot:
        await bot.services.reminders.rebuild()
        assert not (await bot.services.reminders.fire_due()).sent
        await all_delivered(bot)
        assert all(len(reminders_to(server, chat)) == 1 for chat in SUPPORTERS)
        # The going-only reminder has its job, derived from the database after the restart.
        async with database.transaction() as session:
            pending = [rid for rid, _due in await reminders.pending_reminders(session)]
        assert set(pending) <= bot.services.reminders.scheduled_ids()

    # Down while the morning reminder falls due (06:45); back at 07:00, before the 08:15 start.
    clock.set(utc(2018, 3, 21, 7, 0))
    async with bot_running(database, telegram, clock, settings) as bot:
        await all_delivered(bot)
        assert len(reminders_to(server, GOING)) == 2
        assert [len(reminders_to(server, chat)) for chat in (102, 103)] == [1, 1]
        assert "You said you are going" in reminders_to(server, GOING)[1]
    async with bot_running(database, telegram, clock, settings) as bot:
        await bot.services.reminders.rebuild()
        await all_delivered(bot)
    assert [len(reminders_to(server, chat)) for chat in SUPPORTERS] == [2, 1, 1]
    assert server.stats()["sent_total"] == len(server.calls("sendMessage"))


async def test_reminders_due_while_down_after_the_start_are_missed_and_reported(database, telegram, clock, settings,
                                                                                demo):
    clock.set(utc(2018, 3, 21, 8, 30))  # both reminders' moments passed, and the demo has begun
    async with bot_running(database, telegram, clock, settings) as bot:
        await all_delivered(bot)
        assert all(reminders_to(telegram, chat) == [] for chat in SUPPORTERS)
        reports = texts_to(telegram, ORGANISER_ID, "<b>Reminders not sent</b>")
        assert len(reports) == 1
        assert "Demo at the Millennium Conference Centre" in reports[0]
        assert "1 day before at 19:00 to everyone" in reports[0] and "90 minutes before to going" in reports[0]
    assert await statuses(database, demo) == [("1 day before at 19:00 to everyone", "missed"),
                                              ("90 minutes before to going", "missed")]
    async with bot_running(database, telegram, clock, settings):
        pass
    assert len(texts_to(telegram, ORGANISER_ID, "<b>Reminders not sent</b>")) == 1


async def test_moving_the_time_replans_unsent_reminders_and_tells_those_reminded(running_bot, organiser, clock,
                                                                                 demo):
    server = running_bot.server
    scheduler = running_bot.services.reminders
    clock.set(utc(2018, 3, 20, 19, 5))
    await scheduler.fire_due()
    await all_delivered(running_bot)
    await organiser.send("/editevent")
    await organiser.press("Demo at the Millennium")
    await organiser.press("Time")
    moved = await organiser.say("wed 21 march 9.30am")
    assert "It now starts <b>Wednesday 21 March 2018, 9.30am</b>." in moved
    assert "Everyone who was reminded or is going" in moved
    await all_delivered(running_bot)
    for chat in SUPPORTERS:
        moved = texts_to(server, chat, "<b>Time changed")
        assert len(moved) == 1 and "It is now <b>Wednesday 21 March 2018, 9.30am to 11.15am</b>" in moved[0]
    async with running_bot.db.transaction() as session:
        rows = list(await session.scalars(select(Reminder).where(Reminder.event_date_id == demo)
                                          .order_by(Reminder.id)))
    assert [(r.status, r.due_at) for r in rows] == [("sent", utc(2018, 3, 20, 19)), ("pending", utc(2018, 3, 21, 8))]
    assert scheduler.jobs_of(rows[1].id)[0].data == rows[1].id

    # The sent reminder is not sent again, however often the schedule is rebuilt; the moved one goes at 08:00.
    await scheduler.rebuild()
    clock.set(utc(2018, 3, 21, 7, 59))
    assert not (await scheduler.fire_due()).sent
    clock.set(utc(2018, 3, 21, 8, 0))
    assert len((await scheduler.fire_due()).sent) == 1
    await all_delivered(running_bot)
    assert [len(reminders_to(server, chat)) for chat in SUPPORTERS] == [2, 1, 1]


async def test_editing_details_or_reminder_rules_never_resends(running_bot, organiser, clock, demo):
    scheduler = running_bot.services.reminders
    clock.set(utc(2018, 3, 20, 19, 1))
    await scheduler.fire_due()
    await all_delivered(running_bot)  # the organiser's notice of missed reminders goes through the engine
    await organiser.send("/editevent")
    await organiser.press("Demo at the Millennium")
    await organiser.press("Reminders")
    assert "Changed." in await organiser.say("1 day before at 19:00 to everyone; 30 minutes before to going")
    await organiser.send("/editevent")
    await organiser.press("Demo at the Millennium")
    await organiser.press("Details")
    await organiser.say("Bring a banner.")
    clock.set(utc(2018, 3, 21, 8, 0))
    sent = (await scheduler.fire_due()).sent
    assert [due.rule.describe() for due in sent] == ["30 minutes before to going"]
    await all_delivered(running_bot)
    assert [len(reminders_to(running_bot.server, chat)) for chat in SUPPORTERS] == [2, 1, 1]
    assert await statuses(running_bot.db, demo) == [("1 day before at 19:00 to everyone", "sent"),
                                                    ("90 minutes before to going", "cancelled"),
                                                    ("30 minutes before to going", "sent")]


async def test_cancelling_tells_those_reminded_or_going_and_stops_reminders(running_bot, organiser, clock, settings,
                                                                          demo):
    server = running_bot.server
    scheduler = running_bot.services.reminders
    # 104 is not on the list but said they are going to the encounter group; 105 is on neither.
    [_, group_date] = await date_ids(running_bot.db, "encounter-groups-2018")
    await subscribe(running_bot.db, 105, "encounter-groups")
    async with running_bot.db.transaction() as session:
        await rsvps.answer_rsvp(session, event_date_id=group_date, telegram_id=104, kind=ChatKind.PRIVATE,
                                going=True, now=clock.now(), compose_promoted=compose_promoted(LONDON))
    await organiser.send("/cancelevent")
    await organiser.press("Free encounter group")
    confirm = organiser.last["text"]
    assert "Everyone who was reminded of it or said they would come will be told" in confirm
    done = await organiser.press("Yes, cancel it")
    assert "Cancelled: Free encounter group" in done[0]["text"]
    await all_delivered(running_bot)
    assert len(texts_to(server, 104, "<b>Cancelled: Free encounter group")) == 1
    assert texts_to(server, 105, "<b>Cancelled") == []
    assert await statuses(running_bot.db, group_date) == [("1 day before at 19:00 to everyone", "cancelled"),
                                                          ("90 minutes before to going", "cancelled")]
    clock.set(utc(2018, 3, 16, 19))
    assert not (await scheduler.fire_due()).sent

    # The demo, after its evening reminder: everyone reminded hears, once, even if cancelled twice.
    clock.set(utc(2018, 3, 20, 19))
    await scheduler.fire_due()
    async with running_bot.db.transaction() as session:
        first = await notices.cancel_event_date(session, event_date_id=demo, now=clock.now(),
                                                compose=lambda change: "Cancelled: demo")
        second = await notices.cancel_event_date(session, event_date_id=demo, now=clock.now(),
                                                 compose=lambda change: "Cancelled: demo")
    assert first.told and not second.told
    running_bot.services.broadcaster.wake()
    await all_delivered(running_bot)
    assert all(len(texts_to(server, chat, "Cancelled: demo")) == 1 for chat in SUPPORTERS)
    clock.set(utc(2018, 3, 21, 6, 45))
    assert not (await scheduler.fire_due()).sent


async def test_day_before_at_1900_fires_at_1900_bst_the_day_after_the_change(running_bot, clock, settings):
    await make_list(running_bot.db, "encounter-groups", "Free encounter groups")
    await subscribe(running_bot.db, 101, "encounter-groups")
    # Monday 26 March 2018, 10am BST (09:00 UTC); the clocks went forward on Sunday at 01:00 UTC.
    date_id = await small_event(running_bot.db, clock, settings, starts_at=utc(2018, 3, 26, 9), capacity=None,
                                rules="1 day before at 19:00 to everyone")
    scheduler = running_bot.services.reminders
    clock.set(utc(2018, 3, 25, 17, 59, 59))  # 18:59:59 BST: not yet, though it is 19:00 by GMT habits at 18:00
    assert not (await scheduler.fire_due()).sent
    clock.set(utc(2018, 3, 25, 18, 0))  # 19:00 BST
    assert len((await scheduler.fire_due()).sent) == 1
    await all_delivered(running_bot)
    assert len(reminders_to(running_bot.server, 101)) == 1
    assert await statuses(running_bot.db, date_id) == [("1 day before at 19:00 to everyone", "sent")]


async def test_ninety_minutes_before_is_ninety_real_minutes_across_the_change(running_bot, clock, settings):
    await make_list(running_bot.db, "encounter-groups", "Free encounter groups")
    await subscribe(running_bot.db, 101, "encounter-groups")
    # 03:00 BST on 25 March 2018 is 02:00 UTC; ninety minutes earlier is 00:30 UTC (00:30 GMT).
    date_id = await small_event(running_bot.db, clock, settings, starts_at=utc(2018, 3, 25, 2), capacity=None,
                                rules="90 minutes before to everyone")
    async with running_bot.db.transaction() as session:
        [(_, due, _)] = await reminders.reminder_statuses(session, event_date_id=date_id)
    assert due == utc(2018, 3, 25, 0, 30)
    scheduler = running_bot.services.reminders
    clock.set(utc(2018, 3, 25, 0, 29, 59))
    assert not (await scheduler.fire_due()).sent
    clock.set(utc(2018, 3, 25, 0, 30))
    assert len((await scheduler.fire_due()).sent) == 1


async def test_jobs_are_placed_by_the_injected_clock(running_bot, clock, settings, demo):
    scheduler = running_bot.services.reminders
    await scheduler.rebuild()
    async with running_bot.db.transaction() as session:
        pending = await reminders.pending_reminders(session)
    for reminder_id, due in pending:
        [job] = scheduler.jobs_of(reminder_id)
        assert job.data == reminder_id
        real_wait = job.next_t - dt.datetime.now(dt.UTC)
        assert abs(real_wait - (due - clock.now())) < dt.timedelta(seconds=5)
    # Rebuilding again replaces jobs rather than adding to them.
    await scheduler.rebuild()
    assert all(len(scheduler.jobs_of(rid)) == 1 for rid, _ in pending)


async def test_two_firings_at_once_send_once(running_bot, clock, demo):
    import asyncio

    from storage.events.reminders import fire_due_reminders

    clock.set(utc(2018, 3, 20, 19))

    async def fire():
        async with running_bot.db.transaction() as session:
            return await fire_due_reminders(session, now=clock.now(), compose=lambda due: "reminder")

    reports = await asyncio.gather(fire(), fire(), return_exceptions=True)
    sent = sum(len(r.sent) for r in reports if not isinstance(r, BaseException))
    assert sent == 1
    async with running_bot.db.transaction() as session:
        count = len(list(await session.scalars(select(Broadcast))))
    assert count == 1
