"""The try-out mode shows the whole bot (issue 16): its log in a file, only errors told in the
terminal, and a sample event a newcomer can see, say they go to, add to a calendar and be reminded
of within the first five minutes. In-process, on the injected clock."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import logging

import pytest

from bot.cli.try_mode import try_out
from bot.cli.try_samples import SAMPLE_EVENT_KEY
from bot.settings import Settings
from storage.clock import ManualClock
from storage.events import catalogue
from storage.lists.mailing_lists import public_lists
from tests.conftest import bot_running

# Wednesday 2 December 2026, 10:00 in London.
START = dt.datetime(2026, 12, 2, 10, 0, 20, tzinfo=dt.UTC)


@pytest.fixture
def try_settings(tmp_path) -> Settings:
    return Settings(_env_file=None, database_url=f"sqlite+aiosqlite:///{tmp_path}/try.db", timezone="Europe/London",
                    stats_load_bundle=False, flood_limit=1000)


class Terminal:
    """What the person sees, and a way to type: each line's new output."""

    def __init__(self, chat, out: io.StringIO) -> None:
        self.chat, self.out = chat, out

    async def type(self, line: str) -> str:
        before = len(self.out.getvalue())
        await self.chat.handle_line(line)
        return self.out.getvalue()[before:]

    async def press(self, label: str) -> str:
        _message, buttons = self.chat.last_buttons
        [number] = [index for index, button in enumerate(buttons, start=1) if label in button["text"]]
        return await self.type(str(number))


async def test_a_newcomer_sees_the_sample_event_goes_and_is_reminded_within_five_minutes(tmp_path, try_settings):
    clock, out, log = ManualClock(START), io.StringIO(), tmp_path / "try.log"
    async with try_out(try_settings, out=out, clock=clock, log_path=log) as (chat, services, sample):
        terminal = Terminal(chat, out)
        intro = out.getvalue()
        assert f"the bot's log to {log}" in intro
        assert "a sample event starting at 10:34" in intro and "a reminder comes at 10:04" in intro
        assert sample.reminder_due_at - START < dt.timedelta(minutes=5)

        assert "you are on Protests and demos" in await terminal.type("/subscribe protests")
        card = await terminal.type("/events")
        assert "[map pin] Sample venue: Richmond House, 79 Whitehall, London SW1A 2NS (51.5025, -0.1262)" in card
        assert "Sample event: vigil for NHS Talking Therapies" in card
        assert "Sample data of the try-out mode: this event is not real." in card
        assert "Sample data: step-free pavement" in card
        assert "Going" in await terminal.press("Going")
        calendar = await terminal.press("calendar")
        assert "[file " in calendar and ".ics]" in calendar

        chat.arrived.clear()
        clock.set(sample.reminder_due_at)
        await services.reminders.fire_due()
        await asyncio.wait_for(chat.arrived.wait(), 10)
        shown_by_itself = out.getvalue().rsplit("--- bot ---", 1)[-1]
        assert "Reminder: Sample event: vigil for NHS Talking Therapies" in shown_by_itself
        assert shown_by_itself.rstrip().endswith("supporter>")  # and the prompt again

    # The log went to the file, not to the terminal.
    assert "INFO" in log.read_text() and "INFO" not in out.getvalue()


async def test_only_errors_reach_the_terminal_worded_for_the_person_once(tmp_path, try_settings):
    out, log = io.StringIO(), tmp_path / "try.log"
    async with try_out(try_settings, out=out, clock=ManualClock(START), log_path=log):
        before = len(out.getvalue())
        logging.getLogger("bot.engines.reminders").warning("reminder %s failed and will not be sent: %s", 1, "x")
        for _ in range(2):
            logging.getLogger("bot.engines.broadcaster").error("broadcast %s cannot be sent: %s", 7, "no")
        told = out.getvalue()[before:]
    assert told.count("Something went wrong inside the bot") == 1 and str(log) in told
    assert "reminder 1 failed" not in told and "broadcast 7" not in told
    assert "broadcast 7 cannot be sent: no" in log.read_text() and "reminder 1 failed" in log.read_text()


async def test_a_second_try_out_adds_a_new_date_to_the_same_sample_event(tmp_path, try_settings):
    for minutes in (0, 90):
        clock = ManualClock(START + dt.timedelta(minutes=minutes))
        async with try_out(try_settings, out=io.StringIO(), clock=clock, log_path=tmp_path / "try.log") as started:
            _chat, services, sample = started
            async with services.db.transaction() as session:
                event = await catalogue.get_event_by_key(session, key=SAMPLE_EVENT_KEY)
                dates = await catalogue.dates_of(session, event_id=event.id)
    assert sample.event_id == event.id and len(dates) == 2


async def test_no_sample_data_outside_the_try_out_mode(database, telegram, clock, settings):
    async with bot_running(database, telegram, clock, settings) as bot:
        await bot.person(101).say("/start")
        async with database.transaction() as session:
            assert await catalogue.get_event_by_key(session, key=SAMPLE_EVENT_KEY) is None
            assert await public_lists(session) == []
