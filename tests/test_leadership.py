"""Several bot processes on one database: exactly one runs the reminder scheduler, and another
takes over once the holder stops renewing (as when it is killed)."""

from __future__ import annotations

import datetime as dt

from bot.app import build_application, running
from bot.engines.leadership import SchedulerLease
from bot.services import services_in
from storage.leases import LEASE_TTL
from tests.conftest import TOKEN


class LeaseClock:
    """Wall time for the lease, moved by the test instead of by waiting."""

    def __init__(self) -> None:
        self.moment = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)

    def __call__(self) -> dt.datetime:
        return self.moment


async def test_one_scheduler_at_a_time_and_takeover_when_the_holder_dies(running_bot, database, telegram, clock,
                                                                         settings):
    first = running_bot.services
    first_lease: SchedulerLease = running_bot.application.bot_data["scheduler_lease"]
    assert first.reminders.active and first_lease.held  # a lone process takes the lease at start-up

    second_app = build_application(settings=settings, db=database, clock=clock, token=TOKEN, api_url=telegram.url)
    second = services_in(second_app)
    async with running(second_app, poll_timeout=1):
        second_lease: SchedulerLease = second_app.bot_data["scheduler_lease"]
        assert not second.reminders.active and not second_lease.held

        lease_time = LeaseClock()
        first_lease.now = second_lease.now = lease_time
        assert await first_lease.step()
        assert not await second_lease.step()
        # The holder is killed and renews no more. Until its lease runs out nobody takes over ...
        lease_time.moment += LEASE_TTL - dt.timedelta(seconds=1)
        assert not await second_lease.step()
        assert not second.reminders.active
        # ... and at the first try after, the other process does, rebuilding the schedule there.
        lease_time.moment += dt.timedelta(seconds=2)
        assert await second_lease.step()
        assert second.reminders.active and second.reminders.last_rebuild is not None
        # Had the old holder only been paused, it learns at its next try and stops scheduling.
        assert not await first_lease.step()
        assert not first.reminders.active
        assert first.reminders.scheduled_ids() == set()
        await telegram.release_long_polls()


async def test_a_clean_stop_hands_the_lease_over_at_once(running_bot, database, telegram, clock, settings):
    second_app = build_application(settings=settings, db=database, clock=clock, token=TOKEN, api_url=telegram.url)
    async with running(second_app, poll_timeout=1):
        await telegram.release_long_polls()
    # The second process stopped cleanly without ever holding the lease; the first still does.
    first_lease: SchedulerLease = running_bot.application.bot_data["scheduler_lease"]
    assert await first_lease.step()
    await first_lease.stop()
    third_app = build_application(settings=settings, db=database, clock=clock, token=TOKEN, api_url=telegram.url)
    third = services_in(third_app)
    async with running(third_app, poll_timeout=1):
        assert third.reminders.active  # no waiting for the released lease to expire
        await telegram.release_long_polls()
