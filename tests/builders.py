"""Test data builders: put rows in the database the way the domain functions would."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy import inspect, select, text

from storage.db import Database, create_schema, drop_schema
from storage.lists.mailing_lists import create_list, get_list_by_slug
from storage.lists.models import ChatKind, MailingList
from storage.lists.subscriptions import join_list, lists_of_chat


@asynccontextmanager
async def fresh_database(directory: Path, *, filename: str = "campaign.db") -> AsyncIterator[Database]:
    """An upgraded, empty database: a SQLite file in `directory`, or, with TEST_DATABASE_URL set,
    a schema of its own on that PostgreSQL server (dropped afterwards)."""
    postgres_url = os.environ.get("TEST_DATABASE_URL")
    if postgres_url is None:
        db = Database.from_url(f"sqlite+aiosqlite:///{directory}/{filename}")
        await db.upgrade()
        try:
            yield db
        finally:
            await db.dispose()
        return
    schema = f"test_{uuid.uuid4().hex[:16]}"
    try:
        await create_schema(postgres_url, schema)
    except OSError as error:
        pytest.skip(f"no PostgreSQL server answers at {postgres_url}: {error}")
    db = Database.from_url(postgres_url, schema=schema)
    try:
        await db.upgrade()
        yield db
    finally:
        await db.dispose()
        await drop_schema(postgres_url, schema)


async def make_list(db: Database, slug: str, title: str, description: str = "") -> MailingList:
    async with db.transaction() as session:
        return await create_list(session, slug=slug, title=title, description=description)


async def subscribe(db: Database, chat_id: int, slug: str) -> None:
    async with db.transaction() as session:
        mailing_list = await get_list_by_slug(session, slug=slug)
        kind = ChatKind.PRIVATE if chat_id > 0 else ChatKind.GROUP
        await join_list(session, telegram_id=chat_id, kind=kind, mailing_list=mailing_list)


async def slugs_of(db: Database, chat_id: int) -> list[str]:
    async with db.transaction() as session:
        return [item.slug for item in await lists_of_chat(session, telegram_id=chat_id)]


async def rows_mentioning(db: Database, values: set[int]) -> list[tuple[str, dict]]:
    """Every row of every table (as the database has them, not as the models think) holding
    any of `values` in any integer column. Used to prove erasure is complete."""
    found = []
    async with db.engine.connect() as connection:
        tables = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
        for table in tables:
            rows = (await connection.execute(text(f'SELECT * FROM "{table}"'))).mappings().all()
            for row in rows:
                if any(isinstance(value, int) and not isinstance(value, bool) and value in values
                       for value in row.values()):
                    found.append((table, dict(row)))
    return found


async def chat_row(db: Database, chat_id: int):
    from storage.lists.models import Chat

    async with db.transaction() as session:
        return await session.scalar(select(Chat).where(Chat.telegram_id == chat_id))


async def rows_keyed_by_chat_row(db: Database, chat_row_id: int) -> list[tuple[str, dict]]:
    """Every row of every table whose foreign key to chats.id (as the database declares it) is
    `chat_row_id`: what `rows_mentioning` cannot see, since internal row ids are small numbers."""
    found = []
    async with db.engine.connect() as connection:
        def referring_columns(sync) -> list[tuple[str, str]]:
            inspector = inspect(sync)
            return [(table, key["constrained_columns"][0]) for table in inspector.get_table_names()
                    for key in inspector.get_foreign_keys(table) if key["referred_table"] == "chats"]

        for table, column in await connection.run_sync(referring_columns):
            rows = (await connection.execute(text(f'SELECT * FROM "{table}" WHERE "{column}" = :id'),
                                             {"id": chat_row_id})).mappings().all()
            found.extend((table, dict(row)) for row in rows)
    return found


async def one_date_event(db: Database, *, slug: str, starts_at, now, tz, rules=()) -> int:
    """An event of four hours on the list `slug`, with the reminder `rules` given (none by
    default); returns its date's id."""
    import datetime as dt

    from storage.events import catalogue
    from storage.events.drafts import DateDraft, EventDraft

    async with db.transaction() as session:
        mailing_list = await get_list_by_slug(session, slug=slug)
        draft = EventDraft(list_id=mailing_list.id, title="Encounter group", venue_name="The Tabernacle",
                           address="35 Powis Square, London", postcode="W11 2AY",
                           dates=[DateDraft(starts_at, starts_at + dt.timedelta(hours=4))], rules=list(rules))
        event = await catalogue.create_event(session, draft=draft, now=now, tz=tz)
        return (await catalogue.dates_of(session, event_id=event.id))[0].id
