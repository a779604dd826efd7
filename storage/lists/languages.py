"""The language a chat is answered in, as stored: its /language choice, or the Telegram app's
language adopted when it joined a list or answered an event; and a small cache of it.

`chats.language` None means the chat never chose and adopted nothing: each update is then
answered in the sender's Telegram language when the bot has a catalogue for it, else in English
(messages/i18n.py `choose_language`). Which languages have a catalogue is the messages package's
business; storage imports nothing from it, so callers say what the bot speaks.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.clock import Clock
from storage.db import Database
from storage.lists.chats import record_chat
from storage.lists.models import Chat, ChatKind

# How long a cached language is trusted. In one process every change goes through the cache, so it
# is exact there; several processes behind one webhook share the database, and a choice made
# through another one reaches this process at the latest after this long.
CACHE_FOR = dt.timedelta(minutes=10)
# Chats remembered at most (the least recently asked about go first), so the cache does not grow
# with every chat that ever wrote to the bot.
CACHE_SIZE = 10_000


async def stored_language(session: AsyncSession, *, telegram_id: int) -> str | None:
    return await session.scalar(select(Chat.language).where(Chat.telegram_id == telegram_id))


async def set_chat_language(session: AsyncSession, *, telegram_id: int, kind: ChatKind, language: str,
                            now: dt.datetime | None = None) -> Chat:
    """Stores the language the chat chose with /language. A chat the bot never stored is stored
    now, on no list (so the retention sweep erases it in time unless it joins one)."""
    chat = await record_chat(session, telegram_id=telegram_id, kind=kind, now=now)
    chat.language = language
    return chat


def adopt_app_language(chat: Chat, app_language: str | None) -> bool:
    """The one rule for a chat that never chose: when it joins a list or answers an event, the
    Telegram app's language of whoever did it is stored, so that alerts and reminders reach the
    chat in it though they answer no update of its own. `app_language` is that language when the
    bot has a catalogue for it, else None (bot/handlers/languages.py `adoptable_language` decides,
    knowing the catalogues). A language already stored is never replaced. Returns whether one was
    stored."""
    if chat.language is not None or not app_language:
        return False
    chat.language = app_language
    return True


@dataclasses.dataclass
class _Entry:
    language: str | None
    read_at: dt.datetime


class ChatLanguages:
    """Each chat's stored language (or None), read once and then kept in this process, so that
    answering an ordinary update in the chat's language costs no query.

    Whatever changes or erases a chat's language tells the cache: /language (`remember`), joining
    or answering (`changed`, since the adoption may or may not have stored something), /forget
    (`changed`) and the retention sweep's erasure (`forget_all`).
    """

    def __init__(self, db: Database, clock: Clock, *, cache_for: dt.timedelta = CACHE_FOR,
                 size: int = CACHE_SIZE) -> None:
        self.db = db
        self.clock = clock
        self.cache_for = cache_for
        self.size = size
        self._entries: collections.OrderedDict[int, _Entry] = collections.OrderedDict()
        # Database reads made, for tests and benchmarks that check the cache does its work.
        self.reads = 0

    async def stored(self, telegram_id: int) -> str | None:
        now = self.clock.now()
        entry = self._entries.get(telegram_id)
        if entry is not None and now - entry.read_at < self.cache_for:
            self._entries.move_to_end(telegram_id)
            return entry.language
        async with self.db.transaction() as session:
            language = await stored_language(session, telegram_id=telegram_id)
        self.reads += 1
        self.remember(telegram_id, language)
        return language

    async def choose(self, *, telegram_id: int, kind: ChatKind, language: str) -> None:
        """/language: stores the chat's choice, and keeps it here once it is committed."""
        async with self.db.transaction() as session:
            await set_chat_language(session, telegram_id=telegram_id, kind=kind, language=language,
                                    now=self.clock.now())
        self.remember(telegram_id, language)

    def cached(self, telegram_id: int) -> str | None:
        """The stored language if this process has it at hand (None otherwise), without a query:
        for answers that must not wait for the database (a flood being dropped)."""
        entry = self._entries.get(telegram_id)
        return entry.language if entry is not None else None

    def remember(self, telegram_id: int, language: str | None) -> None:
        """The chat's language as now stored (after the transaction that stored it committed)."""
        self._entries[telegram_id] = _Entry(language, self.clock.now())
        self._entries.move_to_end(telegram_id)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def changed(self, telegram_id: int) -> None:
        """The chat's language may have changed or gone: read it again when next asked."""
        self._entries.pop(telegram_id, None)

    def forget_all(self) -> None:
        """Chats were erased (by the retention sweep, which names no chat to anyone)."""
        self._entries.clear()

    def __contains__(self, telegram_id: int) -> bool:
        return telegram_id in self._entries

