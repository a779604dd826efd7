"""`campaign-bot events import FILE.yaml` and `campaign-bot events export`."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from bot.settings import Settings

# Each command imports what it needs when it runs (see bot/cli/main.py).

events_app = typer.Typer(help="Events, in and out as YAML (see examples/events.yaml).", no_args_is_help=True)


async def _in_database(settings: Settings, work):
    from bot.cli.support import with_database

    async def in_one_transaction(db):
        async with db.transaction() as session:
            return await work(session)

    return await with_database(settings, in_one_transaction)


@events_app.command("import")
def events_import(
    yaml_file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
) -> None:
    """Publish the events in a YAML file, or update them (matched by key). Safe to run again.

    A file with any problem changes nothing. Reminders are planned now and sent by the running bot.
    """
    from bot.cli.support import load_settings
    from messages import render
    from storage.clock import SystemClock
    from storage.dates import parse_reminder_rules
    from storage.events import yaml_files

    settings = load_settings()
    now = SystemClock().now()
    try:
        items = yaml_files.read_events_file(yaml_file.read_text(encoding="utf-8-sig"), tz=settings.tz, now=now,
                                            default_rules=parse_reminder_rules(settings.reminder_rules))

        async def store(session):
            return await yaml_files.import_events(session, items=items, now=now, tz=settings.tz)

        summary = asyncio.run(_in_database(settings, store))
    except yaml_files.EventsFileError as error:
        typer.echo(render("cli_events_rejected.txt", path=str(yaml_file), problems=error.problems), err=True)
        raise typer.Exit(code=1) from None
    typer.echo(render("cli_events_imported.txt", summary=summary, path=str(yaml_file)))


@events_app.command("export")
def events_export(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here instead of standard output.")]
    = None,
) -> None:
    """Write every event as YAML that `events import` reads back (no RSVPs, nothing about people)."""
    from bot.cli.support import load_settings
    from storage.events import yaml_files

    settings = load_settings()

    async def dump(session):
        return await yaml_files.export_events(session, tz=settings.tz)

    text = asyncio.run(_in_database(settings, dump))
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
