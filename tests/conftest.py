"""The test harness: a real bot (python-telegram-bot's Application and HTTP client) polling the
project's own Bot API server on loopback, over a fresh database.

Tests push what a person would do (a message, a button press, a block) into the server and
read back what the bot sent. With TEST_DATABASE_URL set to a PostgreSQL server, every test
gets a schema of its own there; otherwise a SQLite file in the test's temporary directory.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from telegram.ext import Application
from typer.testing import CliRunner

from bot.app import build_application, running
from bot.cli.main import app as command_line
from bot.local_api.server import LocalBotApi
from bot.services import Services, services_in
from bot.settings import Settings
from bot.telegram_io.observing import ProcessedUpdates
from storage.clock import ManualClock
from storage.db import Database
from tests.builders import fresh_database

TOKEN = "424242:test-token"
ORGANISER_ID = 900
POSTGRES_URL = os.environ.get("TEST_DATABASE_URL")

# The property-based tests (tests/test_fuzz_*.py) draw the same examples on every run, so a CI
# failure can be replayed; `pytest --hypothesis-profile=explore` draws fresh ones to look further.
# No deadline: the machine is shared, and a slow example is not a wrong one (hangs still show).
hypothesis_settings.register_profile("ci", derandomize=True, deadline=None, database=None,
                                     suppress_health_check=[HealthCheck.too_slow])
hypothesis_settings.register_profile("explore", deadline=None, suppress_health_check=[HealthCheck.too_slow])
hypothesis_settings.load_profile("ci")


def pytest_report_header(config: pytest.Config) -> str:
    where = POSTGRES_URL or "SQLite files in temporary directories"
    return f"campaign-bot database under test: {where}"


@pytest.fixture
async def database(tmp_path) -> AsyncIterator[Database]:
    async with fresh_database(tmp_path) as db:
        yield db


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(dt.datetime(2018, 3, 1, 12, 0, tzinfo=dt.UTC))


@pytest.fixture
def settings() -> Settings:
    return Settings(_env_file=None, telegram_bot_token=TOKEN, organiser_ids=frozenset({ORGANISER_ID}),
                    timezone="Europe/London", database_url="sqlite+aiosqlite:///unused-in-tests.db",
                    stats_load_bundle=False,
                    # People in tests act far faster than anyone could, on a clock that stands still;
                    # the flood guard's own tests (test_flood_guard.py) set the real limit.
                    flood_limit=1000)


@pytest.fixture
def cli_env(tmp_path, monkeypatch) -> dict[str, str]:
    """For `campaign-bot` run as a user would: a SQLite database of its own, no bot token, and no
    .env of the developer's (the command runs in the test's temporary directory)."""
    monkeypatch.chdir(tmp_path)
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/cli.db", "TELEGRAM_BOT_TOKEN": "", "ORGANISER_IDS": "",
           "TIMEZONE": "Europe/London"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def invoke(*args: str):
    """`campaign-bot ARGS...` in this process, its exceptions raised rather than caught."""
    return CliRunner().invoke(command_line, list(args), catch_exceptions=False)


@pytest.fixture
async def telegram() -> AsyncIterator[LocalBotApi]:
    server = LocalBotApi(token=TOKEN)
    await server.start()
    yield server
    await server.stop()


@dataclasses.dataclass
class RunningBot:
    server: LocalBotApi
    services: Services
    processed: ProcessedUpdates
    application: Application

    @property
    def db(self) -> Database:
        return self.services.db

    def person(self, user_id: int, *, chat_id: int | None = None, language_code: str | None = None) -> Person:
        """Someone in their private chat (or in the group `chat_id`); with `language_code`, their
        Telegram app is in that language ("bn"), else in English."""
        if language_code is not None:
            self.server.set_user_language(user_id, language_code)
        return Person(self, user_id, chat_id if chat_id is not None else user_id)

    async def deliver(self, update: dict[str, Any]) -> None:
        """Wait until the bot has run every handler for an update pushed into the server."""
        await self.processed.wait_for(update["update_id"])


@dataclasses.dataclass
class Person:
    """Someone using the bot: sends, presses buttons, and reads what the bot sent to the chat."""

    bot: RunningBot
    user_id: int
    chat_id: int

    @property
    def messages(self) -> list[dict[str, Any]]:
        return self.bot.server.sent_to(self.chat_id)

    @property
    def last(self) -> dict[str, Any]:
        return self.messages[-1]

    def _snapshot(self) -> dict[int, str]:
        return {m["message_id"]: repr((m.get("text"), m.get("caption"), m.get("reply_markup"))) for m in self.messages}

    async def _changes_after(self, update: dict[str, Any]) -> list[dict[str, Any]]:
        before = self._snapshot()
        await self.bot.deliver(update)
        return [m for m in self.messages if before.get(m["message_id"]) != self._snapshot()[m["message_id"]]]

    async def send(self, text: str | None = None, **extra: Any) -> list[dict[str, Any]]:
        """Send a message; returns the bot's messages that are new or changed since."""
        chat_id = None if self.chat_id == self.user_id else self.chat_id
        update = self.bot.server.user_message(self.user_id, chat_id=chat_id, text=text, extra=extra or None)
        return await self._changes_after(update)

    async def say(self, text: str) -> str:
        """Send a message and return the text of the bot's single answer."""
        answers = await self.send(text)
        assert len(answers) == 1, f"expected one answer to {text!r}, got {answers!r}"
        return answers[0]["text"]

    def buttons(self, message: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        message = message or self.last
        return [b for row in (message.get("reply_markup") or {}).get("inline_keyboard", []) for b in row]

    async def press(self, label_part: str, message: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Press the button whose label contains `label_part` on `message` (default: the last)."""
        message = message or next(m for m in reversed(self.messages) if self.buttons(m))
        matching = [b for b in self.buttons(message) if label_part in b["text"]]
        assert matching, f"no button with {label_part!r} among {[b['text'] for b in self.buttons(message)]}"
        update = self.bot.server.press_button(self.user_id, message, matching[0]["callback_data"])
        return await self._changes_after(update)


@asynccontextmanager
async def bot_running(db: Database, telegram: LocalBotApi, clock, settings: Settings, *,
                      poll_timeout: float = 5) -> AsyncIterator[RunningBot]:
    """The real Application on `db`, polling the local Bot API server, until the block ends."""
    application = build_application(settings=settings, db=db, clock=clock, token=TOKEN, api_url=telegram.url)
    services = services_in(application)
    processed = ProcessedUpdates(application)
    async with running(application, poll_timeout=poll_timeout):
        yield RunningBot(server=telegram, services=services, processed=processed, application=application)
        await telegram.release_long_polls()


@pytest.fixture
async def running_bot(database, telegram, clock, settings) -> AsyncIterator[RunningBot]:
    async with bot_running(database, telegram, clock, settings) as bot:
        yield bot


@pytest.fixture
def supporter(running_bot) -> Person:
    return running_bot.person(101)


@pytest.fixture
def organiser(running_bot) -> Person:
    return running_bot.person(ORGANISER_ID)
