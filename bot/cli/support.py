"""What every `campaign-bot` sub-command shares: a database for one command, and a clean failure."""

from __future__ import annotations

import asyncio
import gc
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import typer
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError

from bot.settings import Settings
from messages import render

if TYPE_CHECKING:
    from storage.db import Database

T = TypeVar("T")


def fail(template: str, **context: object) -> typer.Exit:
    """Print the rendered template on standard error; raise the result to exit with status 1."""
    typer.echo(render(template, **context), err=True)
    return typer.Exit(code=1)


def load_settings() -> Settings:
    """The settings, or exit naming each one that is wrong (a traceback would hide which)."""
    try:
        return Settings()
    except ValidationError as error:
        problems = []
        for found in error.errors():
            name = "_".join(str(part) for part in found["loc"]).upper()
            message = found["msg"].removeprefix("Value error, ")
            problems.append(f"{name}: {message}" if name else message)
        raise fail("cli_bad_settings.txt", problems=problems) from None


# What opening a database raises when it is not there: refused or unresolvable addresses (OSError),
# or the server's own refusal (a wrong password, no such database), wrapped by SQLAlchemy.
DATABASE_UNREACHABLE = (OSError, DBAPIError)


def database_unreachable(error: Exception) -> typer.Exit:
    """The person is told which setting to check and what the database said; no traceback."""
    reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
    return fail("cli_database_unreachable.txt", reason=reason)


async def with_database(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    """Runs `work` on the configured database, its schema brought up to date first."""
    from storage.db import Database

    db = Database.from_url(settings.database_url, schema=settings.database_schema)
    try:
        try:
            await db.upgrade()
        except DATABASE_UNREACHABLE as error:
            raise database_unreachable(error) from None
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


def leave_out_the_webhook_server() -> None:
    """For a bot that polls: python-telegram-bot imports its webhook server (tornado, with curses,
    multiprocessing and http.cookies; 3.5 MB that stay) whenever tornado is installed, and treats
    an ImportError there as "no webhooks". A None in sys.modules is Python's own way to make an
    import fail. Call before telegram.ext is imported; `run --webhook` does not call it."""
    if "telegram.ext" not in sys.modules:
        sys.modules.setdefault("tornado", None)


def freeze_start_up_objects() -> None:
    """Moves everything imported so far out of the garbage collector's reach.

    A full collection walks every container object in the process: with python-telegram-bot,
    SQLAlchemy and the rest imported, that took 80-140 ms here, every few seconds at 1000
    messages a second. Sends due meanwhile then went out in a bunch and were refused with 429.
    Modules, classes and tables live as long as the process, so there is nothing to lose.
    """
    gc.collect()
    gc.freeze()
