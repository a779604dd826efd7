"""Loading the embedded bundle of IAPT figures in short steps, so that a bot loading it at its first
start still answers everyone at full speed meanwhile.

SQLite has a single writer: a million figures in one transaction would hold every other write
(someone's /subscribe) for seconds. So the figures go in a few thousand per transaction, with a
pause after each in which other writers take their turn, and the CPU work (decoding the JSON,
building rows, hashing) is cut into pieces of a few milliseconds with the event loop free between
them: decoding in another thread would not help, since the decoder holds the GIL throughout.

A dataset being loaded carries a marker instead of its hash (storage.iapt.tables.DATASET_LOADING_PREFIX)
and counts the figures written so far, in the same transaction as the figures themselves. A load
broken off (crash, kill, shutdown) therefore resumes exactly where its last commit left it, or,
when the bundle has changed since, clears what it wrote and starts again; and nothing shows the
figures of a dataset until all of them are in. One process loads at a time: it holds the
"iapt-bundle-load" lease, renewed in each of its transactions; the others wait, and take over once
a holder that died has let its lease run out.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import enum
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import Database, utcnow
from storage.iapt.bundle import BUNDLE_PATH, BundleHeader, bundle_rows
from storage.iapt.bundle_stream import BundleStream, inflate_bundle
from storage.iapt.reading import DATASET_FILES
from storage.iapt.records import SUPPRESSED, add_to_content_digest, content_digest
from storage.iapt.tables import (
    OGL_ATTRIBUTION,
    OGL_LICENCE,
    IaptDataset,
    IaptFigure,
    dataset_complete,
    dataset_loading_marker,
)
from storage.iapt.writing import FigureKeys, ImportSummary, insert_figure_records, write_iapt_reference
from storage.import_problems import ImportProblemKind as Kind
from storage.import_problems import ImportRefused
from storage.leases import release_lease, take_or_renew_lease

LEASE_NAME = "iapt-bundle-load"
# A holder that died is replaced this long after its last renewal. Renewed in the load's
# transactions, at most every RENEW_LEASE_AFTER (each transaction checks its own progress anyway).
LEASE_TTL = dt.timedelta(seconds=30)
RENEW_LEASE_AFTER = dt.timedelta(seconds=5)
# How many figures one transaction writes: it starts small and grows while its transactions stay
# well under the target time, and halves whenever one takes longer (a busy machine). On SQLite
# the ceiling is about 30 ms of writing on an idle machine, since every other writer waits for
# it. PostgreSQL's writers do not wait for one another, so there transactions may be longer (its
# row-by-row foreign key checks make each figure dearer): what they cost there is CPU, not anyone's wait.
MOST_FIGURES_PER_TRANSACTION = {"sqlite": 8_000, "postgresql": 25_000}
TARGET_TRANSACTION_SECONDS = {"sqlite": 0.05, "postgresql": 0.5}
FIRST_FIGURES_PER_TRANSACTION = 1_000
LEAST_FIGURES_PER_TRANSACTION = 250
# After each transaction, time for a writer that found the database busy to get in: SQLite's
# busy handler retries at growing intervals, 25 ms apart after its first few tries. PostgreSQL
# needs none, only a turn of the event loop.
PAUSE_AFTER_TRANSACTION = {"sqlite": 0.03, "postgresql": 0.0}
ROWS_PER_STEP = 50  # bundle rows decoded (up to 30 figures each) between two turns of the event loop
AREAS_CLEARED_PER_TRANSACTION = 5
CLEARING_MARKER = dataset_loading_marker("being cleared")  # matches no bundle's hash


def wall_clock() -> dt.datetime:
    # The lease is about real processes dying, so it uses real time even where a test drives
    # the bot's own clock.
    return dt.datetime.now(dt.UTC)


class LoadHeldElsewhere(Exception):
    """Another process holds the load's lease (it is loading the same figures), or took it over."""


class LoadStopped(Exception):
    """The load was asked to stop (the bot is shutting down); what it committed stays."""


class FiguresState(enum.Enum):
    EMPTY = "empty"  # no dataset at all
    PARTIAL = "partial"  # a load started and has not finished
    COMPLETE = "complete"


async def figures_state(session: AsyncSession) -> FiguresState:
    digests = (await session.execute(select(IaptDataset.content_sha256))).scalars().all()
    if not digests:
        return FiguresState.EMPTY
    return FiguresState.COMPLETE if all(dataset_complete(d) for d in digests) else FiguresState.PARTIAL


@dataclasses.dataclass
class TransactionLog:
    """What the load's transactions did: for its log line, and for anyone checking it kept short."""

    transactions: int = 0
    most_figures: int = 0  # the most figures one transaction wrote
    longest_seconds: float = 0.0  # from its first statement to its commit
    last_seconds: float = 0.0

    def note(self, figures: int, seconds: float) -> None:
        self.transactions += 1
        self.most_figures = max(self.most_figures, figures)
        self.longest_seconds = max(self.longest_seconds, seconds)
        self.last_seconds = seconds


@dataclasses.dataclass
class _DatasetLoad:
    key: str
    dataset_id: int
    marker: str
    written: int  # figures already in the database
    clear_first: bool  # a load of another bundle broke off here: its figures go first


class BundleLoader:
    """Loads the bundle into a database with no figures, or finishes a load that broke off.

    `holder` names this process on the lease. Each transaction writes at most
    `most_figures_per_transaction` figures, fewer while transactions take longer than
    TARGET_TRANSACTION_SECONDS (a busy machine). `between_transactions`, when given, is awaited
    after each pause (tests use it to look at the database meanwhile, or to break the load off).
    """

    def __init__(self, db: Database, bundle: Path = BUNDLE_PATH, *, holder: str | None = None,
                 now: Callable[[], dt.datetime] = wall_clock, most_figures_per_transaction: int | None = None,
                 pause: float | None = None,
                 between_transactions: Callable[[], Awaitable[None]] | None = None) -> None:
        self.db = db
        self.bundle = Path(bundle)
        self.holder = holder or f"bundle-load:{uuid.uuid4().hex[:12]}"
        self.now = now
        self.most_figures = most_figures_per_transaction or MOST_FIGURES_PER_TRANSACTION.get(db.dialect, 8_000)
        self.figures_per_transaction = min(FIRST_FIGURES_PER_TRANSACTION, self.most_figures)
        self.target_seconds = TARGET_TRANSACTION_SECONDS.get(db.dialect, 0.05)
        self.pause = PAUSE_AFTER_TRANSACTION.get(db.dialect, 0.03) if pause is None else pause
        self.between_transactions = between_transactions
        self.log = TransactionLog()
        self._lease_renewed_at: dt.datetime | None = None
        self._stopping = False

    def stop_soon(self) -> None:
        """Make the load stop at its next pause, between transactions: cancelling it in the middle
        of one would leave SQLite's write lock with a connection no one can roll back in time."""
        self._stopping = True

    async def _step(self) -> None:
        """A turn of the event loop for everyone else, and where a load asked to stop stops."""
        await asyncio.sleep(0)
        if self._stopping:
            raise LoadStopped()

    async def load(self) -> ImportSummary | None:
        """What was written; None when the figures were all there already (or there is no
        bundle). Raises LoadHeldElsewhere while another process loads them."""
        async with self.db.transaction() as session:
            if await figures_state(session) is FiguresState.COMPLETE:
                return None
        if not self.bundle.is_file():
            return None
        async with self._transaction():
            pass  # the lease, before the work of decoding, so that only one process does it
        name = self.bundle.name
        try:
            text, file_sha256 = await asyncio.to_thread(inflate_bundle, self.bundle)
        except (OSError, EOFError, UnicodeDecodeError) as error:
            raise ImportRefused.one(Kind.BUNDLE_UNREADABLE, name, detail=str(error)) from None
        await self._step()
        stream = BundleStream(name, text)
        summary = ImportSummary()
        async with self._transaction() as session:
            keys = await write_iapt_reference(session, stream.header.data, summary,
                                              breakdowns=stream.header.breakdowns)
            plan = await self._plan(session, dataset_loading_marker(file_sha256))
        seen = set()
        try:
            for key, file_name, measures, rows in stream.tables():
                if DATASET_FILES.get(key) != file_name or key in seen:
                    raise ImportRefused.one(Kind.BUNDLE_UNKNOWN_TABLE, name, key=key, table_file=file_name)
                seen.add(key)
                dataset = plan.get(key)
                if dataset is not None and dataset.clear_first:
                    await self._clear(dataset, keys)
                await self._write_table(dataset, measures, rows, stream.header, keys, summary)
        except (KeyError, IndexError, TypeError, ValueError) as error:
            raise ImportRefused.one(Kind.BUNDLE_DAMAGED, name, detail=repr(error)) from None
        if seen != set(DATASET_FILES):
            raise ImportRefused.one(Kind.BUNDLE_LACKS_TABLES, name, tables=sorted(set(DATASET_FILES) - seen))
        await self.release()
        return summary

    async def release(self) -> None:
        """Give the lease up (after the load, or when stopping), so that no one waits for it to run out."""
        self._lease_renewed_at = None
        async with self.db.transaction() as session:
            await release_lease(session, name=LEASE_NAME, holder=self.holder)

    @asynccontextmanager
    async def _transaction(self, figures: int = 0) -> AsyncIterator[AsyncSession]:
        """A transaction that first renews this process's lease when due (and is refused without it)."""
        started = time.perf_counter()
        async with self.db.transaction() as session:
            now = self.now()
            if self._lease_renewed_at is None or now - self._lease_renewed_at >= RENEW_LEASE_AFTER:
                if not await take_or_renew_lease(session, name=LEASE_NAME, holder=self.holder, now=now,
                                                 ttl=LEASE_TTL):
                    self._lease_renewed_at = None
                    raise LoadHeldElsewhere(f"another process holds the {LEASE_NAME} lease")
                self._lease_renewed_at = now
            yield session
        self.log.note(figures, time.perf_counter() - started)

    async def _pause(self) -> None:
        await asyncio.sleep(self.pause)
        await self._step()
        if self.between_transactions is not None:
            await self.between_transactions()

    async def _plan(self, session: AsyncSession, marker: str) -> dict[str, _DatasetLoad]:
        """Every dataset still to load, its row marked as loading; complete ones are left alone,
        unless a load of another bundle broke off here: then all of that load is done again, so
        that the datasets do not come from two different bundles."""
        dataset_t = IaptDataset.__table__
        existing = {row.key: row for row in (await session.execute(select(dataset_t))).all()}
        other_load = any(not dataset_complete(row.content_sha256) and row.content_sha256 != marker
                         for row in existing.values())
        plan = {}
        for key, file_name in DATASET_FILES.items():
            row = existing.get(key)
            if row is None:
                values = {"file_name": file_name, "licence": OGL_LICENCE, "attribution": OGL_ATTRIBUTION,
                          "content_sha256": marker, "figure_count": 0, "imported_at": utcnow()}
                dataset_id = (await session.execute(insert(dataset_t).values(key=key, **values)
                                                    .returning(dataset_t.c.id))).scalar_one()
                plan[key] = _DatasetLoad(key, dataset_id, marker, 0, clear_first=False)
            elif other_load:
                plan[key] = _DatasetLoad(key, row.id, marker, 0, clear_first=True)
            elif not dataset_complete(row.content_sha256):
                plan[key] = _DatasetLoad(key, row.id, marker, row.figure_count, clear_first=False)
        return plan

    async def _clear(self, dataset: _DatasetLoad, keys: FigureKeys) -> None:
        """Delete what another load wrote to a dataset, a few areas per transaction, then mark it as this load's."""
        figure_t, dataset_t = IaptFigure.__table__, IaptDataset.__table__
        async with self._transaction() as session:
            # Marked as no load's first, so that nothing shows it while it empties, and a crash
            # meanwhile leaves it to be cleared again.
            await session.execute(update(dataset_t).where(dataset_t.c.id == dataset.dataset_id)
                                  .values(content_sha256=CLEARING_MARKER, figure_count=0))
        area_ids = sorted(keys.areas.values())
        for start in range(0, len(area_ids), AREAS_CLEARED_PER_TRANSACTION):
            chunk = area_ids[start:start + AREAS_CLEARED_PER_TRANSACTION]
            async with self._transaction() as session:
                await session.execute(delete(figure_t).where(figure_t.c.dataset_id == dataset.dataset_id,
                                                             figure_t.c.area_id.in_(chunk)))
            await self._pause()
        async with self._transaction() as session:
            await session.execute(update(dataset_t).where(dataset_t.c.id == dataset.dataset_id)
                                  .values(content_sha256=dataset.marker, figure_count=0))

    async def _write_table(self, dataset: _DatasetLoad | None, measures: tuple[str, ...], rows: Iterator[list[Any]],
                           header: BundleHeader, keys: FigureKeys, summary: ImportSummary) -> None:
        """Walk one table's rows, hashing them all and writing those not written yet (none for a
        complete dataset), a transaction per batch."""
        measure_ids = [keys.measures[m] for m in measures]
        digest = content_digest(measures)
        previous: tuple | None = None
        passed = 0  # figures of this table walked so far; the figures are walked in the same order every time
        batch: list[tuple] = []
        for number, raw in enumerate(rows, start=1):
            if dataset is not None and len(batch) + len(measure_ids) > self.figures_per_transaction:
                await self._commit(dataset, batch, figure_count=passed, summary=summary)
                batch = []
            (row,) = bundle_rows([raw], header)
            area, period, breakdown, values = row
            if previous is not None and (area, period, breakdown) < previous:
                raise ValueError("the rows are not in the order build_bundle writes them")
            previous = (area, period, breakdown)
            add_to_content_digest(digest, (row,))
            a, b, p = keys.areas[area], keys.breakdowns[breakdown], keys.periods[period]
            for measure_id, value in zip(measure_ids, values, strict=True):
                if value is None:
                    continue
                passed += 1
                summary.figures_total += 1
                suppressed = value == SUPPRESSED
                summary.suppressed_total += suppressed
                if dataset is not None and passed > dataset.written:
                    batch.append((a, b, p, measure_id, dataset.dataset_id, None if suppressed else value, suppressed))
            if number % ROWS_PER_STEP == 0:
                await self._step()
        if dataset is not None:
            await self._commit(dataset, batch, figure_count=passed, summary=summary, content_sha256=digest.hexdigest())
            summary.datasets_replaced.append(dataset.key)

    async def _commit(self, dataset: _DatasetLoad, batch: list[tuple], *, figure_count: int, summary: ImportSummary,
                      content_sha256: str | None = None) -> None:
        """One transaction: the batch, and the dataset's progress (its hash, when this is the last)."""
        dataset_t = IaptDataset.__table__
        batch.sort()  # primary-key order: the inserts append to the B-tree
        values: dict[str, Any] = {"figure_count": figure_count}
        if content_sha256 is not None:
            values.update(content_sha256=content_sha256, imported_at=utcnow())
        async with self._transaction(len(batch)) as session:
            if batch:
                await insert_figure_records(await session.connection(), batch)
            # Only from where this load left it: progress made by anyone else means the dataset is theirs.
            moved = await session.execute(
                update(dataset_t).where(dataset_t.c.id == dataset.dataset_id,
                                        dataset_t.c.content_sha256 == dataset.marker,
                                        dataset_t.c.figure_count == dataset.written).values(**values))
            if moved.rowcount != 1:
                raise LoadHeldElsewhere(f"dataset {dataset.dataset_id} was written by someone else meanwhile")
        dataset.written = figure_count
        summary.figures_written += len(batch)
        seconds = self.log.last_seconds
        if seconds > self.target_seconds:
            self.figures_per_transaction = max(LEAST_FIGURES_PER_TRANSACTION, self.figures_per_transaction // 2)
        elif seconds < self.target_seconds / 2:
            self.figures_per_transaction = min(self.most_figures, self.figures_per_transaction * 3 // 2)
        await self._pause()


async def ensure_iapt_figures(db: Database, bundle: Path = BUNDLE_PATH) -> ImportSummary | None:
    """Load the embedded default when no figures are loaded, or finish a load that broke off;
    None if there was nothing to do. A missing bundle is not an error: /stats then says how to
    import the files. While a running bot loads it, waits for that instead of loading it twice."""
    loader = BundleLoader(db, bundle)
    while True:
        try:
            return await loader.load()
        except LoadHeldElsewhere:
            await asyncio.sleep(1.0)
