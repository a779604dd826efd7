"""Notices: what the engine owes an organiser (the final report, a pause, a failure), and
reminders to one person, as a broadcast of kind REPORT with that person as its one recipient.

A notice is created in the transaction that changed the status it reports: it is recorded
before anything is sent, sent once, and sent after a restart if a kill came first.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.broadcasts.status import create_broadcast
from storage.broadcasts.tables import (
    Broadcast,
    BroadcastKind,
    BroadcastStatus,
    MediaKind,
    get_broadcast,
    get_broadcast_by_origin,
)
from storage.lists.chats import get_chat
from storage.lists.models import Chat, ChatKind


async def broadcasts_awaiting_report(session: AsyncSession) -> list[int]:
    """Finished broadcasts with a creator whose report was never recorded (made before reports
    were recorded with the status change, or by a path that did not record one)."""
    result = await session.scalars(
        select(Broadcast.id).where(
            Broadcast.status.in_([BroadcastStatus.DONE.value, BroadcastStatus.FAILED.value]),
            Broadcast.reported_at.is_(None),
            Broadcast.created_by.is_not(None),
        )
    )
    return list(result)


async def mark_reported(session: AsyncSession, *, broadcast_id: int, now: dt.datetime) -> None:
    await session.execute(update(Broadcast).where(Broadcast.id == broadcast_id).values(reported_at=now))


def report_origin_key(broadcast_id: int) -> str:
    return f"report:{broadcast_id}"


async def record_notice(session: AsyncSession, *, list_id: int, telegram_id: int, text: str, now: dt.datetime,
                        origin_key: str | None = None, media_kind: str | None = None,
                        media_file_id: str | None = None, buttons: str | None = None) -> Broadcast | None:
    """Queues `text` (Telegram HTML, sent as it is, without a footer) to the private chat
    `telegram_id`, about something of the list `list_id`, in the caller's transaction; the engine
    sends it like any broadcast. With `media_kind`, `text` is the caption of that photo or
    document; `buttons` (JSON rows of [label, callback_data]) go under it.

    The chat's row is made if there is none (organisers need not be subscribers); a chat that
    blocked the bot stays unreachable and gets nothing. Returns None if `origin_key` was used before.
    """
    chat = await get_chat(session, telegram_id=telegram_id)
    if chat is None:
        chat = Chat(telegram_id=telegram_id, kind=ChatKind.PRIVATE.value, active=True)
        session.add(chat)
        await session.flush()
    only_them = select(Chat.id).where(Chat.id == chat.id)
    notice = await create_broadcast(session, list_id=list_id, text=text, created_by=None,
                                    origin_key=origin_key, recipient_chat_rows=only_them, now=now,
                                    kind=BroadcastKind.REPORT,
                                    # Never refused here: that would undo the status change it reports.
                                    # The engine checks it when composing, as it does every broadcast.
                                    check_text=False,
                                    photo_file_id=media_file_id if media_kind == MediaKind.PHOTO.value else None,
                                    document_file_id=media_file_id if media_kind == MediaKind.DOCUMENT.value else None)
    if notice is not None and buttons is not None:
        notice.buttons = buttons
        await session.flush()
    return notice


async def record_report(session: AsyncSession, *, broadcast_id: int, text: str | None, now: dt.datetime) -> bool:
    """The broadcast's final report to its creator, queued once ever (`text` None: nobody is told,
    but the broadcast counts as reported). Returns whether a report was queued."""
    broadcast = await get_broadcast(session, broadcast_id=broadcast_id)
    if broadcast is None or broadcast.reported_at is not None:
        return False
    broadcast.reported_at = now
    if text is None or broadcast.created_by is None:
        await session.flush()
        return False
    notice = await record_notice(session, list_id=broadcast.list_id, telegram_id=broadcast.created_by, text=text,
                                 origin_key=report_origin_key(broadcast_id), now=now)
    return notice is not None


async def report_of(session: AsyncSession, *, broadcast_id: int) -> Broadcast | None:
    return await get_broadcast_by_origin(session, origin_key=report_origin_key(broadcast_id))
