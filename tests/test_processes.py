"""Several bot processes on one database: each delivery is sent by exactly one of them, together
they keep to the configured rate, and what a killed process had claimed is sent by another."""

from __future__ import annotations

import datetime as dt
from contextlib import asynccontextmanager

from sqlalchemy import select

from bot.app import build_application, running
from bot.services import services_in
from storage.broadcasts.tables import BroadcastStatus, Delivery
from tests.builders import make_list
from tests.conftest import TOKEN, RunningBot
from tests.test_broadcast_engine import create, subscribe_many

RECIPIENTS = list(range(30_001, 30_151))


@asynccontextmanager
async def another_process(database, telegram, clock, settings):
    application = build_application(settings=settings, db=database, clock=clock, token=TOKEN, api_url=telegram.url)
    services = services_in(application)
    async with running(application, receive_updates=False):
        yield services, application


async def claimers(db, broadcast_id: int) -> set[str]:
    async with db.transaction() as session:
        return set(await session.scalars(select(Delivery.claimed_by).where(Delivery.broadcast_id == broadcast_id)))


async def test_two_processes_share_a_broadcast_exactly_once_within_the_rate(running_bot: RunningBot, database,
                                                                            telegram, clock, settings):
    protests = await make_list(database, "protests", "Protests")
    await subscribe_many(database, RECIPIENTS)
    async with another_process(database, telegram, clock, settings) as (second, _):
        # The first process learns of the second at its next lease renewal; do it now.
        await running_bot.application.bot_data["scheduler_lease"].step()
        broadcast = await create(running_bot, protests)
        second.broadcaster.wake()
        summary = await running_bot.services.broadcaster.wait_until_finished(broadcast.id, timeout=30)

    assert summary.status is BroadcastStatus.DONE and summary.counts.sent == len(RECIPIENTS)
    assert {chat: telegram.delivered[chat] for chat in RECIPIENTS} == {chat: 1 for chat in RECIPIENTS}
    assert await claimers(database, broadcast.id) == {running_bot.services.process_name, second.process_name}
    assert telegram.busiest_second <= settings.sending_rate


async def test_a_killed_process_claims_are_sent_by_the_survivor(running_bot: RunningBot, database, telegram, clock,
                                                               settings):
    protests = await make_list(database, "protests", "Protests")
    await subscribe_many(database, RECIPIENTS)
    async with another_process(database, telegram, clock, settings) as (doomed, doomed_app):
        broadcast = await create(running_bot, protests)
        doomed.broadcaster.wake()
        await telegram.wait_until(lambda: telegram.sent_total >= 40, timeout=20)
        doomed.broadcaster.halt_as_if_killed()
        # Killed: its leases are renewed no more and lapse (here at once).
        await doomed_app.bot_data["scheduler_lease"].stop()
        summary = await running_bot.services.broadcaster.wait_until_finished(broadcast.id, timeout=30)

    assert summary.status is BroadcastStatus.DONE
    assert set(RECIPIENTS) <= set(telegram.delivered)  # nobody lost
    duplicates = sum(telegram.delivered[chat] - 1 for chat in RECIPIENTS)
    assert duplicates <= summary.possible_duplicates


async def test_a_scheduled_broadcast_due_in_two_processes_starts_once(running_bot: RunningBot, database, telegram,
                                                                     clock, settings):
    protests = await make_list(database, "protests", "Protests")
    await subscribe_many(database, RECIPIENTS[:40])
    async with another_process(database, telegram, clock, settings) as (second, _):
        broadcast = await create(running_bot, protests, send_at=clock.now() + dt.timedelta(hours=1))
        clock.advance(dt.timedelta(hours=1))
        running_bot.services.broadcaster.wake()
        second.broadcaster.wake()
        summary = await running_bot.services.broadcaster.wait_until_finished(broadcast.id, timeout=30)
    assert summary.status is BroadcastStatus.DONE and summary.counts.recipients == 40
    assert {chat: telegram.delivered[chat] for chat in RECIPIENTS[:40]} == {chat: 1 for chat in RECIPIENTS[:40]}
