"""Alembic environment: the migrations run on the connection the `Database` hands in.

`storage.db` puts that connection in `config.attributes["connection"]`; it comes from the
Database's own engine, so it carries the Database's URL and, on PostgreSQL, its schema (the
engine's search_path), and the tables and `alembic_version` land where the bot will look.
Nothing here reads settings or the environment: storage/ knows nothing of bot/.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import storage.tables  # noqa: F401  (registers every table on SQLModel.metadata)

target_metadata = SQLModel.metadata


def run_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things in place; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("campaign-bot's migrations run through storage.db.Database.upgrade "
                       "(`campaign-bot db upgrade`), which hands them its connection")
run_on(connection)
