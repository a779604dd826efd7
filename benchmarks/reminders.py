"""Reminders at scale: how long the start-up rebuild takes, and how late reminders fire.

    .venv/bin/python benchmarks/reminders.py                     # SQLite in a temporary directory
    .venv/bin/python benchmarks/reminders.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/bench

It stores 1,000 events with 10,000 pending reminders (two dates and five rules each, weeks
ahead), plus a few events whose reminders fall due a few seconds apart once the bot is up. Then
it starts the real bot (python-telegram-bot, the JobQueue, the broadcast engine) against the
project's local Bot API server on loopback, with the system clock, and reports:

- the start-up rebuild: settling anything overdue, reading every pending reminder and creating
  its job (target: under 2 s), and a second rebuild on the running bot;
- for the timed reminders, how late each was settled after its moment (target: p99 under 1 s),
  and how late its message reached the Bot API server.

With --database-url on PostgreSQL, everything goes in a schema of its own, dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import select, update

from bot.app import build_application, running
from bot.local_api.server import LocalBotApi
from bot.services import services_in
from bot.settings import Settings
from storage.clock import SystemClock
from storage.dates import parse_reminder_rules
from storage.db import Database, create_schema, drop_schema
from storage.events import catalogue, reminders
from storage.events.drafts import DateDraft, EventDraft
from storage.events.tables import Reminder
from storage.lists.mailing_lists import create_list
from storage.lists.models import ChatKind
from storage.lists.subscriptions import join_list

TOKEN = "424242:benchmark"
RULES = ("2 days before at 19:00 to everyone; 1 day before at 19:00 to everyone; 1 day before at 08:00 to going; "
         "3 hours before to going; 90 minutes before to everyone")
SUBSCRIBER = 5000001


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


async def store_events(db: Database, settings: Settings, *, count: int, timed: int, spacing: float,
                       lead: float) -> list[int]:
    """`count` events weeks ahead, and `timed` events whose first reminder is due `lead` seconds
    from now and then every `spacing` seconds. Returns the timed reminders' ids."""
    now = SystemClock().now()
    rules = parse_reminder_rules(RULES)
    async with db.transaction() as session:
        mailing_list = await create_list(session, slug="bench", title="Benchmark")
        await join_list(session, telegram_id=SUBSCRIBER, kind=ChatKind.PRIVATE,
                        mailing_list=mailing_list)
    for first in range(0, count, 100):
        async with db.transaction() as session:
            for number in range(first, min(count, first + 100)):
                start = now + dt.timedelta(days=20 + number % 30, hours=number % 7)
                dates = [DateDraft(start, start + dt.timedelta(hours=2)),
                         DateDraft(start + dt.timedelta(days=7), start + dt.timedelta(days=7, hours=2))]
                draft = EventDraft(list_id=mailing_list.id, title=f"Benchmark event {number}", venue_name="Hall",
                                   address="1 High Street, London", postcode="E1 6AN", dates=dates, rules=rules)
                await catalogue.create_event(session, draft=draft, now=now, tz=settings.tz)
    timed_ids = []
    now = SystemClock().now()
    async with db.transaction() as session:
        for number in range(timed):
            start = now + dt.timedelta(hours=3)
            draft = EventDraft(list_id=mailing_list.id, title=f"Timed event {number}", venue_name="Hall",
                               address="1 High Street, London", postcode="E1 6AN",
                               dates=[DateDraft(start, start + dt.timedelta(hours=1))],
                               rules=parse_reminder_rules("90 minutes before to everyone"))
            event = await catalogue.create_event(session, draft=draft, now=now, tz=settings.tz)
            [reminder_id] = await reminders.reminder_ids_of(session, event_id=event.id)
            # Rules work in minutes; the benchmark wants seconds apart, so it moves the moment itself.
            due = now + dt.timedelta(seconds=lead + number * spacing)
            await session.execute(update(Reminder).where(Reminder.id == reminder_id).values(due_at=due))
            timed_ids.append(reminder_id)
    return timed_ids


async def run(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="reminders-bench-"))
    url = args.database_url or f"sqlite+aiosqlite:///{workdir}/bench.db"
    settings = Settings(_env_file=None, telegram_bot_token=TOKEN, database_url=url, organiser_ids=frozenset({1}),
                        stats_load_bundle=False)  # loading the /stats figures would skew the timings
    schema = None
    if url.startswith("postgres"):
        # A schema of its own, dropped at the end: the benchmark never touches the database's own tables.
        schema = f"bench_{uuid.uuid4().hex[:12]}"
        await create_schema(url, schema)
    db = Database.from_url(url, schema=schema)
    await db.upgrade()

    setup_started = time.perf_counter()
    timed_ids = await store_events(db, settings, count=args.events, timed=args.timed, spacing=args.spacing,
                                   lead=args.lead)
    setup_seconds = time.perf_counter() - setup_started
    async with db.transaction() as session:
        pending = len(await reminders.pending_reminders(session, limit=10**6))

    server = LocalBotApi(token=TOKEN, keep_history=True)
    await server.start()
    # The server stamps requests with the monotonic clock; this maps them to wall-clock time.
    wall_minus_monotonic = time.time() - time.monotonic()
    application = build_application(settings=settings, db=db, clock=SystemClock(), token=TOKEN, api_url=server.url)
    services = services_in(application)
    async with running(application, poll_timeout=1):
        startup = services.reminders.last_rebuild
        again = await services.reminders.rebuild()
        async with db.transaction() as session:
            last_due = await session.scalar(select(Reminder.due_at).where(Reminder.id == timed_ids[-1]))
        wait = (last_due - SystemClock().now()).total_seconds() + 3
        await asyncio.sleep(max(0.0, wait))
        await services.broadcaster.wait_until_idle(timeout=30)
        async with db.transaction() as session:
            rows = (await session.execute(select(Reminder.id, Reminder.due_at, Reminder.settled_at, Reminder.status)
                                          .where(Reminder.id.in_(timed_ids)))).all()
        await server.release_long_polls()
    await server.stop()
    await db.dispose()
    if schema is not None:
        await drop_schema(url, schema)

    due_of = {row[0]: row[1] for row in rows}
    fired_late = [(row[2] - row[1]).total_seconds() for row in rows if row[3] == "sent"]
    arrivals: dict[str, float] = {}
    for request in server.calls("sendMessage"):
        body = str(request.params.get("text", ""))
        for number in range(len(timed_ids)):
            marker = f"Timed event {number}</b>"
            if marker in body and marker not in arrivals:
                arrivals[marker] = request.at + wall_minus_monotonic
    delivered_late = []
    for number, reminder_id in enumerate(timed_ids):
        arrived = arrivals.get(f"Timed event {number}</b>")
        if arrived is not None:
            delivered_late.append(arrived - due_of[reminder_id].timestamp())

    print()
    print(f"Reminders benchmark on {db.dialect}: {args.events:,} events, {pending:,} pending reminders "
          f"(stored in {setup_seconds:.1f} s)")
    print()
    print(f"| {'measure':<48} | {'result':>12} | {'target':>8} |")
    print(f"|{'-' * 50}|{'-' * 14}|{'-' * 10}|")
    print(f"| {'start-up rebuild (jobs created)':<48} | {startup.seconds:>10.3f} s | {'< 2 s':>8} |")
    print(f"| {'  jobs scheduled at start-up':<48} | {startup.scheduled:>12,} | {'':>8} |")
    print(f"| {'second rebuild on the running bot':<48} | {again.seconds:>10.3f} s | {'< 2 s':>8} |")
    print(f"| {'timed reminders settled / expected':<48} | {len(fired_late):>5} / {len(timed_ids):<4} | {'all':>8} |")
    if fired_late:
        print(f"| {'fired late, p50':<48} | {statistics.median(fired_late):>10.3f} s | {'':>8} |")
        print(f"| {'fired late, p99':<48} | {percentile(fired_late, 0.99):>10.3f} s | {'< 1 s':>8} |")
        print(f"| {'fired late, max':<48} | {max(fired_late):>10.3f} s | {'':>8} |")
    if delivered_late:
        print(f"| {'message at the Bot API server, p50 after due':<48} | "
              f"{statistics.median(delivered_late):>10.3f} s | {'':>8} |")
        print(f"| {'message at the Bot API server, p99 after due':<48} | "
              f"{percentile(delivered_late, 0.99):>10.3f} s | {'':>8} |")
    print(f"| {'messages to the subscriber / timed reminders':<48} | {server.delivered[SUBSCRIBER]:>5} / "
          f"{len(timed_ids):<4} | {'equal':>8} |")
    print()
    if server.delivered[SUBSCRIBER] != len(timed_ids):
        print("WARNING: the subscriber did not get exactly one message per timed reminder")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temporary directory")
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--timed", type=int, default=30, help="reminders due a few seconds apart")
    parser.add_argument("--spacing", type=float, default=2.0, help="seconds between the timed reminders")
    parser.add_argument("--lead", type=float, default=8.0, help="seconds from set-up to the first timed one")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
