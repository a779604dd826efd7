"""Migrations: from empty to head on both databases, and upgrades that keep existing data."""

from __future__ import annotations

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlmodel import SQLModel

import storage.tables  # noqa: F401  (every table on the metadata)
from storage.db import alembic_config, head_revision, schema_is_current


def revisions_oldest_first() -> list[str]:
    script = ScriptDirectory.from_config(alembic_config())
    return [revision.revision for revision in reversed(list(script.walk_revisions()))]


async def upgrade_to(db, revision: str) -> None:
    def run(connection):
        command.upgrade(alembic_config(connection), revision)

    async with db.engine.begin() as connection:
        await connection.run_sync(run)


async def test_head_creates_every_table_the_models_declare(database):
    async with database.engine.connect() as connection:
        tables = set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))
    assert set(SQLModel.metadata.tables) <= tables


async def test_upgrading_keeps_the_data_of_the_first_revision(tmp_path):
    from storage.db import Database

    db = Database.from_url(f"sqlite+aiosqlite:///{tmp_path}/old.db")
    first, *later = revisions_oldest_first()
    await upgrade_to(db, first)
    async with db.engine.begin() as connection:
        await connection.execute(text(
            "INSERT INTO chats (id, telegram_id, kind, active, first_seen_at) "
            "VALUES (1, 4242, 'private', 1, '2018-03-01 12:00:00')"))
        await connection.execute(text(
            "INSERT INTO mailing_lists (id, slug, title, description, public, created_at) "
            "VALUES (1, 'protests', 'Protests', '', 1, '2018-03-01 12:00:00')"))
        await connection.execute(text(
            "INSERT INTO subscriptions (chat_id, list_id, subscribed_at) VALUES (1, 1, '2018-03-01 12:00:00')"))
    for revision in later:
        await upgrade_to(db, revision)
    async with db.engine.connect() as connection:
        row = (await connection.execute(text(
            "SELECT c.telegram_id, l.slug FROM subscriptions s JOIN chats c ON c.id = s.chat_id "
            "JOIN mailing_lists l ON l.id = s.list_id"))).one()
        version = (await connection.execute(text("SELECT version_num FROM alembic_version"))).scalar_one()
    await db.dispose()
    assert tuple(row) == (4242, "protests")
    assert version == revisions_oldest_first()[-1]


async def test_every_revision_downgrades_and_upgrades_again(database):
    def round_trip(connection):
        config = alembic_config(connection)
        command.downgrade(config, "base")
        command.upgrade(config, "head")

    async with database.engine.begin() as connection:
        await connection.run_sync(round_trip)


def test_the_head_read_from_the_files_is_alembics_head():
    script = ScriptDirectory.from_config(alembic_config())
    assert [head_revision()] == script.get_heads()


async def test_a_database_behind_the_head_is_upgraded_and_one_at_the_head_left_alone(tmp_path):
    from storage.db import Database

    db = Database.from_url(f"sqlite+aiosqlite:///{tmp_path}/behind.db")
    first, *_later = revisions_oldest_first()
    await upgrade_to(db, first)
    assert not await schema_is_current(db.engine)
    await db.upgrade()
    assert await schema_is_current(db.engine)
    async with db.engine.connect() as connection:
        tables = set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))
    await db.dispose()
    assert set(SQLModel.metadata.tables) <= tables


async def test_broadcast_versions_arrive_and_leave_with_0017_keeping_the_deliveries(tmp_path):
    from storage.db import Database

    db = Database.from_url(f"sqlite+aiosqlite:///{tmp_path}/versions.db")
    await upgrade_to(db, "0016_chat_language")
    async with db.engine.begin() as connection:
        await connection.execute(text(
            "INSERT INTO chats (id, telegram_id, kind, active, first_seen_at, language) "
            "VALUES (1, 4242, 'private', 1, '2018-03-01 12:00:00', 'bn')"))
        await connection.execute(text(
            "INSERT INTO mailing_lists (id, slug, title, description, public, created_at) "
            "VALUES (1, 'protests', 'Protests', '', 1, '2018-03-01 12:00:00')"))
        await connection.execute(text(
            "INSERT INTO broadcasts (id, list_id, status, text, created_at, kind, custom_recipients, recipients, "
            "sent_count, blocked_count, gone_count, failed_count, skipped_count, urgent, possible_duplicates) "
            "VALUES (1, 1, 'done', 'Demo', '2018-03-01 12:00:00', 'alert', 0, 1, 1, 0, 0, 0, 0, 0, 0)"))
        await connection.execute(text(
            "INSERT INTO deliveries (id, broadcast_id, chat_id, status) VALUES (1, 1, 1, 'sent')"))
    await upgrade_to(db, "0017_broadcast_versions")
    async with db.engine.begin() as connection:
        # Sent before versions existed: in the original.
        assert (await connection.execute(text("SELECT status, language FROM deliveries"))).one() == ("sent", None)
        await connection.execute(text(
            "INSERT INTO broadcast_versions (broadcast_id, language, text) VALUES (1, 'bn', 'বিক্ষোভ')"))
        assert (await connection.execute(text("SELECT sent_count FROM broadcast_versions"))).scalar_one() == 0

    def down(connection):
        command.downgrade(alembic_config(connection), "0016_chat_language")

    async with db.engine.begin() as connection:
        await connection.run_sync(down)
    async with db.engine.connect() as connection:
        tables = set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))
        columns = await connection.run_sync(lambda sync: [c["name"] for c in inspect(sync).get_columns("deliveries")])
        kept = (await connection.execute(text("SELECT status FROM deliveries"))).scalar_one()
    await db.dispose()
    assert "broadcast_versions" not in tables and "language" not in columns
    assert kept == "sent"
