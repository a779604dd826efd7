"""How fast and how well /stats finds an area: every area name in the data, with typos injected.

    .venv/bin/python benchmarks/stats_lookup.py [--via core|telegram] [--rounds 3] [--database-dir DIR]

For every name an area has been published under (current and older names), the benchmark asks
/stats with the name as published, then with one deterministic typo (a letter dropped, doubled,
swapped with the next or replaced), then with two typos for names long enough to survive them.
It reports the share of queries that reached the intended area (answered directly, or offered
among the buttons to choose from) and the time per query: search, report and template
rendering, as the bot's handler does them (`--via core`, the default).

The measurement goes through a small `Asker` interface. `--via telegram` asks the real bot (the
Application of bot/app.py, polling the project's local Bot API server on loopback, as in the tests)
and times each query from the moment its update is pushed into the server to the moment the bot's
sendMessage request for it arrives there: update received to reply sent, HTTP both ways included.
It also times a few trend charts (sendPhoto) on their own, since the chart is drawn in a thread.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import html
import random
import re
import statistics
import string
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Protocol

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.app import build_application, running
from bot.handlers.callback_data import StatsChoice
from bot.local_api.server import LocalBotApi
from bot.settings import Settings
from bot.telegram_io.observing import ProcessedUpdates
from messages import render
from storage.clock import SystemClock
from storage.db import Database
from storage.iapt.answers import ChoicesAnswer
from storage.iapt.loading import ensure_iapt_figures
from storage.iapt.report import StatsDesk
from storage.iapt.stats_index import StatsIndex

SEED = 20260301
COLUMNS = ("queries", "found", "direct", "choices", "p50 ms", "p99 ms", "max ms")
TWO_TYPOS_FROM = 16  # characters; shorter names are too mangled by two typos to be fair
TOKEN = "424242:stats-benchmark"
ASKING_USER = 4242
TREND_QUERIES = ("england trend", "08V trend", "A3A8R trend", "QMF trend", "RWK53 trend", "11X trend",
                 "tower hamlets trend", "north east london icb trend")


@dataclasses.dataclass(frozen=True)
class Query:
    text: str
    intended_area_id: int
    variant: str  # "as published", "one typo", "two typos"


@dataclasses.dataclass(frozen=True)
class Outcome:
    seconds: float
    answered_area_id: int | None  # the area answered directly
    offered_area_ids: tuple[int, ...]  # the areas offered as buttons


class Asker(Protocol):
    async def ask(self, text: str) -> Outcome: ...


class CoreAsker:
    """Search, report and rendering, timed as one: what the /stats handler does between parse and send."""

    def __init__(self, desk: StatsDesk) -> None:
        self.desk = desk

    async def ask(self, text: str) -> Outcome:
        started = time.perf_counter()
        answer = await self.desk.answer(text)
        rendered = render(answer.html_template, answer=answer)
        seconds = time.perf_counter() - started
        assert rendered
        area = getattr(answer, "area", None)
        offered = tuple(a.id for a in answer.candidates) if isinstance(answer, ChoicesAnswer) else ()
        return Outcome(seconds, area.id if area is not None else None, offered)


class TelegramAsker:
    """The real bot over the local Bot API server: from the update pushed in to the reply's request arriving."""

    def __init__(self, server: LocalBotApi, processed: ProcessedUpdates, index: StatsIndex) -> None:
        self.server, self.processed = server, processed
        self.chat_id = ASKING_USER
        # Which area an answer is about, from its first line: "<b>NAME</b> · CCG 08V".
        self.area_by_name_and_code = {(area.name, area.code): area.id for area in index.areas.values()}
        self.area_by_name = {area.name: area.id for area in index.areas.values()}
        self.button = re.compile(StatsChoice.pattern)

    async def reply_to(self, text: str, method: str = "sendMessage") -> tuple[float, dict]:
        seen = len(self.server.requests)
        pushed_at = time.monotonic()
        update = self.server.user_message(ASKING_USER, text=f"/stats {text}")

        def replied() -> bool:
            return any(r.method == method and r.chat_id == self.chat_id for r in self.server.requests[seen:])

        await self.server.wait_until(replied, timeout=30)
        request = next(r for r in self.server.requests[seen:] if r.method == method and r.chat_id == self.chat_id)
        await self.processed.wait_for(update["update_id"])
        return request.at - pushed_at, request.params

    async def ask(self, text: str) -> Outcome:
        seconds, params = await self.reply_to(text)
        buttons = [b for row in (params.get("reply_markup") or {}).get("inline_keyboard", []) for b in row]
        offered: tuple[int, ...] = ()
        if params.get("text", "").startswith("Several areas match"):  # stats_choices.html, not the nearest names
            offered = tuple(int(match.group(2)) for b in buttons
                            if (match := self.button.match(b.get("callback_data", ""))) and match.group(1) == "pick")
        return Outcome(seconds, None if offered else self.answered_area(params.get("text", "")), offered)

    def answered_area(self, text: str) -> int | None:
        heading = re.match(r"<b>(.+?)</b>(?: · .* (\S+))?\n", text)
        if heading is None:
            return None
        name = html.unescape(heading.group(1))
        found = self.area_by_name_and_code.get((name, heading.group(2) or ""))
        return found if found is not None else self.area_by_name.get(name)


@asynccontextmanager
async def telegram_asker(db: Database, index: StatsIndex) -> AsyncIterator[TelegramAsker]:
    server = LocalBotApi(token=TOKEN)
    await server.start()
    # The per-person limit and the flood guard stay on, high enough that one asker is never refused.
    settings = Settings(_env_file=None, telegram_bot_token=TOKEN, stats_load_bundle=False,
                        stats_per_user_per_minute=1_000_000, flood_limit=1_000_000)
    application = build_application(settings=settings, db=db, clock=SystemClock(), token=TOKEN,
                                    api_url=server.url)
    processed = ProcessedUpdates(application)
    try:
        async with running(application, poll_timeout=1):
            yield TelegramAsker(server, processed, index)
            await server.release_long_polls()
    finally:
        await server.stop()


def typo(text: str, rng: random.Random) -> str:
    """One keyboard slip somewhere after the first letter: drop, double, swap or replace a letter."""
    positions = [i for i, c in enumerate(text) if c.isalpha() and i > 0]
    if not positions:
        return text
    i = rng.choice(positions)
    kind = rng.choice(("drop", "double", "swap", "replace"))
    if kind == "drop":
        return text[:i] + text[i + 1:]
    if kind == "double":
        return text[:i] + text[i] + text[i:]
    if kind == "swap" and i + 1 < len(text) and text[i + 1].isalpha():
        return text[:i] + text[i + 1] + text[i] + text[i + 2:]
    replacement = rng.choice([c for c in string.ascii_lowercase if c != text[i].lower()])
    return text[:i] + replacement + text[i + 1:]


def queries_for(desk_index) -> list[Query]:
    queries: list[Query] = []
    for entry in sorted(desk_index.finder.entries.values(), key=lambda e: (e.org_type, e.code)):
        for name in dict.fromkeys((entry.name, *entry.aliases)):
            rng = random.Random(f"{SEED}:{entry.org_type}:{entry.code}:{name}")
            queries.append(Query(name, entry.id, "as published"))
            queries.append(Query(typo(name, rng).lower(), entry.id, "one typo"))
            if len(name) >= TWO_TYPOS_FROM:
                queries.append(Query(typo(typo(name, rng), rng), entry.id, "two typos"))
    return queries


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def run(rounds: int, database_dir: Path, show_misses: int, via: str) -> int:
    db = Database.from_url(f"sqlite+aiosqlite:///{database_dir}/stats-benchmark.db")
    await db.upgrade()
    loading = time.perf_counter()
    loaded = await ensure_iapt_figures(db)
    if loaded is not None:
        print(f"loaded the embedded figures in {time.perf_counter() - loading:.1f} s")
    desk = StatsDesk(db)
    index = await desk.index()
    if index is None:
        print("no figures: the embedded bundle is missing", file=sys.stderr)
        return 1
    queries = queries_for(index)
    by_variant: dict[str, list[tuple[Query, Outcome]]] = {}
    trend_times: list[float] = []
    async with asker_for(via, db, desk, index) as asker:
        for query in queries[:50]:  # warm caches (templates, SQLite pages) before timing
            await asker.ask(query.text)
        for _ in range(rounds):
            for query in queries:
                by_variant.setdefault(query.variant, []).append((query, await asker.ask(query.text)))
        if isinstance(asker, TelegramAsker):
            for text in TREND_QUERIES:
                trend_times.append((await asker.reply_to(text, "sendPhoto"))[0] * 1000)
    await db.dispose()

    print(f"{len(queries)} queries over {len(index.finder.entries)} areas, {rounds} round(s), via {via}")
    header = f"{'variant':<14}" + "".join(f"{column:>9}" for column in COLUMNS)
    print(header)
    print("-" * len(header))
    everything: list[tuple[Query, Outcome]] = []
    for variant, results in by_variant.items():
        everything += results
        print(row(variant, results))
    print("-" * len(header))
    print(row("all", everything))
    if trend_times:
        print(f"trend charts (sendPhoto), {len(trend_times)} queries: p50 {statistics.median(trend_times):.0f} ms, "
              f"max {max(trend_times):.0f} ms")
    misses = [(q, o) for q, o in everything[: len(queries)] if not reached(q, o)]
    for query, outcome in misses[:show_misses]:
        answered = index.areas[outcome.answered_area_id].name if outcome.answered_area_id else "-"
        print(f"  missed: {query.text!r} meant {index.areas[query.intended_area_id].name!r}, got {answered!r}"
              f"{' or a choice of ' + str(len(outcome.offered_area_ids)) if outcome.offered_area_ids else ''}")
    return 0


@asynccontextmanager
async def asker_for(via: str, db: Database, desk: StatsDesk, index: StatsIndex) -> AsyncIterator[Asker]:
    if via == "core":
        yield CoreAsker(desk)
        return
    async with telegram_asker(db, index) as asker:
        yield asker


def reached(query: Query, outcome: Outcome) -> bool:
    return outcome.answered_area_id == query.intended_area_id or query.intended_area_id in outcome.offered_area_ids


def row(name: str, results: list[tuple[Query, Outcome]]) -> str:
    times = [o.seconds * 1000 for _, o in results]
    direct = sum(1 for q, o in results if o.answered_area_id == q.intended_area_id)
    chosen = sum(1 for q, o in results if q.intended_area_id in o.offered_area_ids)
    n = len(results)
    return (f"{name:<14}{n:>9}{(direct + chosen) / n:>9.1%}{direct / n:>9.1%}{chosen / n:>9.1%}"
            f"{statistics.median(times):>9.2f}{percentile(times, 0.99):>9.2f}{max(times):>9.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="times each query is asked (default 3)")
    parser.add_argument("--database-dir", type=Path, default=None,
                        help="keep the loaded SQLite database here (default: a temporary directory)")
    parser.add_argument("--show-misses", type=int, default=10, help="print this many missed queries")
    parser.add_argument("--via", choices=("core", "telegram"), default="core",
                        help="core: search, report and rendering; telegram: the real bot over the local Bot API server")
    args = parser.parse_args()
    if args.database_dir is not None:
        args.database_dir.mkdir(parents=True, exist_ok=True)
        return asyncio.run(run(args.rounds, args.database_dir, args.show_misses, args.via))
    with tempfile.TemporaryDirectory(prefix="stats-benchmark-") as directory:
        return asyncio.run(run(args.rounds, Path(directory), args.show_misses, args.via))


if __name__ == "__main__":
    sys.exit(main())
