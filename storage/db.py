"""Engines, sessions and migrations for SQLite (the default) and PostgreSQL."""

from __future__ import annotations

import ast
import datetime as dt
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import BigInteger, String, bindparam, event, func, text, types
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy import Insert, Table
    from sqlalchemy.sql.selectable import TableValuedAlias

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def few_shapes(values: list[int]) -> list[int]:
    """`values` for an `IN (...)` list, the last repeated up to the next power of two.

    SQLAlchemy writes one `?` for each value, and each length is another statement that the
    database driver prepares and keeps in its per-connection cache (128 in SQLite's): a batch of
    500 ids holds tens of kilobytes there, so batches of every length from 1 to 1,000 filled that
    cache with some 13 MB on each connection through a large broadcast. Padded, a dozen lengths
    cover every batch, and a repeated value changes nothing an `IN` matches. Lists longer than
    any batch are left as they are (far below the 32,766 parameters SQLite takes, even doubled).
    """
    if len(values) < 2 or len(values) > 4096:
        return values
    return values + [values[-1]] * ((1 << (len(values) - 1).bit_length()) - len(values))


class UTCDateTime(types.TypeDecorator[dt.datetime]):
    """Stores UTC on every backend and always hands back an aware datetime.

    SQLite has no time zones and would return naive values; PostgreSQL's timestamptz
    would return the server's zone. Either way the rest of the code sees aware UTC.
    """

    impl = types.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def normalise_database_url(url: str) -> str:
    """Accept the URLs people paste (postgresql://, sqlite:///) and pick the async drivers."""
    parsed = make_url(url)
    drivers = {"postgresql": "postgresql+asyncpg", "postgres": "postgresql+asyncpg", "sqlite": "sqlite+aiosqlite"}
    if parsed.drivername in drivers:
        parsed = parsed.set(drivername=drivers[parsed.drivername])
    return parsed.render_as_string(hide_password=False)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # Foreign keys make erasure cascade; WAL lets readers go on while a broadcast writes.
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def make_engine(url: str, *, schema: str | None = None) -> AsyncEngine:
    """An async engine; `schema` puts every table of a PostgreSQL run in its own schema."""
    url = normalise_database_url(url)
    # SQLAlchemy's errors otherwise quote the statement's parameters, and a logged error about a
    # subscription or a delivery would then name a chat together with a list or a broadcast.
    kwargs: dict = {"hide_parameters": True}
    if url.startswith("postgresql") and schema:
        kwargs["connect_args"] = {"server_settings": {"search_path": schema}}
    if url.startswith("postgresql"):
        kwargs["pool_size"] = 10
        kwargs["max_overflow"] = 10
    engine = create_async_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


async def create_schema(url: str, schema: str) -> None:
    """Create a PostgreSQL schema (a campaign's own, or a test's or a benchmark's) for a Database to use."""
    await _run_alone(url, f'CREATE SCHEMA "{schema}"')


async def drop_schema(url: str, schema: str) -> None:
    """Drop a PostgreSQL schema and every table in it."""
    await _run_alone(url, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


async def _run_alone(url: str, statement: str) -> None:
    # On an engine of its own, outside any schema: the schema may not exist yet, or may be going.
    engine = make_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


def insert_with_conflicts(session: AsyncSession, table: Table) -> Insert:
    """An INSERT into `table` that takes ON CONFLICT clauses (`on_conflict_do_nothing`,
    `on_conflict_do_update`), for the session's database: both have them, spelt alike."""
    if session.bind.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


def integer_rows(session: AsyncSession, values: list[int]) -> TableValuedAlias:
    """`values` as a table of one column, `value`, bound as ONE parameter however many there are:
    a JSON array read by SQLite's json_each, an array unnested by PostgreSQL. Set-based statements
    over thousands of ids then cost neither a parameter per id nor a round trip per id."""
    if session.bind.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import ARRAY

        array = bindparam(None, values, type_=ARRAY(BigInteger))
        return func.unnest(array).table_valued("value").render_derived()
    return func.json_each(bindparam(None, json.dumps(values), type_=String)).table_valued("value")


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration; with `connection`, migrations run on it (see migrations/env.py).
    Without one it serves only to read the revisions."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


async def upgrade_database(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the schema up to `revision` with Alembic, inside the engine's own connection."""

    from alembic import command

    def run_upgrade(connection: Connection) -> None:
        command.upgrade(alembic_config(connection), revision)

    async with engine.begin() as connection:
        await connection.run_sync(run_upgrade)


# `revision = "0009_x"` and `down_revision = "0008_y"` (or a tuple, or None) at the start of a line.
_REVISION_LINE = re.compile(r"^(revision|down_revision)(?:\s*:[^=\n]*)?\s*=\s*(.+?)\s*$", re.MULTILINE)


@cache
def head_revision() -> str | None:
    """The newest migration's id, read from the migration files' `revision` and `down_revision`
    lines without loading Alembic (None if there is not exactly one head)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        for name, value in _REVISION_LINE.findall(path.read_text(encoding="utf-8")):
            value = ast.literal_eval(value)
            if name == "revision":
                revisions.add(value)
            elif value is not None:
                parents.update([value] if isinstance(value, str) else value)
    heads = revisions - parents
    return next(iter(heads)) if len(heads) == 1 else None


async def schema_is_current(engine: AsyncEngine) -> bool:
    """Whether the database records the newest migration as applied, and only that one."""
    head = head_revision()
    if head is None:
        return False
    async with engine.connect() as connection:
        try:
            applied = (await connection.execute(text("SELECT version_num FROM alembic_version"))).scalars().all()
        except (OperationalError, ProgrammingError):
            return False  # a new database: no alembic_version table yet
    return applied == [head]


class Database:
    """The engine and the session factory, handed around as one object."""

    def __init__(self, engine: AsyncEngine, *, schema: str | None = None) -> None:
        self.engine = engine
        self.schema = schema
        self._sessions = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)

    @classmethod
    def from_url(cls, url: str, *, schema: str | None = None) -> Database:
        return cls(make_engine(url, schema=schema), schema=schema)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session whose work is committed on success and rolled back on any error."""
        async with self._sessions() as session, session.begin():
            yield session

    async def upgrade(self) -> None:
        """Brings the schema to the newest migration. A database already there is only asked for
        its version: loading Alembic and every migration costs a command line most of a second."""
        if await schema_is_current(self.engine):
            return
        await upgrade_database(self.engine)

    async def dispose(self) -> None:
        await self.engine.dispose()
