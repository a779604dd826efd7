"""Writing an `IaptData` to the database in the caller's single transaction, and only where
something differs: reference rows are upserted by their natural keys, and each source table's
figures are replaced only when the hash of its normalised content has changed. Importing the
same files twice changes nothing. (The bot's first load of the bundle writes its figures in
short transactions instead, storage.iapt.loading, sharing `write_iapt_reference` and
`insert_figure_records` with this module.)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from pathlib import Path

from sqlalchemy import delete, insert, select, update
from sqlalchemy.schema import AddConstraint, DropConstraint
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import Database, utcnow
from storage.iapt.reading import read_iapt_directory
from storage.iapt.records import SUPPRESSED, AreaKey, Breakdown, FigureTable, IaptData
from storage.iapt.search import search_key
from storage.iapt.tables import (
    OGL_ATTRIBUTION,
    OGL_LICENCE,
    IaptArea,
    IaptAreaAlias,
    IaptAreaLink,
    IaptBreakdown,
    IaptDataset,
    IaptFigure,
    IaptMeasure,
    IaptPeriod,
    IaptPopulation,
)


@dataclasses.dataclass
class ImportSummary:
    """What an import changed; all zeros when the same data was imported before."""

    areas_added: int = 0
    areas_renamed: int = 0
    periods_added: int = 0
    measures_added: int = 0
    measures_changed: int = 0
    breakdowns_added: int = 0
    aliases_changed: int = 0
    links_changed: int = 0
    populations_changed: int = 0
    datasets_replaced: list[str] = dataclasses.field(default_factory=list)
    figures_written: int = 0
    figures_total: int = 0
    suppressed_total: int = 0

    @property
    def changed(self) -> bool:
        return any((self.areas_added, self.areas_renamed, self.periods_added, self.measures_added,
                    self.measures_changed, self.breakdowns_added, self.aliases_changed, self.links_changed,
                    self.populations_changed, self.datasets_replaced))


async def _ids(session: AsyncSession, *columns) -> dict:
    rows = (await session.execute(select(*columns))).all()
    return {tuple(row)[1:] if len(row) > 2 else row[1]: row[0] for row in rows}


@dataclasses.dataclass(frozen=True)
class FigureKeys:
    """The database ids a figure row refers to, by the natural keys of the data in memory."""

    areas: dict[AreaKey, int]
    periods: dict[str, int]
    measures: dict[str, int]
    breakdowns: dict[Breakdown, int]


async def write_iapt_data(session: AsyncSession, data: IaptData) -> ImportSummary:
    """Make the database hold exactly `data`'s figures, writing only what differs.

    Runs in the caller's transaction: on any error the caller's rollback leaves it as it was.
    """
    summary = ImportSummary()
    keys = await write_iapt_reference(session, data, summary)
    return await _write_figures(session, data, keys, summary)


async def write_iapt_reference(session: AsyncSession, data: IaptData, summary: ImportSummary, *,
                               breakdowns: Iterable[Breakdown] | None = None) -> FigureKeys:
    """Everything but the figures (areas, periods, measures, breakdowns, aliases, links,
    populations), written only where it differs; counts the changes in `summary`. The
    breakdowns are those of `data`'s tables unless given (a bundle read without its tables)."""
    area_t, period_t, measure_t = IaptArea.__table__, IaptPeriod.__table__, IaptMeasure.__table__

    # Areas, by (org_type, code); the name is the latest published one.
    existing = {(r.org_type, r.code): r for r in (await session.execute(select(area_t))).all()}
    new_areas = []
    for key, names in data.areas.items():
        wanted = {"name": names[0], "search_key": search_key(names[0])}
        row = existing.get(key)
        if row is None:
            new_areas.append({"org_type": key[0], "code": key[1], **wanted})
        elif (row.name, row.search_key) != (wanted["name"], wanted["search_key"]):
            await session.execute(update(area_t).where(area_t.c.id == row.id).values(**wanted))
            summary.areas_renamed += 1
    if new_areas:
        await session.execute(insert(area_t), new_areas)
        summary.areas_added = len(new_areas)
    area_ids: dict[AreaKey, int] = await _ids(session, area_t.c.id, area_t.c.org_type, area_t.c.code)

    # Periods and measures, by label and key; the new ones in one statement each (a first load
    # runs this in one of its short transactions). The summary has no "periods changed": its
    # periods_added counts both, which the import message words as "new or changed".
    added, changed = await _upsert_by_key(session, period_t, "label", data.periods.values())
    summary.periods_added += added + changed
    period_ids: dict[str, int] = await _ids(session, period_t.c.id, period_t.c.label)
    added, changed = await _upsert_by_key(session, measure_t, "key", data.measures.values())
    summary.measures_added += added
    summary.measures_changed += changed
    measure_ids: dict[str, int] = await _ids(session, measure_t.c.id, measure_t.c.key)

    breakdown_t = IaptBreakdown.__table__
    breakdown_ids: dict[Breakdown, int] = await _ids(
        session, breakdown_t.c.id, breakdown_t.c.variable_type, breakdown_t.c.variable_a, breakdown_t.c.variable_b)
    missing = sorted(set(data.breakdowns() if breakdowns is None else breakdowns) - set(breakdown_ids))
    if missing:
        await session.execute(insert(breakdown_t), [dict(zip(("variable_type", "variable_a", "variable_b"), b,
                                                             strict=True)) for b in missing])
        summary.breakdowns_added = len(missing)
        breakdown_ids = await _ids(session, breakdown_t.c.id, breakdown_t.c.variable_type,
                                   breakdown_t.c.variable_a, breakdown_t.c.variable_b)

    summary.aliases_changed = await _sync_rows(
        session, IaptAreaAlias.__table__, ("area_id", "kind", "alias"),
        {(area_ids[a], kind, alias) for a, kind, alias in data.aliases})
    summary.links_changed = await _sync_rows(
        session, IaptAreaLink.__table__, ("from_area_id", "to_area_id", "kind", "effective_on", "cited_from"),
        {(area_ids[link.from_area], area_ids[link.to_area], link.kind, link.effective_on, link.cited_from)
         for link in data.links})
    population_columns = ("area_id", "geography_code", "geography_name", "reference", "reference_date", "value",
                          "kind", "source", "source_detail", "confidence")
    summary.populations_changed = await _sync_rows(
        session, IaptPopulation.__table__, population_columns,
        {(area_ids[p.area] if p.area else None, *dataclasses.astuple(p)[1:]) for p in data.populations})
    return FigureKeys(area_ids, period_ids, measure_ids, breakdown_ids)


async def _upsert_by_key(session: AsyncSession, table, key: str, records: Iterable) -> tuple[int, int]:
    """Insert the records (dataclasses whose fields are the table's columns but its id) missing by
    `key`, in one statement, and update those whose columns differ; (added, changed)."""
    existing = {getattr(row, key): row for row in (await session.execute(select(table))).all()}
    fresh, changed = [], 0
    for record in records:
        values = dataclasses.asdict(record)
        row = existing.get(values[key])
        if row is None:
            fresh.append(values)
        elif tuple(row)[1:] != tuple(values.values()):
            await session.execute(update(table).where(table.c.id == row.id).values(**values))
            changed += 1
    if fresh:
        await session.execute(insert(table), fresh)
    return len(fresh), changed


async def _write_figures(session: AsyncSession, data: IaptData, keys: FigureKeys,
                         summary: ImportSummary) -> ImportSummary:
    dataset_t, figure_t = IaptDataset.__table__, IaptFigure.__table__
    datasets = {r.key: r for r in (await session.execute(select(dataset_t))).all()}
    changed: list[tuple[FigureTable, str, int]] = []
    for table in data.tables:
        digest, count = table.content_sha256(), table.figure_count()
        summary.figures_total += count
        summary.suppressed_total += table.suppressed_count()
        row = datasets.get(table.key)
        if row is None or row.content_sha256 != digest or row.figure_count != count:
            changed.append((table, digest, count))
    if not changed:
        return summary
    connection = await session.connection()
    postgres = connection.dialect.name == "postgresql"
    # PostgreSQL checks foreign keys row by row, which makes a million-row COPY take half a
    # minute; dropped and re-added in this transaction they are checked in one pass each.
    # Readers of iapt_figures wait for the import meanwhile; a rollback restores the keys.
    foreign_keys = sorted(figure_t.foreign_key_constraints, key=lambda fk: fk.name) if postgres else []
    for foreign_key in foreign_keys:
        await connection.execute(DropConstraint(foreign_key))
    for table, digest, count in changed:
        values = {"file_name": table.file_name, "licence": OGL_LICENCE, "attribution": OGL_ATTRIBUTION,
                  "content_sha256": digest, "figure_count": count, "imported_at": utcnow()}
        row = datasets.get(table.key)
        if row is None:
            dataset_id = (await session.execute(insert(dataset_t).values(key=table.key, **values)
                                                .returning(dataset_t.c.id))).scalar_one()
        else:
            dataset_id = row.id
            await session.execute(delete(figure_t).where(figure_t.c.dataset_id == dataset_id))
            await session.execute(update(dataset_t).where(dataset_t.c.id == dataset_id).values(**values))
        summary.figures_written += await _insert_figures(session, table, dataset_id, keys)
        summary.datasets_replaced.append(table.key)
    for foreign_key in foreign_keys:
        await connection.execute(AddConstraint(foreign_key))
    return summary


async def _sync_rows(session: AsyncSession, table, columns: tuple[str, ...], wanted: set[tuple]) -> int:
    """Insert the wanted rows that are missing and delete the ones no longer wanted (small tables)."""
    present = {tuple(row)[1:]: row[0] for row in
               (await session.execute(select(table.c.id, *(table.c[c] for c in columns)))).all()}
    stale = [row_id for values, row_id in present.items() if values not in wanted]
    fresh = [dict(zip(columns, values, strict=True)) for values in wanted if values not in present]
    if stale:
        await session.execute(delete(table).where(table.c.id.in_(stale)))
    if fresh:
        await session.execute(insert(table), fresh)
    return len(stale) + len(fresh)


FIGURE_BATCH = 20_000
FIGURE_COLUMNS = ("area_id", "breakdown_id", "period_id", "measure_id", "dataset_id", "value", "suppressed")


def figure_records(table: FigureTable, dataset_id: int, keys: FigureKeys) -> Iterator[tuple]:
    """The table's figures as rows of FIGURE_COLUMNS, in primary-key order, so that each insert
    appends to the end of the B-tree."""
    measures = [keys.measures[m] for m in table.measures]
    keyed = sorted((keys.areas[area], keys.breakdowns[breakdown], keys.periods[period], values)
                   for area, period, breakdown, values in table.rows)
    by_measure = sorted(zip(measures, range(len(measures)), strict=True))
    for a, b, p, values in keyed:
        for measure_id, position in by_measure:
            value = values[position]
            if value is None:
                continue
            if value == SUPPRESSED:
                yield a, b, p, measure_id, dataset_id, None, True
            else:
                yield a, b, p, measure_id, dataset_id, value, False


async def insert_figure_records(connection, records: Iterable[tuple]) -> None:
    """Insert rows of FIGURE_COLUMNS on the session's connection, inside its transaction."""
    if connection.dialect.name == "postgresql":
        # COPY is an order of magnitude faster than INSERT for a million rows, and still
        # runs inside the session's transaction on the same connection.
        raw = await connection.get_raw_connection()
        await raw.driver_connection.copy_records_to_table(
            IaptFigure.__tablename__, records=records, columns=list(FIGURE_COLUMNS))
        return
    # Plain DB-API executemany with tuples: several times faster than Core inserts of dicts here.
    placeholders = ", ".join("?" for _ in FIGURE_COLUMNS)
    statement = f"INSERT INTO {IaptFigure.__tablename__} ({', '.join(FIGURE_COLUMNS)}) VALUES ({placeholders})"
    batch: list[tuple] = []
    for record in records:
        batch.append(record)
        if len(batch) == FIGURE_BATCH:
            await connection.exec_driver_sql(statement, batch)
            batch = []
    if batch:
        await connection.exec_driver_sql(statement, batch)


async def _insert_figures(session, table: FigureTable, dataset_id: int, keys: FigureKeys) -> int:
    await insert_figure_records(await session.connection(), figure_records(table, dataset_id, keys))
    return table.figure_count()


async def import_iapt_directory(db: Database, directory: Path) -> ImportSummary:
    """`campaign-bot stats import DIR`: read every file, then write in one transaction."""
    data = read_iapt_directory(directory)
    async with db.transaction() as session:
        return await write_iapt_data(session, data)
