"""Subscribers in and out as CSV, for the operator at the terminal (`campaign-bot import` and
`export`): the only place where who is on a list leaves the database."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import AsyncIterator, Iterable

from sqlalchemy import case, literal, null, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import insert_with_conflicts, integer_rows, utcnow
from storage.import_problems import ImportProblem, ImportRefused
from storage.import_problems import ImportProblemKind as Kind
from storage.lists.models import Chat, ChatKind, MailingList, Subscription

# Chat ids written per statement (bound as one parameter, see storage.db.integer_rows): each
# statement stays quick and small, whatever the file's size.
IMPORT_BATCH = 5000
# Rows read from the database at a time by an export.
EXPORT_BATCH = 2000


def parse_subscriber_csv(text: str | Iterable[str]) -> list[int]:
    """Chat ids, one a row (a header row `chat_id` is allowed), from the text or its lines (an
    open file, read as it goes). Raises ImportRefused, and only that, with every bad row."""
    ids: list[int] = []
    problems: list[ImportProblem] = []
    reader = csv.reader(io.StringIO(text) if isinstance(text, str) else text)
    try:
        for line_number, row in enumerate(reader, start=1):
            problem = _row_problem(row, line_number, ids)
            if problem is not None:
                problems.append(problem)
    except csv.Error as error:
        # A file the csv module cannot read at all (a cell past its size limit): nothing is imported.
        raise ImportRefused.one(Kind.CSV_UNREADABLE, line=reader.line_num, detail=str(error)) from None
    if problems:
        raise ImportRefused(problems)
    return ids


def _row_problem(row: list[str], line_number: int, ids: list[int]) -> ImportProblem | None:
    """Appends the row's chat id to `ids`, or says what is wrong with the row."""
    cells = [cell.strip() for cell in row]
    if not any(cells):
        return None
    if line_number == 1 and cells[0].lower() in {"chat_id", "telegram_id", "id"}:
        return None
    if len(cells) != 1:
        return ImportProblem(Kind.NOT_ONE_CELL, line=line_number, details={"cells": len(cells)})
    try:
        chat_id = int(cells[0])
    except ValueError:
        return ImportProblem(Kind.NOT_A_CHAT_ID, line=line_number, details={"text": cells[0][:40]})
    if chat_id == 0 or abs(chat_id) >= 10**15:
        return ImportProblem(Kind.CHAT_ID_OUT_OF_RANGE, line=line_number, details={"chat_id": chat_id})
    ids.append(chat_id)
    return None


async def import_subscribers(session: AsyncSession, *, chat_ids: list[int], mailing_list: MailingList,
                             now: dt.datetime | None = None) -> int:
    """Subscribes every chat id; returns how many were new to the list.

    As joining by button does, chat by chat: a chat not seen before is stored, one that could not
    be written to is writable again, and each is on a list now (its retention clock stopped). Done
    a few thousand chats per statement rather than a few statements per chat, in the caller's
    transaction, so a file is imported whole or not at all.
    """
    now = now or utcnow()
    chats, subscriptions = Chat.__table__, Subscription.__table__
    joined = 0
    unique_ids = list(dict.fromkeys(chat_ids))
    for start in range(0, len(unique_ids), IMPORT_BATCH):
        batch = unique_ids[start:start + IMPORT_BATCH]
        # New chats are stored; known ones are writable again and on a list (conflict: update).
        # SQLite reads `INSERT ... SELECT ... ON CONFLICT` only with a WHERE in the SELECT.
        ids = integer_rows(session, batch)
        kind = case((ids.c.value > 0, ChatKind.PRIVATE.value), else_=ChatKind.GROUP.value)
        new_chats = select(ids.c.value, kind, true(), literal(now, chats.c.first_seen_at.type), null()).where(true())
        await session.execute(
            insert_with_conflicts(session, chats)
            .from_select(["telegram_id", "kind", "active", "first_seen_at", "left_at"], new_chats)
            .on_conflict_do_update(index_elements=[chats.c.telegram_id], set_={"active": True, "left_at": None},
                                   where=or_(chats.c.active.is_(False), chats.c.left_at.is_not(None)))
        )
        ids = integer_rows(session, batch)
        added = insert_with_conflicts(session, subscriptions).from_select(
            [subscriptions.c.chat_id, subscriptions.c.list_id, subscriptions.c.subscribed_at],
            select(chats.c.id, literal(mailing_list.id), literal(now, subscriptions.c.subscribed_at.type))
            .select_from(ids.join(chats, chats.c.telegram_id == ids.c.value)).where(true()),
        ).on_conflict_do_nothing()
        joined += (await session.execute(added)).rowcount
    return joined


async def export_subscribers(session: AsyncSession, *,
                             mailing_list: MailingList | None = None) -> AsyncIterator[tuple[int, str]]:
    """(chat id, list slug) of every active subscription, for the operator's terminal only,
    read from the database a few thousand at a time (a list of any size takes little memory)."""
    query = (
        select(Chat.telegram_id, MailingList.slug)
        .join(Subscription, Subscription.chat_id == Chat.id)
        .join(MailingList, MailingList.id == Subscription.list_id)
        .where(Chat.active.is_(True))
        .order_by(MailingList.slug, Chat.telegram_id)
        .execution_options(yield_per=EXPORT_BATCH)
    )
    if mailing_list is not None:
        query = query.where(MailingList.id == mailing_list.id)
    # A page at a time: stepping through the stream row by row costs a greenlet switch per row.
    async for page in (await session.stream(query)).partitions(EXPORT_BATCH):
        for telegram_id, slug in page:
            yield telegram_id, slug
