"""Loading the published IAPT files (or the embedded bundle made from them) into the database.

Reading and writing are separate steps. `read_iapt_directory` parses every file strictly into
an `IaptData` held in memory and refuses the first malformed cell with its file, line and
column; nothing touches the database until all of it has been read. `write_iapt_data` then
applies it in the caller's single transaction and only where something differs: reference rows
are upserted by their natural keys, and each source table's figures are replaced only when the
hash of its normalised content has changed. Importing the same files twice changes nothing.

`build_bundle` writes the normalised data as one gzip JSON file (the embedded default under
storage/iapt/data/), `read_bundle` reads it back into the same `IaptData`, so a database filled from
the bundle and one filled from the files hold the same rows and the same content hashes. The bot
loads that bundle at its first start in many short transactions instead: storage.iapt.loading.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import gzip
import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.schema import AddConstraint, DropConstraint
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import Database, utcnow
from storage.iapt.search import search_key
from storage.iapt.tables import (
    CURATED_AREA_LINKS,
    CURATED_SAME_AREAS,
    ENGLAND_CODE,
    OGL_ATTRIBUTION,
    OGL_LICENCE,
    STP_TO_ICB_CITATION,
    STP_TO_ICB_DATE,
    AliasKind,
    Frequency,
    IaptArea,
    IaptAreaAlias,
    IaptAreaLink,
    IaptBreakdown,
    IaptDataset,
    IaptFigure,
    IaptMeasure,
    IaptPeriod,
    IaptPopulation,
    LinkKind,
    OrgType,
    Unit,
    annual_publication,
    monthly_publication,
)

BUNDLE_PATH = Path(__file__).with_name("data") / "iapt_figures.json.gz"
BUNDLE_FORMAT = "campaign-bot/iapt-bundle"
BUNDLE_VERSION = 1

TOTALS_FILE = "iapt_annual_totals.csv"
ETHNICITY_FILE = "iapt_annual_ethnicity.csv"
LEGACY_FILE = "iapt_annual_england_2012_2017_legacy.csv"
MONTHLY_FILE = "iapt_monthly_provider_key_measures.csv"
ANNUAL_METADATA_FILE = "metadata_measures_annual.csv"
MONTHLY_METADATA_FILE = "metadata_measures_monthly.csv"
PROVIDERS_FILE = "metadata_providers.csv"
CCG20_LOOKUP_FILE = "lookup_ccg20_ons_to_ods.csv"
CCG21_LOOKUP_FILE = "lookup_ccg21_ons_to_ods.csv"
CCG21_POPULATION_FILE = "ccg21_population_ons.csv"
POPULATION_FILE = "population.csv"

# Each source table of figures, by the key its dataset row carries.
DATASET_FILES = {
    "annual_totals": TOTALS_FILE,
    "annual_ethnicity": ETHNICITY_FILE,
    "annual_england_legacy": LEGACY_FILE,
    "monthly_providers": MONTHLY_FILE,
}

# Measure stems of the annual files, in their column order; "_count" always exists and
# "_percentage" where NHS Digital publishes one.
ANNUAL_STEMS: dict[str, bool] = {
    "referrals_received": False,
    "finished_course_treatment": False,
    "at_caseness": False,
    "not_at_caseness": False,
    "improvement": True,
    "no_reliable_change": True,
    "deterioration": True,
    "recovery": True,
    "reliable_recovery": True,
}
ANNUAL_MEASURES: tuple[str, ...] = tuple(
    key for stem, has_rate in ANNUAL_STEMS.items()
    for key in ((f"{stem}_count", f"{stem}_percentage") if has_rate else (f"{stem}_count",))
)
AREA_COLUMNS = ("reporting_period", "start_date", "end_date", "org_type", "org_code", "org_name",
                "variable_type", "variable_a", "variable_b")
ANNUAL_BREAKDOWNS = {TOTALS_FILE: {"Total"}, ETHNICITY_FILE: {"Ethnic Group", "BME Group"}}
LEGACY_BREAKDOWNS = {"Total", "Ethnic Group"}
MONTHLY_COLUMNS = ("reporting_period", "start_date", "end_date", "group_type", "provider_code", "provider_name")

# The England row's display name; the annual files call it "All", the monthly file "all Providers".
ENGLAND_NAME = "England"
SUPPRESSED = "*"  # NHS Digital's marker, kept as a marker in memory and as suppressed=True in the database
NOT_APPLICABLE = ""  # how a breakdown's unused variable is stored ("NULL" in the files)
TOTAL = ("Total", NOT_APPLICABLE, NOT_APPLICABLE)

CCG21_POPULATION = {
    "reference": "year not stated",
    "kind": "ONS clinical commissioning group mid-year population estimate, all ages",
    "source": "github:open-innovations/mental-health-data-map data/ons-population-estimates.csv "
              "@ e394749017cea905afc75c0504307c9240a56a4e",
    "source_detail": "ONS 'Clinical commissioning group mid-year population estimates' for the 106 April-2021 "
                     "CCGs. The year is not stated; SOURCE.md says probably mid-2020, unverified.",
    "confidence": "year unverified",
}

_NUMBER = re.compile(r"^\d+(?:\.\d+)?$")
_FINANCIAL_YEAR = re.compile(r"^(\d{4})-(\d{2})$")
_MONTHLY_COLUMN = re.compile(r"^(M\d{3})_((Count|Percentage|Mean|Median)_\w+)$")
_MID_YEAR = re.compile(r"^mid-(\d{4})$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

Value = float | str | None  # a number, SUPPRESSED, or None (blank: not stored)
AreaKey = tuple[str, str]  # (org_type, code)
Breakdown = tuple[str, str, str]


class IaptImportError(ValueError):
    """A file that cannot be imported, and where: nothing was written."""

    def __init__(self, file: str, problem: str, *, line: int | None = None, column: str | None = None) -> None:
        self.file, self.line, self.column, self.problem = file, line, column, problem
        where = file
        if line is not None:
            where += f", line {line}"
        if column is not None:
            where += f", column {column}"
        super().__init__(f"{where}: {problem}")


class _CellError(ValueError):
    pass


# --------------------------------------------------------------------------------------------
# The normalised data, in memory
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PeriodRecord:
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
    periods: dict[str, PeriodRecord]
    measures: dict[str, MeasureRecord]
    tables: list[FigureTable]
    aliases: set[tuple[AreaKey, str, str]]  # (area, kind, alias)
    links: list[LinkRecord]
    populations: list[PopulationRecord]

    def breakdowns(self) -> set[Breakdown]:
        return {row[2] for table in self.tables for row in table.rows}


# --------------------------------------------------------------------------------------------
# Reading the directory
# --------------------------------------------------------------------------------------------


class _CsvFile:
    """A CSV file read strictly: known header, one record per line, errors with line and column."""

    def __init__(self, directory: Path, name: str, required: tuple[str, ...]) -> None:
        self.name = name
        self.path = directory / name
        if not self.path.is_file():
            raise IaptImportError(name, "the file is missing from the directory")
        with self.path.open(encoding="utf-8-sig", newline="") as handle:
            try:
                self.header = next(csv.reader(handle))
            except StopIteration:
                raise IaptImportError(name, "the file is empty", line=1) from None
            except (csv.Error, UnicodeDecodeError) as error:
                raise IaptImportError(name, f"not readable as UTF-8 CSV: {error}", line=1) from None
        missing = [c for c in required if c not in self.header]
        if missing:
            raise IaptImportError(name, f"the header lacks the column(s) {', '.join(missing)}", line=1)
        if len(set(self.header)) != len(self.header):
            raise IaptImportError(name, "the header names a column twice", line=1)

    def records(self) -> Iterator[tuple[int, dict[str, str]]]:
        """(line where the record starts, cells by column name) for every record after the header."""
        header, width = self.header, len(self.header)
        with self.path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            try:
                next(reader)
                previous_end = reader.line_num
                for cells in reader:
                    line = previous_end + 1  # a quoted cell may span lines; report where the record starts
                    previous_end = reader.line_num
                    if not cells:
                        continue
                    if len(cells) != width:
                        raise IaptImportError(self.name, f"expected {width} cells, found {len(cells)}", line=line,
                                              column=str(min(len(cells), width) + 1))
                    yield line, dict(zip(header, cells, strict=True))
            except (csv.Error, UnicodeDecodeError) as error:
                raise IaptImportError(self.name, f"not readable as UTF-8 CSV: {error}",
                                      line=reader.line_num + 1) from None

    def column(self, name: str) -> str:
        return f"{self.header.index(name) + 1} ({name})"

    def fail(self, line: int, column: str, problem: str) -> IaptImportError:
        return IaptImportError(self.name, problem, line=line, column=self.column(column))


def _cell_value(text: str, *, allow_suppressed: bool, allow_blank: bool) -> Value:
    if _NUMBER.match(text):
        return float(text)
    if allow_suppressed and text == SUPPRESSED:
        return SUPPRESSED
    if allow_blank and text == "":
        return None
    expected = "a number" + (" or '*'" if allow_suppressed else "") + (" or blank" if allow_blank else "")
    raise _CellError(f"expected {expected}, found {text[:40]!r}")


def _date(text: str) -> dt.date:
    if _ISO_DATE.match(text):
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            pass
    raise _CellError(f"expected a date YYYY-MM-DD, found {text[:40]!r}")


def _financial_year(label: str) -> tuple[dt.date, dt.date]:
    match = _FINANCIAL_YEAR.match(label)
    if not match or (int(match.group(1)) + 1) % 100 != int(match.group(2)):
        raise _CellError(f"expected a financial year such as 2018-19, found {label[:40]!r}")
    year = int(match.group(1))
    return dt.date(year, 4, 1), dt.date(year + 1, 3, 31)


def _month(label: str) -> tuple[dt.date, dt.date]:
    try:
        start = dt.datetime.strptime(label, "%Y-%m").date()
    except ValueError:
        raise _CellError(f"expected a month such as 2026-03, found {label[:40]!r}") from None
    following = dt.date(start.year + start.month // 12, start.month % 12 + 1, 1)
    return start, following - dt.timedelta(days=1)


class _Reader:
    """Collects areas, periods and breakdowns while the figure files are read."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        # (org_type, code) -> {name: latest period label it was published under}
        self.area_names: dict[AreaKey, dict[str, str]] = {}
        self.periods: dict[str, PeriodRecord] = {}

    def file(self, name: str, required: tuple[str, ...]) -> _CsvFile:
        return _CsvFile(self.directory, name, required)

    def note_area(self, key: AreaKey, name: str, period: str) -> None:
        names = self.area_names.setdefault(key, {})
        if period > names.get(name, ""):
            names[name] = period

    def note_period(self, source: _CsvFile, line: int, row: dict[str, str], frequency: Frequency) -> str:
        label = row["reporting_period"]
        try:
            start, end = (_financial_year if frequency is Frequency.ANNUAL else _month)(label)
        except _CellError as error:
            raise source.fail(line, "reporting_period", str(error)) from None
        for column, expected in (("start_date", start), ("end_date", end)):
            try:
                given = _date(row[column])
            except _CellError as error:
                raise source.fail(line, column, str(error)) from None
            if given != expected:
                raise source.fail(line, column, f"{label} should run {start} to {end}, found {given}")
        if label not in self.periods:
            publication = annual_publication(label) if frequency is Frequency.ANNUAL else monthly_publication(label)
            self.periods[label] = PeriodRecord(label, frequency.value, start, end, publication)
        elif self.periods[label].frequency != frequency.value:
            raise source.fail(line, "reporting_period", f"{label} is both an annual and a monthly period")
        return label

    def area(self, source: _CsvFile, line: int, org_type: str, code: str, name: str, period: str) -> AreaKey:
        if org_type not in OrgType.__members__.values():
            column = "org_type" if "org_type" in source.header else "group_type"
            raise source.fail(line, column, f"unknown organisation type {org_type[:40]!r}")
        if org_type == OrgType.ENGLAND:
            code, name = ENGLAND_CODE, ENGLAND_NAME
        if not code:
            raise source.fail(line, "org_code" if "org_code" in source.header else "provider_code", "empty code")
        key = (org_type, code)
        self.note_area(key, name, period)
        return key

    # -- the annual files, wide ------------------------------------------------------------

    def annual(self, name: str, dataset: str) -> FigureTable:
        source = self.file(name, AREA_COLUMNS + ANNUAL_MEASURES)
        allowed = ANNUAL_BREAKDOWNS[name]
        rows: list[tuple[AreaKey, str, Breakdown, tuple[Value, ...]]] = []
        first_line: dict[tuple[AreaKey, str, Breakdown], tuple[int, tuple[Value, ...]]] = {}
        for line, row in source.records():
            period = self.note_period(source, line, row, Frequency.ANNUAL)
            area = self.area(source, line, row["org_type"], row["org_code"], row["org_name"], period)
            if row["variable_type"] not in allowed:
                raise source.fail(line, "variable_type", f"expected one of {sorted(allowed)}, "
                                                         f"found {row['variable_type'][:40]!r}")
            breakdown = (row["variable_type"], *(NOT_APPLICABLE if row[c] == "NULL" else row[c]
                                                 for c in ("variable_a", "variable_b")))
            if breakdown[0] == "Total" and breakdown != TOTAL:
                raise source.fail(line, "variable_a", "a Total row must have NULL variables")
            values: list[Value] = []
            for measure in ANNUAL_MEASURES:
                try:
                    values.append(_cell_value(row[measure], allow_suppressed=True, allow_blank=False))
                except _CellError as error:
                    raise source.fail(line, measure, str(error)) from None
            identity = (area, period, breakdown)
            if identity in first_line:
                # TAF90 is published twice in 2023-24, under two names with the same figures:
                # one set of figures, both names kept. Different figures would be a real conflict.
                earlier, earlier_values = first_line[identity]
                if earlier_values != tuple(values):
                    raise source.fail(line, "org_code", f"the same area, period and breakdown as line {earlier}, "
                                                        "with different figures")
                continue
            first_line[identity] = (line, tuple(values))
            rows.append((area, period, breakdown, tuple(values)))
        return FigureTable(dataset, name, ANNUAL_MEASURES, rows)

    # -- the England 2012-13 to 2016-17 file, long ---------------------------------------------

    def legacy(self) -> FigureTable:
        source = self.file(LEGACY_FILE, AREA_COLUMNS + ("measure_name", "measure_statistic", "value"))
        cells: dict[tuple[str, Breakdown], dict[str, Value]] = {}
        where: dict[tuple[str, Breakdown, str], int] = {}
        ethnic_rows: list[tuple[int, str, str, str, str]] = []
        for line, row in source.records():
            if row["variable_type"] not in LEGACY_BREAKDOWNS:
                continue  # age, gender, deprivation… are not used by the bot
            period = self.note_period(source, line, row, Frequency.ANNUAL)
            if row["org_type"] != OrgType.ENGLAND:
                raise source.fail(line, "org_type", "this file should hold England only")
            self.area(source, line, row["org_type"], row["org_code"], row["org_name"], period)
            measure = f"{row['measure_name']}_{row['measure_statistic']}"
            if measure not in ANNUAL_MEASURES:
                raise source.fail(line, "measure_name", f"unknown measure {measure[:60]!r}")
            try:
                value = _cell_value(row["value"], allow_suppressed=True, allow_blank=False)
            except _CellError as error:
                raise source.fail(line, "value", str(error)) from None
            if row["variable_type"] == "Total":
                if row["variable_a"] or row["variable_b"]:
                    raise source.fail(line, "variable_a", "a Total row must have empty variables")
                breakdown = TOTAL
            else:
                ethnic_rows.append((line, period, row["variable_a"], row["variable_b"], measure))
                breakdown = ("Ethnic Group", row["variable_a"], row["variable_b"])
            identity = (period, breakdown, measure)
            if identity in where:
                raise source.fail(line, "measure_name", f"the same figure as line {where[identity]}")
            where[identity] = line
            cells.setdefault((period, breakdown), {})[measure] = value
        cells = self._regroup_legacy_ethnicity(source, cells, ethnic_rows)
        england = (OrgType.ENGLAND.value, ENGLAND_CODE)
        rows = [(england, period, breakdown, tuple(values.get(m) for m in ANNUAL_MEASURES))
                for (period, breakdown), values in cells.items()]
        return FigureTable("annual_england_legacy", LEGACY_FILE, ANNUAL_MEASURES, rows)

    @staticmethod
    def _regroup_legacy_ethnicity(source, cells, ethnic_rows):
        """Give the legacy ethnic rows the newer files' shape.

        In 2013-14 the group subtotals are written (group, group) and the groups' members
        ("", member). They become (group, "All") and (group, member), the member's group
        taken from the file's other years. No value changes.
        """
        group_of = {b: a for _, _, a, b, _ in ethnic_rows if a and b and a != b}
        regrouped: dict[tuple[str, Breakdown], dict[str, Value]] = {}
        lines = {(p, a, b): line for line, p, a, b, _ in ethnic_rows}
        for (period, breakdown), values in cells.items():
            kind, group, member = breakdown
            if kind == "Ethnic Group":
                if group and group == member:
                    breakdown = (kind, group, "All")
                elif not group:
                    if member not in group_of:
                        raise source.fail(lines[(period, group, member)], "variable_a",
                                          f"no group known for {member[:40]!r}")
                    breakdown = (kind, group_of[member], member)
            target = regrouped.setdefault((period, breakdown), {})
            clash = set(target) & set(values)
            if clash:
                raise source.fail(lines.get((period, group, member), 0), "variable_b",
                                  f"{breakdown} appears twice in {period}")
            target.update(values)
        return regrouped

    # -- the monthly file ---------------------------------------------------------------------

    def monthly(self, definitions: dict[str, tuple[str, str]]) -> tuple[FigureTable, dict[str, MeasureRecord]]:
        source = self.file(MONTHLY_FILE, MONTHLY_COLUMNS)
        measure_columns = [c for c in source.header if c not in MONTHLY_COLUMNS]
        measures: dict[str, MeasureRecord] = {}
        keys: list[str] = []
        for column in measure_columns:
            match = _MONTHLY_COLUMN.match(column)
            if not match:
                raise IaptImportError(MONTHLY_FILE, "expected a column named like M001_Count_ReferralsReceived",
                                      line=1, column=source.column(column))
            measure_id, nhs_name, kind = match.groups()
            if measure_id not in definitions or definitions[measure_id][0] != nhs_name:
                raise IaptImportError(MONTHLY_FILE, f"{MONTHLY_METADATA_FILE} does not define {column}",
                                      line=1, column=source.column(column))
            unit = {"Count": Unit.COUNT, "Percentage": Unit.PERCENTAGE}.get(kind, Unit.DAYS)
            measures[measure_id] = MeasureRecord(
                measure_id, Frequency.MONTHLY.value, unit.value, nhs_name, definitions[measure_id][1],
                f"{MONTHLY_METADATA_FILE} (NHS England), measure {measure_id}",
            )
            keys.append(measure_id)
        rows: list[tuple[AreaKey, str, Breakdown, tuple[Value, ...]]] = []
        first_line: dict[tuple[AreaKey, str], int] = {}
        for line, row in source.records():
            period = self.note_period(source, line, row, Frequency.MONTHLY)
            area = self.area(source, line, row["group_type"], row["provider_code"], row["provider_name"], period)
            values: list[Value] = []
            for column in measure_columns:
                try:
                    # A blank is missing or suppressed and the file cannot say which: not stored.
                    values.append(_cell_value(row[column], allow_suppressed=False, allow_blank=True))
                except _CellError as error:
                    raise source.fail(line, column, str(error)) from None
            if (area, period) in first_line:
                raise source.fail(line, "provider_code",
                                  f"the same provider and month as line {first_line[area, period]}")
            first_line[area, period] = line
            rows.append((area, period, TOTAL, tuple(values)))
        return FigureTable("monthly_providers", MONTHLY_FILE, tuple(keys), rows), measures

    # -- definitions, names and codes -----------------------------------------------------------

    def annual_definitions(self) -> dict[str, MeasureRecord]:
        source = self.file(ANNUAL_METADATA_FILE, ("reporting_period", "dataset_name", "field_name", "description"))
        fields: dict[str, tuple[str, str]] = {}
        for _line, row in source.records():
            if row["dataset_name"] == "measures_annual":
                fields[row["field_name"]] = (row["description"].strip(), row["reporting_period"])
        measures: dict[str, MeasureRecord] = {}
        for key in ANNUAL_MEASURES:
            stem, statistic = key.rsplit("_", 1)
            nhs_name = f"{statistic.capitalize()}_{''.join(part.capitalize() for part in stem.split('_'))}"
            if nhs_name not in fields:
                raise IaptImportError(ANNUAL_METADATA_FILE, f"no definition of {nhs_name} (for {key})")
            description, year = fields[nhs_name]
            unit = Unit.COUNT if statistic == "count" else Unit.PERCENTAGE
            measures[key] = MeasureRecord(key, Frequency.ANNUAL.value, unit.value, nhs_name, description,
                                          f"{ANNUAL_METADATA_FILE} (NHS Digital, {year}), field {nhs_name}")
        return measures

    def monthly_definitions(self) -> dict[str, tuple[str, str]]:
        source = self.file(MONTHLY_METADATA_FILE, ("measure_id", "measure_name", "description"))
        return {row["measure_id"]: (row["measure_name"], row["description"].strip()) for _l, row in source.records()}

    def ons_codes(self) -> list[tuple[int, str, str, str]]:
        """(line, file, ONS code, ODS code) of every CCG in both lookups."""
        found = []
        for name, year in ((CCG20_LOOKUP_FILE, "20"), (CCG21_LOOKUP_FILE, "21")):
            source = self.file(name, (f"CCG{year}CD", f"CCG{year}CDH", f"CCG{year}NM"))
            for line, row in source.records():
                found.append((line, name, row[f"CCG{year}CD"], row[f"CCG{year}CDH"]))
        return found

    def provider_names(self) -> dict[str, str]:
        source = self.file(PROVIDERS_FILE, ("org_code", "org_name"))
        return {row["org_code"]: row["org_name"] for _line, row in source.records()}

    def populations(self, ons_to_ods: dict[str, str]) -> list[PopulationRecord]:
        records: list[PopulationRecord] = []
        source = self.file(POPULATION_FILE, ("area_name", "area_code", "reference_date", "kind", "population",
                                             "source", "source_detail", "confidence"))
        for line, row in source.records():
            reference = row["reference_date"]
            mid_year = _MID_YEAR.match(reference)
            try:
                when = dt.date(int(mid_year.group(1)), 6, 30) if mid_year else _date(reference)
            except _CellError:
                raise source.fail(line, "reference_date",
                                  f"expected mid-YYYY or YYYY-MM-DD, found {reference[:40]!r}") from None
            if not row["population"].isdigit():
                raise source.fail(line, "population", f"expected a whole number, found {row['population'][:40]!r}")
            records.append(PopulationRecord(
                CURATED_SAME_AREAS.get(row["area_code"]), row["area_code"], row["area_name"], reference, when,
                int(row["population"]), row["kind"], row["source"], row["source_detail"], row["confidence"],
            ))
        source = self.file(CCG21_POPULATION_FILE, ("CCG Code", "CCG Name", "All Ages"))
        for line, row in source.records():
            if not row["All Ages"].isdigit():
                raise source.fail(line, "All Ages", f"expected a whole number, found {row['All Ages'][:40]!r}")
            ods = ons_to_ods.get(row["CCG Code"])
            records.append(PopulationRecord(
                (OrgType.CCG.value, ods) if ods else None, row["CCG Code"], row["CCG Name"],
                CCG21_POPULATION["reference"], None, int(row["All Ages"]), CCG21_POPULATION["kind"],
                CCG21_POPULATION["source"], CCG21_POPULATION["source_detail"], CCG21_POPULATION["confidence"],
            ))
        return records


def read_iapt_directory(directory: Path) -> IaptData:
    """Every file of the published layout (tests/data/iapt, unpacked), parsed and checked; raises IaptImportError."""
    directory = Path(directory)
    if not directory.is_dir():
        raise IaptImportError(str(directory), "not a directory")
    reader = _Reader(directory)
    measures = reader.annual_definitions()
    tables = [reader.annual(TOTALS_FILE, "annual_totals"), reader.annual(ETHNICITY_FILE, "annual_ethnicity"),
              reader.legacy()]
    monthly_table, monthly_measures = reader.monthly(reader.monthly_definitions())
    tables.append(monthly_table)
    measures.update(monthly_measures)

    areas = {key: [name for name, _ in sorted(names.items(), key=lambda item: (item[1], item[0]), reverse=True)]
             for key, names in reader.area_names.items()}
    aliases: set[tuple[AreaKey, str, str]] = set()
    for key, names in areas.items():
        for older in names[1:]:
            aliases.add((key, AliasKind.PUBLISHED_NAME.value, older))
    for code, name in reader.provider_names().items():
        key = (OrgType.PROVIDER.value, code)
        if key in areas and search_key(name) not in {search_key(n) for n in areas[key]}:
            aliases.add((key, AliasKind.ODS_NAME.value, name))
    ons_to_ods: dict[str, str] = {}
    for line, name, ons, ods in reader.ons_codes():
        if ons_to_ods.setdefault(ons, ods) != ods:
            raise IaptImportError(name, f"{ons} maps to both {ons_to_ods[ons]} and {ods}", line=line)
        if (OrgType.CCG.value, ods) in areas:
            aliases.add(((OrgType.CCG.value, ods), AliasKind.ONS_CODE.value, ons))
    for ons, area in CURATED_SAME_AREAS.items():
        if area in areas:
            aliases.add((area, AliasKind.SAME_AREA_CODE.value, ons))

    links = [LinkRecord(link.from_area, link.to_area, link.kind.value, link.effective_on, link.cited_from)
             for link in CURATED_AREA_LINKS]
    for org_type, code in areas:
        if org_type == OrgType.STP and (OrgType.ICB.value, code) in areas and code != "UNKNOWN":
            links.append(LinkRecord((org_type, code), (OrgType.ICB.value, code), LinkKind.SUCCEEDED_BY.value,
                                    STP_TO_ICB_DATE, STP_TO_ICB_CITATION))
    for link in links:
        for end in (link.from_area, link.to_area):
            if end not in areas:
                raise IaptImportError(TOTALS_FILE, f"the curated link {link.from_area} -> {link.to_area} names "
                                                   f"{end}, which the data does not have")
    populations = reader.populations(ons_to_ods)
    populations = [dataclasses.replace(p, area=None) if p.area not in areas else p for p in populations]
    return IaptData(areas, reader.periods, measures, tables, aliases, links, populations)


# --------------------------------------------------------------------------------------------
# The embedded bundle
# --------------------------------------------------------------------------------------------


def _encode_value(value: Value) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def bundle_document(data: IaptData) -> dict[str, Any]:
    area_keys = sorted(data.areas)
    area_index = {key: i for i, key in enumerate(area_keys)}
    breakdowns = sorted(data.breakdowns())
    breakdown_index = {b: i for i, b in enumerate(breakdowns)}
    return {
        "format": BUNDLE_FORMAT,
        "version": BUNDLE_VERSION,
        "licence": OGL_LICENCE,
        "attribution": OGL_ATTRIBUTION,
        "areas": [[*key, data.areas[key]] for key in area_keys],
        "periods": [[p.label, p.frequency, p.start_date.isoformat(), p.end_date.isoformat(), p.publication]
                    for p in sorted(data.periods.values(), key=lambda p: p.label)],
        "measures": [dataclasses.astuple(m) for m in sorted(data.measures.values(), key=lambda m: m.key)],
        "breakdowns": [list(b) for b in breakdowns],
        "aliases": sorted([area_index[area], kind, alias] for area, kind, alias in data.aliases),
        "links": [[area_index[link.from_area], area_index[link.to_area], link.kind,
                   link.effective_on.isoformat() if link.effective_on else None, link.cited_from]
                  for link in data.links],
        "populations": [[area_index[p.area] if p.area else None, p.geography_code, p.geography_name, p.reference,
                         p.reference_date.isoformat() if p.reference_date else None, p.value, p.kind, p.source,
                         p.source_detail, p.confidence] for p in data.populations],
        "tables": [{"key": t.key, "file_name": t.file_name, "measures": list(t.measures),
                    "rows": [[area_index[a], p, breakdown_index[b], *map(_encode_value, values)]
                             for a, p, b, values in sorted(t.rows, key=lambda r: (r[0], r[1], r[2]))]}
                   for t in data.tables],
    }


def build_bundle(directory: Path, out: Path) -> IaptData:
    """Read the published files and write the compact embedded default to `out` (gzip JSON)."""
    data = read_iapt_directory(directory)
    payload = json.dumps(bundle_document(data), separators=(",", ":"), ensure_ascii=False).encode()
    out.parent.mkdir(parents=True, exist_ok=True)
    # mtime=0 keeps the file byte-identical when rebuilt from the same data.
    with gzip.GzipFile(filename="", mode="wb", fileobj=out.open("wb"), mtime=0, compresslevel=9) as handle:
        handle.write(payload)
    return data


def read_bundle(path: Path = BUNDLE_PATH) -> IaptData:
    name = Path(path).name
    try:
        with gzip.open(path, "rb") as handle:
            document = json.loads(handle.read())
    except (OSError, ValueError) as error:
        raise IaptImportError(name, f"not a readable bundle: {error}") from None
    header = bundle_header(name, document)
    try:
        tables = [FigureTable(table["key"], table["file_name"], tuple(table["measures"]),
                              bundle_rows(table["rows"], header)) for table in document["tables"]]
    except (KeyError, IndexError, TypeError, ValueError) as error:
        raise IaptImportError(name, f"the bundle is damaged: {error!r}") from None
    return dataclasses.replace(header.data, tables=tables)


@dataclasses.dataclass
class BundleHeader:
    """Everything in a bundle but its figures, and what decoding its rows of figures needs."""

    data: IaptData  # with no tables
    area_keys: list[AreaKey]
    breakdowns: list[Breakdown]


def bundle_header(name: str, document: dict[str, Any]) -> BundleHeader:
    """The bundle's document, less its `tables`, decoded; raises IaptImportError."""
    if document.get("format") != BUNDLE_FORMAT or document.get("version") != BUNDLE_VERSION:
        raise IaptImportError(name, "not a campaign-bot IAPT bundle of a version this code reads")
    try:
        area_keys: list[AreaKey] = [(org_type, code) for org_type, code, _names in document["areas"]]
        areas = {(org_type, code): list(names) for org_type, code, names in document["areas"]}
        periods = {label: PeriodRecord(label, freq, dt.date.fromisoformat(start), dt.date.fromisoformat(end), pub)
                   for label, freq, start, end, pub in document["periods"]}
        measures = {row[0]: MeasureRecord(*row) for row in document["measures"]}
        breakdowns: list[Breakdown] = [tuple(b) for b in document["breakdowns"]]
        aliases = {(area_keys[i], kind, alias) for i, kind, alias in document["aliases"]}
        links = [LinkRecord(area_keys[a], area_keys[b], kind, dt.date.fromisoformat(on) if on else None, cited)
                 for a, b, kind, on, cited in document["links"]]
        populations = [PopulationRecord(area_keys[row[0]] if row[0] is not None else None, *row[1:4],
                                        dt.date.fromisoformat(row[4]) if row[4] else None, *row[5:])
                       for row in document["populations"]]
    except (KeyError, IndexError, TypeError, ValueError) as error:
        raise IaptImportError(name, f"the bundle is damaged: {error!r}") from None
    return BundleHeader(IaptData(areas, periods, measures, [], aliases, links, populations), area_keys, breakdowns)


def bundle_rows(rows: list[list[Any]], header: BundleHeader) -> list[tuple[AreaKey, str, Breakdown, tuple[Value, ...]]]:
    """A table's rows as the bundle stores them, as `FigureTable.rows` (raises on a damaged row)."""
    area_keys, breakdowns = header.area_keys, header.breakdowns
    return [(area_keys[row[0]], row[1], breakdowns[row[2]],
             tuple(float(v) if isinstance(v, int | float) else v for v in row[3:]))
            for row in rows]


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


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
    # runs this in one of its short transactions).
    existing_periods = {r.label: r for r in (await session.execute(select(period_t))).all()}
    new_periods = []
    for period in data.periods.values():
        values = dataclasses.asdict(period)
        row = existing_periods.get(period.label)
        if row is None:
            new_periods.append(values)
        elif tuple(row)[1:] != tuple(values.values()):
            await session.execute(update(period_t).where(period_t.c.id == row.id).values(**values))
            summary.periods_added += 1
    if new_periods:
        await session.execute(insert(period_t), new_periods)
        summary.periods_added += len(new_periods)
    period_ids: dict[str, int] = await _ids(session, period_t.c.id, period_t.c.label)
    existing_measures = {r.key: r for r in (await session.execute(select(measure_t))).all()}
    new_measures = []
    for measure in data.measures.values():
        values = dataclasses.asdict(measure)
        row = existing_measures.get(measure.key)
        if row is None:
            new_measures.append(values)
        elif tuple(row)[1:] != tuple(values.values()):
            await session.execute(update(measure_t).where(measure_t.c.id == row.id).values(**values))
            summary.measures_changed += 1
    if new_measures:
        await session.execute(insert(measure_t), new_measures)
        summary.measures_added = len(new_measures)
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
