"""`campaign-bot try`: the real bot, a local Bot API server, and a chat in the terminal.

Type what you would type in Telegram (/start, /lists, ...). Buttons under the bot's last
message are numbered: type the number to press one. `:organiser` and `:supporter` switch who
you are, `:quit` (or end of input) stops. What the bot sends by itself (a reminder, say) is shown
as it arrives.

The bot's log goes to a file, named once at the start, so the chat stays readable; of what it
logs, only errors are told in the terminal, in a sentence (messages/try_problem.txt) pointing to
the file. The sample data (bot/cli/try_samples.py) are made here and nowhere else.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import re
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, TextIO

from bot.app import build_application, running
from bot.cli.try_samples import SampleEvent, seed_demo_lists, seed_sample_event
from bot.local_api.server import LocalBotApi
from bot.services import Services, services_in
from bot.settings import Settings
from bot.telegram_io.observing import ProcessedUpdates
from messages import render
from storage.clock import Clock, SystemClock
from storage.db import Database

TRY_TOKEN = "123456:local-try-out"
SUPPORTER_ID = 1001
ORGANISER_ID = 2002
LOG_FILE = Path("campaign-bot-try.log")
TAG = re.compile(r"<[^>]+>")


def plain_text(markup: str) -> str:
    return html.unescape(TAG.sub("", markup))


def buttons_of(message: dict[str, Any]) -> list[dict[str, Any]]:
    keyboard = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return [button for row in keyboard for button in row]


class _ProblemsToThePerson(logging.Handler):
    """Errors the bot logs, told in the terminal in a sentence (once per kind of problem); the
    details are in the log file."""

    def __init__(self, out: TextIO, log_path: Path) -> None:
        super().__init__(level=logging.ERROR)
        self.out = out
        self.log_path = log_path
        self.told: set[tuple[str, object]] = set()

    def emit(self, record: logging.LogRecord) -> None:
        kind = (record.name, record.msg)
        if kind in self.told:
            return
        self.told.add(kind)
        print(render("try_problem.txt", log=str(self.log_path)), file=self.out, flush=True)


@contextlib.contextmanager
def logging_to_file(path: Path, out: TextIO) -> Iterator[None]:
    """Every log record to `path` instead of the terminal, errors also told to the person; the
    logging set up before is back afterwards."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    file_handler = logging.FileHandler(path, mode="w", encoding="utf-8")
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.handlers = [file_handler, _ProblemsToThePerson(out, path)]
    root.setLevel(logging.INFO)
    httpx = logging.getLogger("httpx")
    saved_httpx = httpx.level
    httpx.setLevel(logging.WARNING)  # a line for every request would bury the rest
    try:
        yield
    finally:
        root.handlers, root.level = saved_handlers, saved_level
        httpx.setLevel(saved_httpx)
        file_handler.close()


class TerminalChat:
    def __init__(self, server: LocalBotApi, processed: ProcessedUpdates, out: TextIO) -> None:
        self.server = server
        self.processed = processed
        self.out = out
        self.user_id = SUPPORTER_ID
        self.shown: dict[tuple[int, int], str] = {}
        self.last_buttons: tuple[dict[str, Any], list[dict[str, Any]]] | None = None
        # While a typed line is being answered, its answer is shown by that line, not the watcher.
        self.busy = False
        # Set each time the watcher has shown something that came by itself (for the tests).
        self.arrived = asyncio.Event()

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def prompt(self) -> None:
        self.say(render("try_prompt.txt", organiser=self.user_id == ORGANISER_ID))

    async def handle_line(self, line: str) -> bool:
        """One line the person typed; False when they want to stop."""
        line = line.strip()
        if not line:
            return True
        if line in (":quit", ":q", ":exit"):
            return False
        if line in (":organiser", ":supporter"):
            self.user_id = ORGANISER_ID if line == ":organiser" else SUPPORTER_ID
            self.say(render("try_switched.txt", organiser=self.user_id == ORGANISER_ID, user_id=self.user_id))
            return True
        self.busy = True
        try:
            if line.isdigit() and self.last_buttons is not None:
                message, buttons = self.last_buttons
                index = int(line) - 1
                if 0 <= index < len(buttons):
                    update = self.server.press_button(self.user_id, message, buttons[index]["callback_data"])
                    await self._show_reply_to(update)
                    return True
            update = self.server.user_message(self.user_id, text=line)
            await self._show_reply_to(update)
        finally:
            self.busy = False
        return True

    async def watch(self) -> None:
        """Shows, as they arrive, the messages the bot sends by itself (reminders, reports), then
        the prompt again. Runs until cancelled."""
        while True:
            await self.server.wait_until(lambda: not self.busy and bool(self._unshown()), timeout=None)
            self._show_new_messages()
            self.prompt()
            self.arrived.set()

    async def _show_reply_to(self, update: dict[str, Any]) -> None:
        try:
            await self.processed.wait_for(update["update_id"])
        except TimeoutError:
            self.say(render("try_no_answer.txt"))
        self._show_new_messages()

    def _unshown(self) -> list[tuple[tuple[int, int], str, dict[str, Any]]]:
        unshown = []
        for message in self.server.sent_to(self.user_id):
            key = (self.user_id, message["message_id"])
            shown_as = repr((message.get("text"), message.get("caption"), message.get("reply_markup")))
            if self.shown.get(key) != shown_as:
                unshown.append((key, shown_as, message))
        return unshown

    def _show_new_messages(self) -> None:
        for key, shown_as, message in self._unshown():
            self.shown[key] = shown_as
            self._print_message(message)

    def _print_message(self, message: dict[str, Any]) -> None:
        body = plain_text(message.get("text") or message.get("caption") or "")
        buttons = buttons_of(message)
        venue = message.get("venue")
        self.say(render("try_message.txt", text=body, buttons=[b["text"] for b in buttons],
                        picture="photo" in message, file=(message.get("document") or {}).get("file_name"),
                        venue=venue))
        if buttons:
            self.last_buttons = (message, buttons)


@contextlib.asynccontextmanager
async def try_out(settings: Settings, *, out: TextIO, clock: Clock | None = None,
                  log_path: Path = LOG_FILE) -> AsyncIterator[tuple[TerminalChat, Services, SampleEvent | None]]:
    """The bot running against a local Bot API server, with the sample data, its log in
    `log_path`, and a terminal chat writing to `out` (the watcher showing what arrives by itself)."""
    clock = clock or SystemClock()
    with logging_to_file(log_path, out):
        server = LocalBotApi(token=TRY_TOKEN)
        api_url = await server.start()
        settings = settings.model_copy(update={"organiser_ids": settings.organiser_ids | {ORGANISER_ID}})
        db = Database.from_url(settings.database_url, schema=settings.database_schema)
        application = build_application(settings, db, clock, token=TRY_TOKEN, api_url=api_url)
        services = services_in(application)
        processed = ProcessedUpdates(application)
        try:
            async with running(application, poll_timeout=5):
                await seed_demo_lists(services.db)
                sample = await seed_sample_event(services.db, now=clock.now(), tz=settings.tz)
                if sample is not None:
                    await services.reminders.replan(event_id=sample.event_id)
                chat = TerminalChat(server, processed, out)
                chat.say(render("try_intro.txt", supporter_id=SUPPORTER_ID, organiser_id=ORGANISER_ID,
                                database=settings.database_url, log=str(log_path), sample=sample,
                                tz=settings.tz))
                # The terminal's own task, not the bot's: cancelled here before the bot stops.
                watcher = asyncio.create_task(chat.watch())
                try:
                    yield chat, services, sample
                finally:
                    watcher.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await watcher
                await server.release_long_polls()
        finally:
            await server.stop()


async def run_try_mode(settings: Settings, *, stdin: TextIO, stdout: TextIO | None = None,
                       clock: Clock | None = None, log_path: Path = LOG_FILE) -> None:
    out = stdout or sys.stdout
    async with try_out(settings, out=out, clock=clock, log_path=log_path) as (chat, _services, _sample):
        loop = asyncio.get_running_loop()
        while True:
            chat.prompt()
            line = await loop.run_in_executor(None, stdin.readline)
            if not line or not await chat.handle_line(line):
                break
