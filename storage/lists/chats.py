"""Chats: the people, groups and channels the bot has heard from, and whether it can still write
to them.

What /mydata shows of a chat is gathered in storage/mydata.py; erasure, and how long anything is
kept, are in storage/retention.py.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import few_shapes, utcnow
from storage.lists.models import Chat, ChatKind, Subscription


async def get_chat(session: AsyncSession, *, telegram_id: int) -> Chat | None:
    return await session.scalar(select(Chat).where(Chat.telegram_id == telegram_id))


async def record_chat(session: AsyncSession, *, telegram_id: int, kind: ChatKind,
                      now: dt.datetime | None = None) -> Chat:
    """The chat's row, created on first contact; a chat that writes to us is reachable again.

    A new chat is on no list yet (`left_at` set): joining one clears that.
    """
    chat = await get_chat(session, telegram_id=telegram_id)
    if chat is None:
        chat = Chat(telegram_id=telegram_id, kind=kind.value, active=True, left_at=now or utcnow())
        session.add(chat)
        await session.flush()
    elif not chat.active:
        chat.active = True
    return chat


async def mark_chat_unreachable(session: AsyncSession, *, telegram_id: int, now: dt.datetime | None = None) -> bool:
    """The chat blocked us, was deleted or removed us: stop writing to it and end its subscriptions.

    Ending the subscriptions is deliberate: if the person unblocks the bot later they are not
    silently put back on any list; they choose again. A blocked chat has left, so its retention
    period starts now (unless it was on no list already). Returns whether the chat was known.
    """
    return await mark_chats_unreachable(session, telegram_ids=[telegram_id], now=now) > 0


async def mark_chats_unreachable(session: AsyncSession, *, telegram_ids: list[int],
                                 now: dt.datetime | None = None) -> int:
    """`mark_chat_unreachable` for many chats at once, in three statements however many there
    are (a broadcast learns of blocked chats by the hundred). Returns how many were known."""
    if not telegram_ids:
        return 0
    # Core statements on the tables, with nothing of the ORM's bookkeeping: a broadcast's recorder
    # runs this for every batch of outcomes, and no Chat it has loaded is read after it.
    chats, subscriptions = Chat.__table__, Subscription.__table__
    ids = few_shapes(sorted(set(telegram_ids)))
    known = select(chats.c.id).where(chats.c.telegram_id.in_(ids))
    await session.execute(delete(subscriptions).where(subscriptions.c.chat_id.in_(known)))
    await session.execute(update(chats).where(chats.c.telegram_id.in_(ids), chats.c.left_at.is_(None))
                          .values(left_at=now or utcnow()))
    result = await session.execute(update(chats).where(chats.c.telegram_id.in_(ids)).values(active=False))
    return result.rowcount or 0


async def mark_chat_reachable(session: AsyncSession, *, telegram_id: int) -> None:
    """The chat unblocked or re-added the bot: writable again, but on no list until it chooses.

    A chat we never stored stays unstored: being able to write to someone is no reason to.
    """
    chat = await get_chat(session, telegram_id=telegram_id)
    if chat is not None:
        chat.active = True


async def move_chat(session: AsyncSession, *, old_telegram_id: int, new_telegram_id: int) -> None:
    """A group became a supergroup and Telegram gave it a new id: keep its subscriptions."""
    existing = await get_chat(session, telegram_id=new_telegram_id)
    if existing is not None:
        return
    await session.execute(
        update(Chat)
        .where(Chat.telegram_id == old_telegram_id)
        .values(telegram_id=new_telegram_id, kind=ChatKind.SUPERGROUP.value)
    )
