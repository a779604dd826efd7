"""Two bot processes on one PostgreSQL database; the one running the scheduler is killed half-way.

    .venv/bin/python benchmarks/multiprocess.py                       # 20,000 recipients at 200/s (~2.5 minutes)
    .venv/bin/python benchmarks/multiprocess.py --recipients 2000     # a quick look (~1 minute)
    .venv/bin/python benchmarks/multiprocess.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test

Everything runs as separate processes, as in production: the project's Bot API server
(`campaign-bot local-api --delay 0.05 --limits --no-history`: 50 ms per answer, 429 beyond
Telegram's limits), process A (`campaign-bot run`, polling) and process B (`campaign-bot run
--worker`), both with PAID_BROADCAST=true and BROADCAST_RATE=200 on a database of the
benchmark's own (`bench_multiprocess_<random>`, created on the server of --database-url and
dropped at the end).

The set-up: `recipients` private chats on the list "national"; a separate set of chats
(--event-chats, 200) on the list "events"; five events on "events" imported with `campaign-bot
events import`, each with the rule "90 minutes before to everyone". The YAML format has minute
precision, so the benchmark moves each reminder's due time (`reminders.due_at`) to a planned
second of the run, as benchmarks/reminders.py does: two fall due in the alert's first half (set
before A starts, so A's scheduler has jobs for them); the other three are moved at the moment of
the kill, to 2 s later (while nobody holds the scheduler lease) and to two moments after the
lease has moved, so only the survivor, reading the database when it takes over, can send them.

The run: A starts and takes the scheduler lease, then B starts; `campaign-bot broadcast send
--list national` queues the alert; when the server has accepted about half of it and no
reminder is being delivered (a reminder's deliveries in flight would come back as duplicates
like the alert's, which is not what the reminder count is about), A is killed with SIGKILL; the
benchmark polls the `leases` table every 0.1 s until B holds the scheduler lease; it waits until
the alert is done and every reminder sent, and stops B with SIGINT. With --scheduled the alert
is queued a few seconds ahead (`broadcast send --at`), so both engines begin it at the same moment.

It reports, from the server's counts (the truth of what arrived) and the database:
- deliveries lost: chats on "national" that got nothing (target 0);
- duplicates: messages beyond the first to a "national" chat; target: at most the number of
  deliveries the killed process had claimed and not recorded (its in-flight ones, read from
  `deliveries.claimed_by` right after the kill), and at most the broadcast's
  `possible_duplicates` (what the bot reports);
- reminders sent twice to a chat (target 0), and reminder messages missing (target 0);
- the busiest second at the server against the configured rate (never above it);
- seconds from the kill until the scheduler lease is B's.
The table goes to standard output; the exit status is 1 if a target was missed, 2 if the run
itself failed (a process died, a time limit passed). Logs of every process stay in a temporary
directory, printed at the start.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import yaml
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from storage.db import normalise_database_url  # noqa: E402
from storage.leases import LEASE_TTL, RENEW_EVERY  # noqa: E402

CAMPAIGN_BOT = str(Path(sys.executable).parent / "campaign-bot")
DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
TOKEN = "123:bench"
TIMEZONE = "Europe/London"
SERVER_DELAY = 0.05
ALERT = "Lobby your MP on Thursday: waiting lists for NHS Talking Therapies are growing."
# Telegram ids of the chats: each set in a range of its own, so the server's counts say whose they are.
NATIONAL_BASE = 1_000_000_000
EVENTS_BASE = 2_000_000_000
ORGANISER_ID = 999  # in ORGANISER_IDS, on no list: gets reports of missed reminders, if any
EVENTS = 5
# The scheduler lease as bot/engines/leadership.py has it, for the reader of the table.
LEASE_NOTE = f"lease TTL {LEASE_TTL.total_seconds():g} s, renewed every {RENEW_EVERY:g} s"
POLL = 0.1
# With --scheduled, how far ahead the alert is queued: beyond the engines' 5 s look at the database.
SCHEDULED_AHEAD = 8.0


class RunFailed(Exception):
    """The run could not be carried out (as opposed to a target missed)."""


# ------------------------------------------------------------------ processes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Child:
    """One process of ours, its output in a log file. In a session of its own, so a Ctrl-C in the
    terminal reaches only the benchmark, which then stops its children itself."""

    def __init__(self, name: str, argv: list[str], *, env: dict[str, str], workdir: Path) -> None:
        self.name = name
        self.log_path = workdir / f"{name}.log"
        self._log = open(self.log_path, "ab")
        self.process = subprocess.Popen(argv, env=env, cwd=workdir, stdin=subprocess.DEVNULL, stdout=self._log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        self.pid = self.process.pid

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL, and reap it."""
        if self.alive:
            os.kill(self.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGINT (a clean stop), then SIGKILL if it has not stopped within `timeout`. Its exit status."""
        if self.alive:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if not self._log.closed:
            self._log.close()
        return self.process.returncode

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


async def cli(env: dict[str, str], workdir: Path, *args: str, timeout: float = 120.0) -> str:
    """Runs `campaign-bot ARGS` to the end; its output, or RunFailed with it."""
    process = await asyncio.create_subprocess_exec(CAMPAIGN_BOT, *args, env=env, cwd=workdir,
                                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                                   stderr=subprocess.STDOUT)
    try:
        output, _ = await asyncio.wait_for(process.communicate(), timeout)
    except BaseException:
        if process.returncode is None:
            process.kill()
            await process.wait()
        raise
    if process.returncode != 0:
        raise RunFailed(f"`campaign-bot {' '.join(args)}` failed ({process.returncode}):\n"
                        f"{output.decode(errors='replace')}")
    return output.decode(errors="replace")


class ApiServer:
    """The control routes of the local Bot API server."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self._http: aiohttp.ClientSession | None = None

    async def stats(self, *, counts: bool = False) -> dict:
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        async with self._http.get(f"{self.url}/_control/stats", params={"counts": "1"} if counts else {}) as answer:
            answer.raise_for_status()
            return await answer.json()

    async def wait_ready(self, child: Child, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not child.alive:
                raise RunFailed(f"the Bot API server exited at start-up:\n{child.tail()}")
            try:
                await self.stats()
                return
            except (aiohttp.ClientError, OSError):
                await asyncio.sleep(0.1)
        raise RunFailed("the Bot API server did not answer within 30 s")

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()


# ------------------------------------------------------------------ the database


def with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


async def admin(url: str, statement: str) -> None:
    """One statement outside a transaction (CREATE/DROP DATABASE), on the server of `url`."""
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


async def drop_database(admin_url: str, name: str) -> None:
    try:
        # PostgreSQL 13+: ends whatever sessions are left (a killed process's may linger a moment).
        await admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except DBAPIError:
        await admin(admin_url, f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
        await admin(admin_url, f'DROP DATABASE IF EXISTS "{name}"')


class Queries:
    """What the benchmark reads and writes in the bot's database, in plain SQL on its tables."""

    def __init__(self, url: str) -> None:
        self.engine: AsyncEngine = create_async_engine(url, pool_size=2, max_overflow=2)

    async def rows(self, sql: str, **params) -> list:
        async with self.engine.connect() as connection:
            return list((await connection.execute(text(sql), params)).all())

    async def scalar(self, sql: str, **params):
        async with self.engine.connect() as connection:
            return (await connection.execute(text(sql), params)).scalar()

    async def execute(self, sql: str, **params) -> None:
        async with self.engine.begin() as connection:
            await connection.execute(text(sql), params)

    async def fill_list(self, *, slug: str, base: int, count: int) -> None:
        """`count` private chats, Telegram ids base+1 .. base+count, on the list `slug`."""
        async with self.engine.begin() as connection:
            list_id = (await connection.execute(text("SELECT id FROM mailing_lists WHERE slug = :slug"),
                                                {"slug": slug})).scalar_one()
            await connection.execute(text(
                "INSERT INTO chats (telegram_id, kind, active, first_seen_at) "
                "SELECT CAST(:base AS bigint) + n, 'private', true, now() FROM generate_series(1, :count) AS n"),
                {"base": base, "count": count})
            await connection.execute(text(
                "INSERT INTO subscriptions (chat_id, list_id, subscribed_at) "
                "SELECT id, :list_id, now() FROM chats "
                "WHERE telegram_id > CAST(:base AS bigint) AND telegram_id <= CAST(:base AS bigint) + :count"),
                {"list_id": list_id, "base": base, "count": count})

    async def lease_holder(self, name: str) -> str | None:
        return await self.scalar("SELECT holder FROM leases WHERE name = :name AND expires_at > now()", name=name)

    async def worker_holders(self) -> list[str]:
        rows = await self.rows("SELECT holder FROM leases WHERE name LIKE 'worker:%' AND expires_at > now()")
        return [row[0] for row in rows]

    async def reminders(self) -> list:
        """(id, event key, due_at, status, settled_at) of every reminder, by event key."""
        return await self.rows(
            "SELECT r.id, e.key, r.due_at, r.status, r.settled_at FROM reminders r "
            "JOIN event_dates d ON d.id = r.event_date_id JOIN events e ON e.id = d.event_id ORDER BY e.key, r.id")

    async def claimed_at_kill(self, holder: str) -> tuple[int, int, bool]:
        """(alert, reminders): deliveries claimed by `holder` and not recorded; and whether claims
        could be told apart by process (`deliveries.claimed_by`) or are every process's together."""
        exact = True
        try:
            rows = await self.rows(
                "SELECT b.origin_key IS NULL, count(*) FROM deliveries d JOIN broadcasts b ON b.id = d.broadcast_id "
                "WHERE d.status = 'sending' AND d.claimed_by = :holder GROUP BY 1", holder=holder)
        except DBAPIError:  # no claimed_by column: every process's claims together
            exact = False
            rows = await self.rows(
                "SELECT b.origin_key IS NULL, count(*) FROM deliveries d JOIN broadcasts b ON b.id = d.broadcast_id "
                "WHERE d.status = 'sending' GROUP BY 1")
        counted = {bool(row[0]): int(row[1]) for row in rows}
        return counted.get(True, 0), counted.get(False, 0), exact

    async def dispose(self) -> None:
        await self.engine.dispose()


def pid_of(holder: str | None) -> int | None:
    """The process id inside a lease holder's name (host:pid:hex)."""
    if not holder:
        return None
    parts = holder.rsplit(":", 2)
    try:
        return int(parts[-2]) if len(parts) == 3 else None
    except ValueError:
        return None


# ------------------------------------------------------------------ the plan


def early_offsets(duration: float) -> list[float]:
    """Seconds after the alert is queued at which the first reminders fall due, well before half-way."""
    return [0.2 * duration, 0.4 * duration]


def late_offsets(duration: float) -> list[float]:
    """Seconds after the kill at which the other reminders fall due: one while nobody holds the
    scheduler lease yet (it runs out 6 s after the last renewal), the others once it has moved."""
    return [2.0, max(15.0, 0.2 * duration), max(25.0, 0.4 * duration)]


def events_file(now: dt.datetime, tz: ZoneInfo) -> str:
    """EVENTS events on "events", three hours ahead, each reminded 90 minutes before (due times are
    moved afterwards; the file itself has minute precision)."""
    first = (now + dt.timedelta(hours=3)).astimezone(tz).replace(second=0, microsecond=0)
    entries = []
    for number in range(1, EVENTS + 1):
        start = first + dt.timedelta(minutes=10 * number)
        entries.append({
            "key": f"bench-{number:02d}", "list": "events", "title": f"Benchmark meeting {number}",
            "venue": "Conway Hall", "address": "25 Red Lion Square, London", "postcode": "WC1R 4RL",
            "reminders": ["90 minutes before to everyone"],
            "dates": [{"start": start.strftime("%Y-%m-%d %H:%M"),
                       "end": (start + dt.timedelta(hours=1)).strftime("%Y-%m-%d %H:%M")}],
        })
    return yaml.safe_dump({"events": entries}, sort_keys=False)


# ------------------------------------------------------------------ the run


@dataclasses.dataclass
class Observed:
    recipients: int = 0
    rate: float = 0.0
    broadcast_id: int | None = None
    holder_a: str | None = None
    holder_b: str | None = None
    queued_at: float | None = None  # monotonic
    first_message_at: float | None = None
    killed_at: float | None = None
    killed_wall: dt.datetime | None = None
    takeover_wall: dt.datetime | None = None
    sent_at_kill: int = 0
    in_flight_alert: int | None = None
    in_flight_reminders: int | None = None
    in_flight_exact: bool = True
    takeover_seconds: float | None = None
    requeue_seconds: float | None = None
    done_at: float | None = None
    b_exit: int | None = None
    reminders: list = dataclasses.field(default_factory=list)
    broadcast_row: dict = dataclasses.field(default_factory=dict)
    reminder_broadcasts: list = dataclasses.field(default_factory=list)
    alert_statuses: dict = dataclasses.field(default_factory=dict)
    server: dict = dataclasses.field(default_factory=dict)
    # (monotonic time, messages the server had accepted), every POLL seconds from the queueing on.
    samples: list[tuple[float, int]] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)


class Run:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.deadline = time.monotonic() + args.timeout
        self.admin_url = normalise_database_url(args.database_url)
        self.database = f"bench_multiprocess_{secrets.token_hex(5)}"
        self.url = with_database(self.admin_url, self.database)
        self.children: list[Child] = []
        self.server: ApiServer | None = None
        self.db: Queries | None = None
        self.database_created = False
        self.sampler: asyncio.Future | None = None
        self.late_ids: list[int] = []
        self.seen = Observed(recipients=args.recipients, rate=args.rate)

    # -------------------------------------------------------------- helpers

    def remaining(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise RunFailed(f"the run took longer than --timeout {self.args.timeout:.0f} s")
        return left

    def env(self, api_url: str) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if key != "VIRTUAL_ENV"}
        env.update({
            "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": api_url, "DATABASE_URL": self.url,
            "PAID_BROADCAST": "true", "BROADCAST_RATE": str(self.args.rate), "ORGANISER_IDS": str(ORGANISER_ID),
            "STATS_LOAD_BUNDLE": "false", "TIMEZONE": TIMEZONE, "PYTHONUNBUFFERED": "1",
        })
        return env

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> Child:
        child = Child(name, argv, env=env, workdir=self.workdir)
        self.children.append(child)
        return child

    def check_alive(self, *children: Child) -> None:
        for child in children:
            if not child.alive:
                raise RunFailed(f"{child.name} (pid {child.pid}) exited ({child.process.returncode}) "
                                f"unexpectedly; the end of {child.log_path}:\n{child.tail()}")

    async def wait_for(self, what: str, condition, *, timeout: float, watch: tuple[Child, ...] = ()):
        """Polls `condition()` (async) every POLL seconds until it returns something true."""
        limit = time.monotonic() + min(timeout, self.remaining())
        while True:
            self.check_alive(*watch)
            found = await condition()
            if found:
                return found
            if time.monotonic() > limit:
                self.remaining()
                raise RunFailed(f"{what}: not within {timeout:.0f} s")
            await asyncio.sleep(POLL)

    # -------------------------------------------------------------- the steps

    async def execute(self) -> Observed:
        args, seen = self.args, self.seen
        print(f"Logs of every process: {self.workdir}")
        await admin(self.admin_url, f'CREATE DATABASE "{self.database}"')
        self.database_created = True
        print(f"Database: {self.database} (dropped at the end)")

        port = free_port()
        server_child = self.start("api-server", [CAMPAIGN_BOT, "local-api", "--port", str(port), "--delay",
                                                 str(SERVER_DELAY), "--limits", "--no-history"], dict(os.environ))
        self.server = ApiServer(port)
        await self.server.wait_ready(server_child)
        env = self.env(self.server.url)

        await cli(env, self.workdir, "db", "upgrade", timeout=self.remaining())
        await cli(env, self.workdir, "lists", "create", "national", "--title", "National alerts",
                  timeout=self.remaining())
        await cli(env, self.workdir, "lists", "create", "events", "--title", "Local meetings",
                  timeout=self.remaining())
        self.db = Queries(self.url)
        started = time.perf_counter()
        await self.db.fill_list(slug="national", base=NATIONAL_BASE, count=args.recipients)
        await self.db.fill_list(slug="events", base=EVENTS_BASE, count=args.event_chats)
        print(f"Subscribers: {args.recipients:,} on national, {args.event_chats:,} on events "
              f"({time.perf_counter() - started:.1f} s)")

        events_path = self.workdir / "events.yaml"
        events_path.write_text(events_file(dt.datetime.now(dt.UTC), ZoneInfo(TIMEZONE)), encoding="utf-8")
        await cli(env, self.workdir, "events", "import", str(events_path), timeout=self.remaining())
        planned = [row for row in await self.db.reminders() if row[3] == "pending"]
        if len(planned) != EVENTS:
            raise RunFailed(f"expected {EVENTS} pending reminders after the import, found {len(planned)}")

        # The alert is queued once both processes are up: `startup_allowance` seconds from now. The
        # first reminders are due during its first half; the others stay hours away until the kill.
        duration = args.recipients / args.rate
        queue_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=args.startup_allowance)
        early = early_offsets(duration)
        for (reminder_id, *_), offset in zip(planned, early, strict=False):
            await self.db.execute("UPDATE reminders SET due_at = :due WHERE id = :id",
                                  due=queue_at + dt.timedelta(seconds=offset), id=reminder_id)
        self.late_ids = [row[0] for row in planned[len(early):]]
        print(f"Reminders: {EVENTS} x {args.event_chats} chats; due "
              f"{', '.join(f'{offset:.0f}' for offset in early)} s after the alert is queued, and "
              f"{', '.join(f'{offset:.0f}' for offset in late_offsets(duration))} s after the kill")

        a = self.start("process-A", [CAMPAIGN_BOT, "run", *(["--worker"] if args.killed == "worker" else [])], env)

        async def a_holds_scheduler():
            holder = await self.db.lease_holder("scheduler")
            return holder if pid_of(holder) == a.pid else None

        seen.holder_a = await self.wait_for("process A taking the scheduler lease", a_holds_scheduler, timeout=90,
                                            watch=(a,))
        b = self.start("process-B", [CAMPAIGN_BOT, "run", *(["--worker"] if args.killed != "worker" else [])], env)

        async def b_is_up():
            return next((h for h in await self.db.worker_holders() if pid_of(h) == b.pid), None)

        seen.holder_b = await self.wait_for("process B starting (its worker lease)", b_is_up, timeout=90,
                                            watch=(a, b))
        print(f"Process A: pid {a.pid} ({'worker' if args.killed == 'worker' else 'polling'}), scheduler "
              f"{seen.holder_a}; log {a.log_path.name}")
        print(f"Process B: pid {b.pid} ({'polling' if args.killed == 'worker' else 'worker'}); log {b.log_path.name}")

        wait = (queue_at - dt.datetime.now(dt.UTC)).total_seconds()
        if wait > 0:
            await asyncio.sleep(wait)
        else:
            seen.notes.append(f"the processes took {-wait:.1f} s longer to start than --startup-allowance "
                              f"{args.startup_allowance:.0f} s: the reminders fell due that much earlier in the "
                              "broadcast than planned")
        at_option = []
        if args.scheduled:
            # Both engines sleep until a scheduled broadcast is due, so both start it at the same moment.
            at_option = ["--at", (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=SCHEDULED_AHEAD)).isoformat()]
        await cli(env, self.workdir, "broadcast", "send", "--list", "national", "--text", ALERT, *at_option,
                  timeout=self.remaining())
        seen.queued_at = time.monotonic()
        seen.broadcast_id = await self.db.scalar(
            "SELECT id FROM broadcasts WHERE origin_key IS NULL ORDER BY id DESC LIMIT 1")
        print(f"Alert queued: broadcast {seen.broadcast_id}; A is killed when the server has about "
              f"{args.recipients // 2:,} of it")

        self.sampler = sampler = asyncio.ensure_future(self.sample_server())
        try:
            await self.until_half_way(a, b)
            a.kill()
            seen.killed_at = time.monotonic()
            seen.killed_wall = dt.datetime.now(dt.UTC)
            alert, reminders, exact = await self.db.claimed_at_kill(seen.holder_a)
            # Nobody has a job for these: the survivor must find them in the database when it takes over.
            for reminder_id, offset in zip(self.late_ids, late_offsets(args.recipients / args.rate), strict=True):
                await self.db.execute("UPDATE reminders SET due_at = :due WHERE id = :id",
                                      due=seen.killed_wall + dt.timedelta(seconds=offset), id=reminder_id)
            seen.in_flight_alert, seen.in_flight_reminders, seen.in_flight_exact = alert, reminders, exact
            print(f"Killed A (SIGKILL) with {seen.sent_at_kill:,} messages at the server; it had {alert} alert "
                  f"and {reminders} reminder deliveries claimed and not recorded")
            await self.until_finished(b)
        finally:
            sampler.cancel()
            await asyncio.gather(sampler, return_exceptions=True)
        self.write_samples()
        seen.b_exit = b.stop()
        if seen.b_exit not in (0, None):
            seen.notes.append(f"process B exited with status {seen.b_exit} after SIGINT (see {b.log_path})")
        await self.collect()
        return seen

    def write_samples(self) -> None:
        """The server's count every POLL seconds, for a look at the pace around the kill."""
        seen = self.seen
        path = self.workdir / "server-counts.csv"
        lines = ["seconds_after_queueing,seconds_after_kill,messages_accepted"]
        lines += [f"{moment - seen.queued_at:.2f},{moment - seen.killed_at:.2f},{count}"
                  for moment, count in seen.samples]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        print(f"The server's counts every {POLL} s: {path}")

    async def sample_server(self) -> None:
        """Notes how many messages the server has accepted, every POLL seconds, until cancelled."""
        seen = self.seen
        while True:
            stats = await self.server.stats()
            now = time.monotonic()
            seen.samples.append((now, stats["sent_total"]))
            if seen.first_message_at is None and stats["sent_total"] > 0:
                seen.first_message_at = now
            await asyncio.sleep(POLL)

    async def until_half_way(self, a: Child, b: Child) -> None:
        """Polls until the server has accepted half of the alert (reminder messages excluded) and no
        reminder is being delivered or about to be: the kill tests the scheduler's move, and a
        reminder's deliveries in flight would come back as duplicates like the alert's."""
        seen, half = self.seen, self.args.recipients // 2
        half_way_at = None
        while True:
            self.remaining()
            self.check_alive(a, b)
            if self.sampler.done():
                raise RunFailed(f"could not read the server's counts: {self.sampler.exception()!r}")
            sent = seen.samples[-1][1] if seen.samples else 0
            fired, sending, imminent = (await self.db.rows(
                "SELECT (SELECT count(*) FROM reminders WHERE status = 'sent'), "
                "(SELECT count(*) FROM broadcasts WHERE origin_key IS NOT NULL AND status = 'sending'), "
                "(SELECT count(*) FROM reminders WHERE status = 'pending' AND due_at < now() + interval '2 seconds')"
            ))[0]
            # A reminder fired is counted as delivered to all its chats: the kill comes no earlier than half-way.
            if sent - fired * self.args.event_chats >= half:
                half_way_at = half_way_at or time.monotonic()
                if not sending and not imminent:
                    seen.sent_at_kill = sent
                    return
                if time.monotonic() - half_way_at > 30:
                    seen.notes.append("a reminder was still being delivered 30 s after half-way; killed anyway")
                    seen.sent_at_kill = sent
                    return
            if time.monotonic() - seen.queued_at > 60 + self.args.recipients / 2:
                raise RunFailed(f"the alert did not get half-way ({sent} messages at the server)")
            await asyncio.sleep(POLL / 2)

    async def until_finished(self, b: Child) -> None:
        """Watches the scheduler lease every POLL seconds until B holds it, and waits until the alert
        is done and every reminder is sent and delivered."""
        seen, db = self.seen, self.db
        last_due = max(row[2] for row in await db.reminders())
        expected = self.args.recipients / self.args.rate
        limit = time.monotonic() + 120 + 3 * expected
        ticks = 0
        while True:
            self.remaining()
            self.check_alive(b)
            if time.monotonic() > limit:
                seen.notes.append(f"gave up waiting {limit - seen.killed_at:.0f} s after the kill: the alert or a "
                                  "reminder was not finished, or the scheduler never moved")
                break
            if seen.takeover_seconds is None:
                holder = await db.lease_holder("scheduler")
                if pid_of(holder) == b.pid:
                    seen.takeover_seconds = time.monotonic() - seen.killed_at
                    seen.takeover_wall = dt.datetime.now(dt.UTC)
                    print(f"Scheduler lease taken over by B {seen.takeover_seconds:.1f} s after the kill")
            if seen.requeue_seconds is None and seen.in_flight_exact and (seen.in_flight_alert
                                                                          or seen.in_flight_reminders):
                left = await db.scalar("SELECT count(*) FROM deliveries WHERE status = 'sending' "
                                       "AND claimed_by = :holder", holder=seen.holder_a)
                if left == 0:
                    seen.requeue_seconds = time.monotonic() - seen.killed_at
            ticks += 1
            if ticks % 5 == 0:
                status = await db.scalar("SELECT status FROM broadcasts WHERE id = :id", id=seen.broadcast_id)
                if status in ("cancelled", "paused"):
                    raise RunFailed(f"the alert is {status}")
                if status == "done" and seen.done_at is None:
                    seen.done_at = time.monotonic()
                pending = await db.scalar("SELECT count(*) FROM reminders WHERE status = 'pending'")
                unfinished = await db.scalar("SELECT count(*) FROM broadcasts WHERE origin_key IS NOT NULL "
                                             "AND status NOT IN ('done', 'cancelled')")
                if (status == "done" and pending == 0 and unfinished == 0 and seen.takeover_seconds is not None
                        and dt.datetime.now(dt.UTC) > last_due):
                    break
            await asyncio.sleep(POLL)
        # Nothing should arrive once everything is recorded as done; make sure nothing does for a moment.
        before = (await self.server.stats())["sent_total"]
        await asyncio.sleep(2.0)
        after = (await self.server.stats())["sent_total"]
        if after != before:
            seen.notes.append(f"{after - before} messages arrived after everything was recorded as done")

    async def collect(self) -> None:
        seen, db = self.seen, self.db
        seen.server = await self.server.stats(counts=True)
        seen.reminders = await db.reminders()
        row = (await db.rows("SELECT recipients, sent_count, possible_duplicates, status, started_at, finished_at "
                             "FROM broadcasts WHERE id = :id", id=seen.broadcast_id))[0]
        seen.broadcast_row = dict(zip(("recipients", "sent", "possible_duplicates", "status", "started_at",
                                       "finished_at"), row, strict=True))
        seen.alert_statuses = {status: count for status, count in await db.rows(
            "SELECT status, count(*) FROM deliveries WHERE broadcast_id = :id GROUP BY status", id=seen.broadcast_id)}
        seen.reminder_broadcasts = await db.rows(
            "SELECT origin_key, status, recipients, sent_count, possible_duplicates FROM broadcasts "
            "WHERE origin_key IS NOT NULL ORDER BY id")

    async def clean_up(self) -> None:
        for child in reversed(self.children):
            try:
                child.stop(timeout=20)
            except Exception as problem:  # keep cleaning up
                print(f"could not stop {child.name} (pid {child.pid}): {problem}", file=sys.stderr)
        if self.server is not None:
            await self.server.close()
        if self.db is not None:
            await self.db.dispose()
        if self.database_created:
            try:
                await drop_database(self.admin_url, self.database)
            except Exception as problem:
                print(f"could not drop the database {self.database}: {problem}", file=sys.stderr)


# ------------------------------------------------------------------ the report


@dataclasses.dataclass
class Line:
    measure: str
    result: str
    target: str = ""
    ok: bool | None = None  # None: reported, not a target


def busiest_polled_second(samples: list[tuple[float, int]]) -> tuple[int, float | None]:
    """From the polled counts: the most messages accepted between two samples at most 1 s apart, and
    when the later sample was taken. A lower bound of the server's own figure, but it says when."""
    best, when, start = 0, None, 0
    for moment, count in samples:
        while moment - samples[start][0] > 1.0:
            start += 1
        if count - samples[start][1] > best:
            best, when = count - samples[start][1], moment
    return best, when


def assess(seen: Observed, args: argparse.Namespace) -> list[Line]:
    delivered = {int(chat): count for chat, count in seen.server.get("delivered", {}).items()}
    national = range(NATIONAL_BASE + 1, NATIONAL_BASE + args.recipients + 1)
    event_chats = range(EVENTS_BASE + 1, EVENTS_BASE + args.event_chats + 1)
    lost = sum(1 for chat in national if delivered.get(chat, 0) == 0)
    duplicates = sum(delivered[chat] - 1 for chat in national if delivered.get(chat, 0) > 1)
    reminders_sent = sum(1 for row in seen.reminders if row[3] == "sent")
    twice = sum(max(0, delivered.get(chat, 0) - reminders_sent) for chat in event_chats)
    missing = sum(max(0, reminders_sent - delivered.get(chat, 0)) for chat in event_chats)
    elsewhere = sum(count for chat, count in delivered.items() if chat not in national and chat not in event_chats)
    reported = seen.broadcast_row.get("possible_duplicates", 0)
    in_flight = seen.in_flight_alert or 0
    bound = "claimed by A" if seen.in_flight_exact else "claimed by A and B"
    busiest = seen.server.get("busiest_second", 0)
    polled, polled_at = busiest_polled_second(seen.samples)
    when = "-" if polled_at is None else f"{polled_at - seen.killed_at:+.1f} s"
    late = [(row[4] - row[2]).total_seconds() for row in seen.reminders if row[3] == "sent" and row[4] is not None]
    moved = seen.takeover_wall or dt.datetime.max.replace(tzinfo=dt.UTC)
    before = sum(1 for row in seen.reminders if row[2] <= seen.killed_wall)
    gap = sum(1 for row in seen.reminders if seen.killed_wall < row[2] <= moved)
    after = len(seen.reminders) - before - gap
    lines = [
        Line("alert deliveries lost (chats with no message)", f"{lost:,}", "0", lost == 0),
        Line("alert duplicates (messages beyond the first)", f"{duplicates:,}", f"<= {in_flight} in flight",
             duplicates <= in_flight),
        Line(f"  in flight at the kill ({bound}, not recorded)", f"{in_flight:,}", "reported"),
        Line("  possible duplicates the bot reported", f"{reported:,}", ">= duplicates", duplicates <= reported),
        Line("  seconds from the kill until they were requeued",
             "-" if seen.requeue_seconds is None else f"{seen.requeue_seconds:.1f} s", "reported"),
        Line("reminders sent / planned", f"{reminders_sent} / {len(seen.reminders)}", "all",
             reminders_sent == len(seen.reminders) == EVENTS),
        Line("  due before the kill / before the takeover / after", f"{before} / {gap} / {after}", "reported"),
        Line("  fired late at most (settled_at - due_at)", f"{max(late):.1f} s" if late else "-", "reported"),
        Line("  reminder deliveries in flight at the kill", f"{seen.in_flight_reminders or 0}", "reported"),
        Line("reminder messages sent twice to a chat", f"{twice:,}", "0", twice == 0),
        Line("reminder messages missing", f"{missing:,}", "0", missing == 0),
        Line("busiest 1-second window at the server", f"{busiest} msg", f"<= {args.rate:g}", busiest <= args.rate),
        Line("  busiest second in 0.1 s polls, seconds after the kill", f"{polled} msg at {when}", "reported"),
        Line("seconds from the kill to B holding the scheduler",
             "never" if seen.takeover_seconds is None else f"{seen.takeover_seconds:.1f} s", LEASE_NOTE,
             seen.takeover_seconds is not None),
        Line("429 answers from the server", f"{seen.server.get('answered_429', 0):,}", "reported"),
    ]
    if elsewhere:
        lines.append(Line("other messages (reports to the organiser)", f"{elsewhere}", "reported"))
    if seen.first_message_at is not None and seen.done_at is not None:
        span = seen.done_at - seen.first_message_at
        lines.append(Line("alert: first message to done", f"{span:.1f} s",
                          f"{args.recipients / args.rate:.0f} s at {args.rate:g}/s"))
    return lines


def print_table(lines: list[Line], seen: Observed, args: argparse.Namespace, seconds: float) -> None:
    width = max(len(line.measure) for line in lines)
    results = max(12, *(len(line.result) for line in lines))
    targets = max(8, *(len(line.target) for line in lines))
    print()
    print(f"Two processes, one killed: {args.recipients:,} recipients at {args.rate:g}/s (paid), "
          f"{EVENTS} reminders x {args.event_chats} chats, PostgreSQL; {seconds:.0f} s in all")
    print()
    print(f"| {'measure':<{width}} | {'result':>{results}} | {'target':<{targets}} | ok   |")
    print(f"|{'-' * (width + 2)}|{'-' * (results + 2)}|{'-' * (targets + 2)}|------|")
    for line in lines:
        mark = "" if line.ok is None else ("yes" if line.ok else "NO")
        print(f"| {line.measure:<{width}} | {line.result:>{results}} | {line.target:<{targets}} | {mark:<4} |")
    print()
    row = seen.broadcast_row
    if row:
        statuses = ", ".join(f"{status} {count:,}" for status, count in sorted(seen.alert_statuses.items()))
        print(f"Alert in the database: {row['status']}, {row['sent']:,} sent of {row['recipients']:,} "
              f"(deliveries: {statuses}), possible_duplicates {row['possible_duplicates']}")
    for origin, status, recipients, sent, possible in seen.reminder_broadcasts:
        print(f"  {origin}: {status}, {sent}/{recipients} sent, possible_duplicates {possible}")
    for note in seen.notes:
        print(f"Note: {note}")


# ------------------------------------------------------------------ main


async def main(args: argparse.Namespace) -> int:
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="multiprocess-bench-"))
    run = Run(args, workdir)
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, task.cancel)
    failure = None
    try:
        seen = await run.execute()
    except RunFailed as problem:
        failure = str(problem)
        seen = run.seen
    except Exception:
        failure = "an error in the benchmark or a process it talks to:\n" + traceback.format_exc()
        seen = run.seen
    finally:
        await run.clean_up()
    if failure is not None:
        print(f"\nThe run failed: {failure}", file=sys.stderr)
        print(f"Logs: {workdir}", file=sys.stderr)
        return 2
    lines = assess(seen, args)
    print_table(lines, seen, args, time.monotonic() - started)
    missed = [line.measure.strip() for line in lines if line.ok is False]
    if missed:
        print(f"Targets missed: {'; '.join(missed)}")
        return 1
    print("Every target met.")
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipients", type=int, default=20_000, help="chats on the alert's list (default 20000)")
    parser.add_argument("--rate", type=float, default=200.0,
                        help="BROADCAST_RATE, messages a second (paid broadcasts; default 200)")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL,
                        help="a PostgreSQL database to connect to; the benchmark creates and drops a database of "
                             f"its own on that server (default {DEFAULT_DATABASE_URL})")
    parser.add_argument("--event-chats", type=int, default=200, help="chats on the reminders' list (default 200)")
    parser.add_argument("--killed", choices=("poller", "worker"), default="poller",
                        help="which process is started first, holds the scheduler and is killed: `run` (default) "
                             "or `run --worker`")
    parser.add_argument("--scheduled", action="store_true",
                        help=f"queue the alert with --at, {SCHEDULED_AHEAD:.0f} s ahead, instead of at once: both "
                             "processes then begin it at the same moment")
    parser.add_argument("--startup-allowance", type=float, default=12.0,
                        help="seconds from planning the reminders to queueing the alert, for both processes to "
                             "start (default 12)")
    parser.add_argument("--timeout", type=float, default=900.0, help="the whole run at most (default 900 s)")
    args = parser.parse_args(argv)
    if not make_url(normalise_database_url(args.database_url)).drivername.startswith("postgresql"):
        parser.error("--database-url must be a PostgreSQL URL")
    if args.recipients < 2 or args.event_chats < 1 or args.rate <= 0:
        parser.error("--recipients >= 2, --event-chats >= 1 and --rate > 0, please")
    return args


if __name__ == "__main__":
    # Started in the background by a shell, SIGINT arrives ignored, and the children would inherit
    # that and ignore the SIGINT that stops them cleanly: give it its usual meaning back.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        sys.exit(asyncio.run(main(parse_args())))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted; child processes stopped and the database dropped", file=sys.stderr)
        sys.exit(130)
