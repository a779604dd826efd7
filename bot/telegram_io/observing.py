"""Knowing when the bot has finished with an update: for the try-out terminal, tests and benchmarks."""

from __future__ import annotations

import asyncio

from telegram import Update
from telegram.ext import Application, TypeHandler

# Handler groups run in ascending order; this one runs after every real handler of an update.
LAST_GROUP = 10_000


class ProcessedUpdates:
    def __init__(self, application: Application) -> None:
        self._done: set[int] = set()
        self._changed = asyncio.Condition()
        application.add_handler(TypeHandler(Update, self._record), group=LAST_GROUP)

    async def _record(self, update: Update, _context) -> None:
        async with self._changed:
            self._done.add(update.update_id)
            self._changed.notify_all()

    async def wait_for(self, update_id: int, timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            async with self._changed:
                await self._changed.wait_for(lambda: update_id in self._done)
