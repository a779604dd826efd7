"""The `campaign-bot` command: run the bot, try it locally, and manage the database."""

from __future__ import annotations

import asyncio
import gc
import sys
from pathlib import Path
from typing import Annotated

import typer

from bot.cli.broadcast import broadcast_app
from bot.cli.events import events_app
from bot.cli.stats import stats_app

# Every command imports what it needs inside its own function: `--help` and the quick commands
# then start in a fraction of a second instead of paying for python-telegram-bot, Alembic and
# the statistics on every call (benchmarks/cli_startup.py measures it).

# A crash's traceback must not print local variables: the settings among them hold the token.
app = typer.Typer(help="campaign-bot: a Telegram bot for campaign groups.", no_args_is_help=True,
                  pretty_exceptions_show_locals=False)
db_app = typer.Typer(help="The database schema.", no_args_is_help=True)
lists_app = typer.Typer(help="Mailing lists.", no_args_is_help=True)
subscribers_app = typer.Typer(help="Subscribers, in and out as CSV.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(lists_app, name="lists")
app.add_typer(subscribers_app, name="subscribers")
app.add_typer(broadcast_app, name="broadcast")
app.add_typer(stats_app, name="stats")
app.add_typer(events_app, name="events")


def main() -> None:
    """The `campaign-bot` program: the typer app, and a quick exit.

    At exit the interpreter's last garbage collection walks every object SQLAlchemy, pydantic and
    the rest left behind, a tenth of a second for a command that answered in three; frozen, they
    are freed without that walk.
    """
    try:
        app(prog_name="campaign-bot")
    finally:
        gc.freeze()


@app.command()
def run(
    webhook: Annotated[str | None, typer.Option(
        help="Receive updates at this public HTTPS URL (behind your reverse proxy) instead of polling.")] = None,
    worker: Annotated[bool, typer.Option(
        help="Take no updates: only send broadcasts and, when this process holds the lease, reminders.")] = False,
) -> None:
    """Run the bot. With no TELEGRAM_BOT_TOKEN set, runs the local try-out mode instead."""
    import logging

    from bot.memory import limit_malloc_arenas

    limit_malloc_arenas()  # before any thread starts (see bot/memory.py)

    from bot.cli.support import (
        DATABASE_UNREACHABLE,
        database_unreachable,
        fail,
        freeze_start_up_objects,
        leave_out_the_webhook_server,
        load_settings,
        use_fastest_event_loop,
    )

    if webhook is None:
        leave_out_the_webhook_server()
    from bot.log_redaction import redact_from_logs
    from bot.running import run_bot
    from messages import render

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    settings = load_settings()
    # Before anything is logged; every logger's records are cleaned (see bot/log_redaction.py).
    redact_from_logs(settings.telegram_bot_token, settings.webhook_secret)
    if settings.telegram_bot_token is None:
        typer.echo(render("cli_no_token.txt"))
        try_out()
        return
    use_fastest_event_loop()
    freeze_start_up_objects()
    try:
        problem = run_bot(settings, webhook_url=webhook, worker=worker)
    except DATABASE_UNREACHABLE as error:
        raise database_unreachable(error) from None
    if problem is not None:
        raise fail("cli_run_failed.txt", problem=problem)


@app.command("try")
def try_out() -> None:
    """Chat with the real bot in this terminal, against a local Bot API server. No token needed."""
    from bot.cli.support import load_settings
    from bot.cli.try_mode import run_try_mode

    asyncio.run(run_try_mode(load_settings(), stdin=sys.stdin))


@app.command("local-api")
def local_api(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8081,
    delay: Annotated[float, typer.Option(help="Seconds to wait before each answer.")] = 0.0,
    limits: Annotated[bool, typer.Option(help="Answer 429 beyond Telegram's flood limits.")] = False,
    history: Annotated[bool, typer.Option(help="Keep every message (off for million-message benchmarks).")] = True,
    token: Annotated[str | None, typer.Option(help="Accept only this token (others get 401).")] = None,
) -> None:
    """Serve the project's own Bot API server on loopback (tests, benchmarks, experiments)."""
    from bot.cli.support import freeze_start_up_objects, use_fastest_event_loop
    from bot.local_api.flood import Limits
    from bot.local_api.server import serve_forever

    use_fastest_event_loop()
    freeze_start_up_objects()
    asyncio.run(serve_forever(host="127.0.0.1", port=port, token=token, reply_delay=delay,
                              limits=Limits() if limits else None, keep_history=history))


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or upgrade the schema to the newest migration."""
    from bot.cli.support import load_settings, with_database
    from messages import render

    settings = load_settings()

    async def done(_db) -> None:
        return None

    asyncio.run(with_database(settings, done))
    typer.echo(render("cli_db_upgraded.txt"))


@lists_app.command("create")
def lists_create(
    slug: str,
    title: Annotated[str, typer.Option(help="The list's name as supporters see it.")],
    description: Annotated[str, typer.Option(help="One line on what the list is for.")] = "",
) -> None:
    """Create a public mailing list."""
    from bot.cli.support import fail, load_settings, with_database
    from messages import render
    from storage.lists.mailing_lists import InvalidListError, create_list

    async def create(db):
        async with db.transaction() as session:
            return await create_list(session, slug=slug, title=title, description=description)

    try:
        mailing_list = asyncio.run(with_database(load_settings(), create))
    except InvalidListError as problem:
        raise fail("cli_list_invalid.txt", problem=problem) from None
    typer.echo(render("cli_list_created.txt", mailing_list=mailing_list))


@subscribers_app.command("import")
def subscribers_import(
    csv_file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    list_slug: Annotated[str, typer.Option("--list", help="The list to add them to.")],
) -> None:
    """Add chat ids from a CSV file (one a row) to a list. Any bad row and nothing is added."""
    from bot.cli.support import fail, load_settings, with_database
    from messages import render
    from storage.import_problems import ImportRefused
    from storage.lists.mailing_lists import get_list_by_slug
    from storage.lists.subscriber_csv import import_subscribers, parse_subscriber_csv

    try:
        # Read as it goes (utf-8-sig: a spreadsheet's byte-order mark is not part of the first id).
        with csv_file.open(encoding="utf-8-sig", newline="") as lines:
            chat_ids = parse_subscriber_csv(lines)
    except ImportRefused as error:
        raise fail("cli_import_rejected.txt", path=str(csv_file), problems=error.problems) from None

    async def add(db):
        async with db.transaction() as session:
            mailing_list = await get_list_by_slug(session, slug=list_slug)
            if mailing_list is None:
                return None
            return await import_subscribers(session, chat_ids=chat_ids, mailing_list=mailing_list)

    joined = asyncio.run(with_database(load_settings(), add))
    if joined is None:
        raise fail("cli_no_such_list.txt", slug=list_slug)
    typer.echo(render("cli_imported.txt", joined=joined, rows=len(chat_ids), slug=list_slug))


@subscribers_app.command("export")
def subscribers_export(
    list_slug: Annotated[str | None, typer.Option("--list", help="Only this list.")] = None,
) -> None:
    """Write every active subscription as CSV (chat_id,list) to standard output."""
    import csv

    from bot.cli.support import fail, load_settings, with_database
    from storage.lists.mailing_lists import get_list_by_slug
    from storage.lists.subscriber_csv import export_subscribers

    async def write_rows(db) -> bool:
        writer = csv.writer(sys.stdout)
        async with db.transaction() as session:
            mailing_list = None
            if list_slug is not None:
                mailing_list = await get_list_by_slug(session, slug=list_slug)
                if mailing_list is None:
                    return False
            writer.writerow(["chat_id", "list"])
            async for row in export_subscribers(session, mailing_list=mailing_list):
                writer.writerow(row)
        return True

    if not asyncio.run(with_database(load_settings(), write_rows)):
        raise fail("cli_no_such_list.txt", slug=list_slug)
