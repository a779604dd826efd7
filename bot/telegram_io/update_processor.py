"""Updates from different chats run at the same time; updates from one chat run in order, and a
chat that floods the bot is slowed down without slowing anyone else.

With python-telegram-bot's default, one slow answer (a chart, a busy database) holds up every
other chat. Fully concurrent processing would let two button presses of one person race.
This keeps each chat's updates in arrival order and lets chats proceed independently.

python-telegram-bot's `BaseUpdateProcessor.process_update` takes one of the global slots first
and only then calls `do_process_update`. Waiting for the chat's turn inside it would let one chat
with a backlog of `max_concurrent_updates` updates hold every slot while they queue for its lock,
and every other chat would wait behind it. So `process_update` is replaced: an update waits for
its chat's turn holding nothing, and takes a global slot only to run.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Coroutine
from typing import Any

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import BaseUpdateProcessor

from bot.telegram_io.flood_guard import FloodGuard, FloodVerdict
from messages import i18n, render
from storage.lists.languages import ChatLanguages

logger = logging.getLogger(__name__)


class PerChatUpdateProcessor(BaseUpdateProcessor):
    def __init__(self, max_concurrent_updates: int, *, flood_guard: FloodGuard | None = None) -> None:
        super().__init__(max_concurrent_updates)
        self._chat_locks: dict[int, asyncio.Lock] = {}
        self._waiting: dict[int, int] = {}
        self.flood_guard = flood_guard
        # Set by the wiring once the services exist: a dropped update is answered in the chat's
        # language when this process has it at hand (no query for an update being dropped).
        self.languages: ChatLanguages | None = None

    # PTB marks process_update final for type checkers; see the module docstring for why it is replaced.
    async def process_update(self, update: object, coroutine: Awaitable[Any]) -> None:  # type: ignore[misc]
        chat_id = _chat_id_of(update)
        if chat_id is None:
            async with self._semaphore:
                await coroutine
            return
        if self.flood_guard is not None and _guarded(update):
            verdict = self.flood_guard.check(chat_id, press=update.callback_query is not None)
            if not verdict.admitted:
                if isinstance(coroutine, Coroutine):
                    coroutine.close()  # never run: say so, or Python warns it was never awaited
                stored = self.languages.cached(chat_id) if self.languages is not None else None
                user = update.effective_user
                with i18n.speaking(i18n.choose_language(stored, user.language_code if user else None)):
                    await _answer_dropped(update, verdict, self.flood_guard)
                return
        lock = self._chat_locks.setdefault(chat_id, asyncio.Lock())
        self._waiting[chat_id] = self._waiting.get(chat_id, 0) + 1
        try:
            async with lock, self._semaphore:
                await coroutine
        finally:
            self._waiting[chat_id] -= 1
            if not self._waiting[chat_id]:
                # Forget idle chats so the table does not grow with every chat ever seen.
                del self._waiting[chat_id]
                del self._chat_locks[chat_id]

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        # Required by the base class; process_update above does the work and never calls it.
        await coroutine

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        if self.flood_guard is not None:
            self.flood_guard.forget_all()


def _guarded(update: object) -> bool:
    """What a person can fire quickly: messages and button presses. Membership changes (a block, a
    group migration) are never dropped: the bot must record them."""
    return isinstance(update, Update) and (update.message is not None or update.callback_query is not None)


async def _answer_dropped(update: Update, verdict: FloodVerdict, guard: FloodGuard) -> None:
    try:
        if verdict.slow_down and update.effective_chat is not None:
            text = render("flood_slow_down.html", limit=guard.limit, seconds=guard.window_seconds)
            await update.effective_chat.send_message(text)
        if update.callback_query is not None and verdict.answer_press:
            await update.callback_query.answer(render("flood_press_dropped.txt"))
    except TelegramError as error:
        # The chat may have blocked the bot meanwhile; nothing more to do for a dropped update.
        logger.warning("could not answer a dropped update: %s", type(error).__name__)


def _chat_id_of(update: object) -> int | None:
    if isinstance(update, Update):
        if update.effective_chat is not None:
            return update.effective_chat.id
        if update.effective_user is not None:
            return update.effective_user.id
    return None
