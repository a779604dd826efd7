"""What every `campaign-bot` sub-command shares: a database for one command, and a clean failure."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import typer

from bot.settings import Settings
from messages import render
from storage.db import Database

T = TypeVar("T")


def fail(template: str, **context: object) -> typer.Exit:
    """Print the rendered template on standard error; raise the result to exit with status 1."""
    typer.echo(render(template, **context), err=True)
    return typer.Exit(code=1)


async def with_database(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    """Runs `work` on the configured database, its schema brought up to date first."""
    db = Database.from_url(settings.database_url)
    try:
        await db.upgrade()
        return await work(db)
    finally:
        await db.dispose()


def use_fastest_event_loop() -> None:
    """uvloop where it exists (Linux, macOS): it roughly halves the CPU each message costs the
    asyncio machinery, which matters at hundreds of messages a second on a small machine."""
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
