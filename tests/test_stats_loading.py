"""Loading the bundled figures at first start: in short transactions that let other writers in,
one process at a time, resumed (or redone) after a crash, and /stats saying "loading" until the
last figure is in.

The bundles here are cut from the shipped one (England and Tower Hamlets CCG only, some
thousands of figures), so that each test loads in a moment while still taking many transactions.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gzip
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from messages import render
from storage.iapt.answers import NoFiguresAnswer
from storage.iapt.bundle import BUNDLE_PATH, read_bundle
from storage.iapt.loading import LEASE_TTL, BundleLoader, LoadHeldElsewhere, wall_clock
from storage.iapt.report import StatsDesk
from storage.iapt.tables import IaptDataset, IaptFigure, dataset_complete
from tests.builders import make_list
from tests.conftest import bot_running

FIGURES_PER_TRANSACTION = 500


class Crash(Exception):
    """The process dies between two transactions of its load."""


def cut_bundle(out: Path, areas: set[tuple[str, str]]) -> Path:
    """The shipped bundle with only the rows of `areas` in its tables."""
    with gzip.open(BUNDLE_PATH, "rb") as handle:
        document = json.loads(handle.read())
    keep = {i for i, (org_type, code, _names) in enumerate(document["areas"]) if (org_type, code) in areas}
    for table in document["tables"]:
        table["rows"] = [row for row in table["rows"] if row[0] in keep]
    with gzip.open(out, "wb") as handle:
        handle.write(json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode())
    return out


@pytest.fixture(scope="module")
def bundles(tmp_path_factory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("bundles")
    return {"england and 08V": cut_bundle(directory / "two-areas.json.gz", {("England", "All"), ("CCG", "08V")}),
            "england": cut_bundle(directory / "england.json.gz", {("England", "All")})}


@pytest.fixture(scope="module")
def expected(bundles) -> dict[str, dict[str, tuple[str, int]]]:
    """Per bundle: each dataset's (content hash, figure count) once loaded, as the one-go import computes them."""
    return {name: {t.key: (t.content_sha256(), t.figure_count()) for t in read_bundle(path).tables}
            for name, path in bundles.items()}


async def figure_count(db) -> int:
    async with db.transaction() as session:
        return (await session.execute(select(func.count()).select_from(IaptFigure))).scalar_one()


async def datasets(db) -> dict[str, tuple[str, int]]:
    async with db.transaction() as session:
        rows = (await session.execute(select(IaptDataset.key, IaptDataset.content_sha256,
                                             IaptDataset.figure_count))).all()
    return {key: (digest, count) for key, digest, count in rows}


def crash_after(transactions: int):
    seen = 0

    async def between_transactions() -> None:
        nonlocal seen
        seen += 1
        if seen == transactions:
            raise Crash()

    return between_transactions


async def test_the_load_takes_many_short_transactions_and_other_writers_get_in_between(database, bundles,
                                                                                      expected):
    committed: list[int] = []
    shown_while_loading: list[bool] = []

    async def between_transactions() -> None:
        # Another writer (an organiser creating a list) gets its whole transaction in here, and
        # /stats shows no half-loaded figures meanwhile.
        await make_list(database, f"list-{len(committed)}", "A list")
        committed.append(await figure_count(database))
        shown_while_loading.append(not isinstance(await StatsDesk(database).answer(""), NoFiguresAnswer))

    loader = BundleLoader(database, bundles["england and 08V"], most_figures_per_transaction=FIGURES_PER_TRANSACTION,
                          pause=0, between_transactions=between_transactions)
    summary = await loader.load()

    total = sum(count for _digest, count in expected["england and 08V"].values())
    assert summary.figures_written == summary.figures_total == total == await figure_count(database)
    steps = [after - before for before, after in zip([0, *committed], committed, strict=False)]
    assert committed[-1] == total and max(steps) <= FIGURES_PER_TRANSACTION
    assert loader.log.most_figures <= FIGURES_PER_TRANSACTION
    assert len(committed) >= total // FIGURES_PER_TRANSACTION
    # Figures show only after the last transaction of the last dataset.
    assert shown_while_loading == [False] * (len(committed) - 1) + [True]
    assert await datasets(database) == expected["england and 08V"]
    assert not isinstance(await StatsDesk(database).answer(""), NoFiguresAnswer)


async def test_a_load_broken_off_is_finished_by_the_next_start_from_where_it_stopped(database, bundles, expected):
    crashed = BundleLoader(database, bundles["england and 08V"], holder="first-process",
                           most_figures_per_transaction=FIGURES_PER_TRANSACTION, pause=0,
                           between_transactions=crash_after(3))
    with pytest.raises(Crash):
        await crashed.load()
    written_before = await figure_count(database)
    assert written_before > 0
    assert not all(dataset_complete(digest) for digest, _count in (await datasets(database)).values())
    assert isinstance(await StatsDesk(database).answer("08V"), NoFiguresAnswer)

    # Another process starting while the first one's lease still runs waits for it...
    with pytest.raises(LoadHeldElsewhere):
        await BundleLoader(database, bundles["england and 08V"], holder="second-process").load()
    assert await figure_count(database) == written_before

    # ...and takes over once it has run out (the first process died), writing only the rest.
    later = wall_clock() + LEASE_TTL + dt.timedelta(seconds=1)
    successor = BundleLoader(database, bundles["england and 08V"], holder="second-process", now=lambda: later,
                             pause=0)
    summary = await successor.load()
    total = sum(count for _digest, count in expected["england and 08V"].values())
    assert summary.figures_written == total - written_before
    assert await figure_count(database) == total
    assert await datasets(database) == expected["england and 08V"]
    assert await BundleLoader(database, bundles["england and 08V"]).load() is None  # nothing left to do


async def test_a_broken_off_load_of_another_bundle_is_cleared_and_redone(database, bundles, expected):
    crashed = BundleLoader(database, bundles["england and 08V"], most_figures_per_transaction=FIGURES_PER_TRANSACTION,
                           pause=0, between_transactions=crash_after(4))
    with pytest.raises(Crash):
        await crashed.load()
    await crashed.release()

    # The bot was upgraded meanwhile and ships other figures: the half-written ones must not stay.
    summary = await BundleLoader(database, bundles["england"], pause=0).load()
    total = sum(count for _digest, count in expected["england"].values())
    assert summary.figures_written == total == await figure_count(database)
    assert await datasets(database) == expected["england"]


async def test_stats_says_loading_while_another_process_loads_and_answers_right_after(database, telegram, clock,
                                                                                      settings, bundles):
    # Another process of the bot took the load first and is between two of its transactions.
    other_paused, other_resume = asyncio.Event(), asyncio.Event()

    async def pause_once() -> None:
        if not other_paused.is_set():
            other_paused.set()
            await other_resume.wait()

    other = BundleLoader(database, bundles["england and 08V"], holder="other-process",
                         most_figures_per_transaction=FIGURES_PER_TRANSACTION, pause=0,
                         between_transactions=pause_once)
    other_load = asyncio.ensure_future(other.load())
    await other_paused.wait()
    written_by_other = await figure_count(database)

    loading = settings.model_copy(update={"stats_load_bundle": True,
                                          "stats_bundle_path": bundles["england and 08V"]})
    async with bot_running(database, telegram, clock, loading) as bot:
        person = bot.person(101)
        assert await person.say("/stats") == render("stats_loading.html").strip()
        assert await person.say("/stats tower hamlets") == render("stats_loading.html").strip()
        # Only one process loads: this bot waits instead of writing the same figures.
        assert await figure_count(database) == written_by_other

        other_resume.set()
        await other_load
        await bot.services.stats.wait_until_loaded()
        headline = await person.say("/stats")
        assert "England" in headline and headline != render("stats_loading.html").strip()
        assert "10,270" in await person.say("/stats 08V 2018-19")  # referrals received (SOURCE.md)


async def test_a_bot_started_on_a_broken_off_load_finishes_it_and_answers(database, telegram, clock, settings,
                                                                        bundles, expected):
    # A process that died long ago: its lease has run out.
    long_ago = wall_clock() - 2 * LEASE_TTL
    crashed = BundleLoader(database, bundles["england and 08V"], now=lambda: long_ago,
                           most_figures_per_transaction=FIGURES_PER_TRANSACTION, pause=0,
                           between_transactions=crash_after(2))
    with pytest.raises(Crash):
        await crashed.load()

    loading = settings.model_copy(update={"stats_load_bundle": True,
                                          "stats_bundle_path": bundles["england and 08V"]})
    async with bot_running(database, telegram, clock, loading) as bot:
        await bot.services.stats.wait_until_loaded()
        assert await datasets(database) == expected["england and 08V"]
        assert "10,270" in await bot.person(101).say("/stats 08V 2018-19")
