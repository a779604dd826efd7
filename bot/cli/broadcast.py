"""`campaign-bot broadcast send` and `campaign-bot broadcast status`.

The terminal only writes the broadcast into the database; the running bot's engine sends it
(it looks at the database every few seconds), exactly as if an organiser had pressed Send now.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from bot.settings import Settings

# Each command imports what it needs when it runs (see bot/cli/main.py).

broadcast_app = typer.Typer(help="Broadcasts: send an alert to a list, and follow its progress.",
                            no_args_is_help=True)

# An alert kept as a template in messages/, as an example for --template.
EXAMPLE_TEMPLATE = "alert_example.html"


def _parse_at(value: str, *, settings: Settings, now: dt.datetime) -> dt.datetime:
    """ISO 8601 ('2018-03-20T19:00', with or without an offset; without, in TIMEZONE), or what
    organisers type in Telegram ('tomorrow 07:00'). Raises DateProblem."""
    from storage.dates import DateProblem, DateProblemKind, parse_moment

    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return parse_moment(value, now=now, tz=settings.tz)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=settings.tz)
    moment = moment.astimezone(dt.UTC)
    if moment <= now:
        raise DateProblem(DateProblemKind.PAST, value)
    return moment


def _read_versions(specs: list[str]) -> dict[str, str]:
    """`--version bn=FILE`, each a language the bot speaks (not its source language) and a
    readable UTF-8 file; exits naming the one that is not."""
    from pathlib import Path

    from bot.cli.support import fail
    from messages.i18n import SOURCE_LANGUAGE, available_languages

    versions: dict[str, str] = {}
    for spec in specs:
        language, _equals, path = spec.partition("=")
        language = language.strip().lower()
        if language not in available_languages() or language == SOURCE_LANGUAGE or not path:
            raise fail("cli_broadcast_bad_version.txt", spec=spec, unreadable=False,
                       languages=[code for code in available_languages() if code != SOURCE_LANGUAGE])
        try:
            versions[language] = Path(path).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            raise fail("cli_broadcast_bad_version.txt", spec=spec, unreadable=True, languages=[]) from None
    return versions


@broadcast_app.command("send")
def broadcast_send(
    list_slug: Annotated[str, typer.Option("--list", help="The list's short name.")],
    text: Annotated[str | None, typer.Option(help="The alert, in Telegram HTML (<b>, <i>, <a href>).")] = None,
    template: Annotated[str | None, typer.Option(
        help=f"A template in messages/ instead of --text, e.g. {EXAMPLE_TEMPLATE.removesuffix('.html')}.")] = None,
    at: Annotated[str | None, typer.Option(
        help="When to send, e.g. 2018-03-20T19:00 (in TIMEZONE unless an offset is given). Default: now.")] = None,
    version: Annotated[list[str] | None, typer.Option(
        "--version", help="The same alert in another language, from a UTF-8 file of Telegram HTML: bn=FILE. "
                          "Chats that speak it get it instead. Repeat for more languages.")] = None,
) -> None:
    """Queue an alert to a list; the running bot sends it and reports to nobody (see `status`)."""
    from jinja2 import TemplateNotFound

    from bot.cli.support import fail, load_settings, with_database
    from bot.engines.composing import check_message_length
    from messages import render
    from storage.broadcasts.status import BroadcastError, TextTooLong, create_broadcast
    from storage.clock import SystemClock
    from storage.dates import DateProblem
    from storage.lists.mailing_lists import get_list_by_slug, subscriber_count
    from storage.telegram_html import TelegramHtmlError

    settings = load_settings()
    now = SystemClock().now()
    if (text is None) == (template is None):
        raise fail("cli_broadcast_usage.txt")
    versions = _read_versions(version or [])
    send_at = None
    if at is not None:
        try:
            send_at = _parse_at(at, settings=settings, now=now)
        except DateProblem as problem:
            raise fail("cli_broadcast_bad_time.txt", text=at, kind=problem.kind.value,
                        timezone=settings.timezone) from None

    async def queue(db):
        async with db.transaction() as session:
            mailing_list = await get_list_by_slug(session, slug=list_slug)
            if mailing_list is None:
                return None
            body = text
            if template is not None:
                name = template if template.endswith(".html") else f"{template}.html"
                body = render(name, mailing_list=mailing_list)
            # Refuses, with the position, HTML Telegram would refuse for every recipient.
            check_message_length(text=body, media_kind=None, mailing_list=mailing_list,
                                 support_pointer=settings.support_pointer_under_alerts)
            for language, version_text in versions.items():  # each checked as it will be sent
                check_message_length(text=version_text, media_kind=None, mailing_list=mailing_list,
                                     support_pointer=settings.support_pointer_under_alerts, language=language)
            broadcast = await create_broadcast(session, list_id=mailing_list.id, text=body, versions=versions,
                                               created_by=None, send_at=send_at, now=now)
            count = broadcast.recipients if send_at is None else await subscriber_count(session,
                                                                                         list_id=mailing_list.id)
            return broadcast, mailing_list, count

    try:
        queued = asyncio.run(with_database(settings, queue))
    except TemplateNotFound as missing:
        raise fail("cli_broadcast_no_template.txt", name=missing.name) from None
    except TextTooLong as problem:
        raise fail("cli_broadcast_too_long.txt", problem=problem) from None
    except TelegramHtmlError as problem:
        raise fail("cli_broadcast_bad_html.txt", problem=problem) from None
    except BroadcastError as problem:
        raise fail("cli_broadcast_refused.txt", problem=problem) from None
    if queued is None:
        raise fail("cli_no_such_list.txt", slug=list_slug)
    broadcast, mailing_list, count = queued
    typer.echo(render("cli_broadcast_queued.txt", broadcast=broadcast, mailing_list=mailing_list, count=count,
                      tz=settings.tz))


@broadcast_app.command("status")
def broadcast_status(
    broadcast_id: Annotated[int | None, typer.Argument(help="One broadcast; without it, the recent ones.")] = None,
) -> None:
    """Recent and scheduled broadcasts with their progress, or one in detail."""
    from bot.cli.support import fail, load_settings, with_database
    from messages import render
    from storage.broadcasts.listings import broadcast_summary, recent_broadcasts

    settings = load_settings()

    async def read(db):
        async with db.transaction() as session:
            if broadcast_id is None:
                return await recent_broadcasts(session, limit=20)
            summary = await broadcast_summary(session, broadcast_id=broadcast_id)
            return None if summary is None else [summary]

    items = asyncio.run(with_database(settings, read))
    if items is None:
        raise fail("cli_broadcast_unknown.txt", broadcast_id=broadcast_id)
    typer.echo(render("cli_broadcast_status.txt", items=items, tz=settings.tz, rate=settings.sending_rate,
                      detail=broadcast_id is not None))
