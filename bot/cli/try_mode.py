"""`campaign-bot try`: the real bot, a local Bot API server, and a chat in the terminal.

Type what you would type in Telegram (/start, /lists, ...). Buttons under the bot's last
message are numbered: type the number to press one. `:organiser` and `:supporter` switch who
you are, `:quit` (or end of input) stops.
"""

from __future__ import annotations

import asyncio
import html
import re
from typing import Any, TextIO

from bot.app import build_application, running
from bot.local_api.server import LocalBotApi
from bot.services import services_in
from bot.settings import Settings
from bot.telegram_io.observing import ProcessedUpdates
from messages import render
from storage.clock import SystemClock
from storage.db import Database
from storage.lists.mailing_lists import create_list, public_lists

TRY_TOKEN = "123456:local-try-out"
SUPPORTER_ID = 1001
ORGANISER_ID = 2002
DEMO_LISTS = (
    ("protests", "Protests and demos", "Alerts about demonstrations and vigils"),
    ("encounter-groups", "Free encounter groups", "Dates and places of free encounter groups"),
)
TAG = re.compile(r"<[^>]+>")


def plain_text(markup: str) -> str:
    return html.unescape(TAG.sub("", markup))


def buttons_of(message: dict[str, Any]) -> list[dict[str, Any]]:
    keyboard = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return [button for row in keyboard for button in row]


async def seed_demo_lists(db: Database) -> None:
    async with db.transaction() as session:
        if await public_lists(session):
            return
        for slug, title, description in DEMO_LISTS:
            await create_list(session, slug=slug, title=title, description=description)


class TerminalChat:
    def __init__(self, server: LocalBotApi, processed: ProcessedUpdates, out: TextIO) -> None:
        self.server = server
        self.processed = processed
        self.out = out
        self.user_id = SUPPORTER_ID
        self.shown: dict[tuple[int, int], str] = {}
        self.last_buttons: tuple[dict[str, Any], list[dict[str, Any]]] | None = None

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

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
        if line.isdigit() and self.last_buttons is not None:
            message, buttons = self.last_buttons
            index = int(line) - 1
            if 0 <= index < len(buttons):
                update = self.server.press_button(self.user_id, message, buttons[index]["callback_data"])
                await self._show_reply_to(update)
                return True
        update = self.server.user_message(self.user_id, text=line)
        await self._show_reply_to(update)
        return True

    async def _show_reply_to(self, update: dict[str, Any]) -> None:
        try:
            await self.processed.wait_for(update["update_id"])
        except TimeoutError:
            self.say(render("try_no_answer.txt"))
        for message in self.server.sent_to(self.user_id):
            key = (self.user_id, message["message_id"])
            shown_as = repr((message.get("text"), message.get("caption"), message.get("reply_markup")))
            if self.shown.get(key) == shown_as:
                continue
            self.shown[key] = shown_as
            self._print_message(message)

    def _print_message(self, message: dict[str, Any]) -> None:
        body = message.get("text") or message.get("caption") or ""
        if "document" in message:
            body = f"[file {message['document']['file_name']}] {body}"
        if "photo" in message:
            body = f"[picture] {body}"
        buttons = buttons_of(message)
        self.say(render("try_message.txt", text=plain_text(body), buttons=[b["text"] for b in buttons]))
        if buttons:
            self.last_buttons = (message, buttons)


async def run_try_mode(settings: Settings, *, stdin: TextIO, stdout: TextIO | None = None) -> None:
    import sys

    out = stdout or sys.stdout
    server = LocalBotApi(token=TRY_TOKEN)
    api_url = await server.start()
    settings = settings.model_copy(update={"organiser_ids": settings.organiser_ids | {ORGANISER_ID}})
    application = build_application(settings, Database.from_url(settings.database_url, schema=settings.database_schema),
                                    SystemClock(), token=TRY_TOKEN, api_url=api_url)
    services = services_in(application)
    processed = ProcessedUpdates(application)
    try:
        async with running(application, poll_timeout=5):
            await seed_demo_lists(services.db)
            chat = TerminalChat(server, processed, out)
            chat.say(render("try_intro.txt", supporter_id=SUPPORTER_ID, organiser_id=ORGANISER_ID,
                            database=settings.database_url))
            loop = asyncio.get_running_loop()
            while True:
                chat.say(render("try_prompt.txt", organiser=chat.user_id == ORGANISER_ID))
                line = await loop.run_in_executor(None, stdin.readline)
                if not line or not await chat.handle_line(line):
                    break
            await server.release_long_polls()
    finally:
        await server.stop()
