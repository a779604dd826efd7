"""The IAPT figures as they are held in memory between reading and writing. Every step raises
`storage.import_problems.ImportRefused` for a file it cannot take.

storage.iapt.reading fills an `IaptData` from the published CSV files, storage.iapt.bundle from
the embedded bundle; storage.iapt.writing and storage.iapt.loading put it in the database. The
same data from either source gives the same content hashes, so the two are interchangeable.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import Iterable

SUPPRESSED = "*"  # NHS Digital's marker, kept as a marker in memory and as suppressed=True in the database
NOT_APPLICABLE = ""  # how a breakdown's unused variable is stored ("NULL" in the files)
TOTAL = ("Total", NOT_APPLICABLE, NOT_APPLICABLE)

Value = float | str | None  # a number, SUPPRESSED, or None (blank: not stored)
AreaKey = tuple[str, str]  # (org_type, code)
Breakdown = tuple[str, str, str]


@dataclasses.dataclass(frozen=True, slots=True)
class Period:
    """One reporting period (a financial year or a month): the same type between reading and
    writing and in the answers built from the database."""

    label: str
    frequency: str
    start_date: dt.date
    end_date: dt.date
    publication: str


@dataclasses.dataclass(frozen=True)
class MeasureRecord:
    key: str
    frequency: str
    unit: str
    nhs_name: str
    definition: str
    definition_source: str


@dataclasses.dataclass(frozen=True)
class PopulationRecord:
    area: AreaKey | None
    geography_code: str
    geography_name: str
    reference: str
    reference_date: dt.date | None
    value: int
    kind: str
    source: str
    source_detail: str
    confidence: str


@dataclasses.dataclass(frozen=True)
class LinkRecord:
    from_area: AreaKey
    to_area: AreaKey
    kind: str
    effective_on: dt.date | None
    cited_from: str


@dataclasses.dataclass
class FigureTable:
    """One source table in wide form: a row per (area, period, breakdown), a value per measure."""

    key: str
    file_name: str
    measures: tuple[str, ...]
    rows: list[tuple[AreaKey, str, Breakdown, tuple[Value, ...]]]

    def figure_count(self) -> int:
        return sum(1 for row in self.rows for value in row[3] if value is not None)

    def suppressed_count(self) -> int:
        return sum(1 for row in self.rows for value in row[3] if value == SUPPRESSED)

    def content_sha256(self) -> str:
        digest = content_digest(self.measures)
        add_to_content_digest(digest, sorted(self.rows, key=row_identity))
        return digest.hexdigest()


def row_identity(row: tuple[AreaKey, str, Breakdown, tuple[Value, ...]]) -> tuple[AreaKey, str, Breakdown]:
    """(area, period, breakdown): the order a table's content hash takes its rows in."""
    return row[0], row[1], row[2]


def content_digest(measures: tuple[str, ...]):
    """The start of a table's content hash; its rows follow, in `row_identity` order."""
    return hashlib.sha256(json.dumps(measures).encode())


def add_to_content_digest(digest, rows: Iterable[tuple[AreaKey, str, Breakdown, tuple[Value, ...]]]) -> None:
    for area, period, breakdown, values in rows:
        digest.update(json.dumps([area, period, breakdown, values], separators=(",", ":")).encode())


@dataclasses.dataclass
class IaptData:
    # (org_type, code) -> every name published for it, the latest period's first.
    areas: dict[AreaKey, list[str]]
    periods: dict[str, Period]
    measures: dict[str, MeasureRecord]
    tables: list[FigureTable]
    aliases: set[tuple[AreaKey, str, str]]  # (area, kind, alias)
    links: list[LinkRecord]
    populations: list[PopulationRecord]

    def breakdowns(self) -> set[Breakdown]:
        return {row[2] for table in self.tables for row in table.rows}
