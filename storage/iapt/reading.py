"""Reading the published IAPT files (the layout of tests/data/iapt) into an `IaptData`.

`read_iapt_directory` parses every file strictly and refuses the first malformed cell with its
file, line and column (`storage.import_problems.ImportRefused`); nothing touches the database until all of it has been
read (storage.iapt.writing does that).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from storage.iapt import reference_files
from storage.iapt.records import (
    NOT_APPLICABLE,
    TOTAL,
    AreaKey,
    Breakdown,
    FigureTable,
    IaptData,
    MeasureRecord,
    Period,
    Value,
)
from storage.iapt.reference_files import MONTHLY_METADATA_FILE
from storage.iapt.strict_csv import CellError, StrictCsv, cell_value, financial_year, month_span, parse_date
from storage.iapt.tables import (
    ENGLAND_CODE,
    Frequency,
    OrgType,
    Unit,
    annual_publication,
    monthly_publication,
)
from storage.import_problems import ImportProblemKind as Kind
from storage.import_problems import ImportRefused

TOTALS_FILE = "iapt_annual_totals.csv"
ETHNICITY_FILE = "iapt_annual_ethnicity.csv"
LEGACY_FILE = "iapt_annual_england_2012_2017_legacy.csv"
MONTHLY_FILE = "iapt_monthly_provider_key_measures.csv"

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


_MONTHLY_COLUMN = re.compile(r"^(M\d{3})_((Count|Percentage|Mean|Median)_\w+)$")


class _Reader:
    """Collects areas, periods and breakdowns while the figure files are read."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        # (org_type, code) -> {name: latest period label it was published under}
        self.area_names: dict[AreaKey, dict[str, str]] = {}
        self.periods: dict[str, Period] = {}

    def file(self, name: str, required: tuple[str, ...]) -> StrictCsv:
        return StrictCsv(self.directory, name, required)

    def note_area(self, key: AreaKey, name: str, period: str) -> None:
        names = self.area_names.setdefault(key, {})
        if period > names.get(name, ""):
            names[name] = period

    def note_period(self, source: StrictCsv, line: int, row: dict[str, str], frequency: Frequency) -> str:
        label = row["reporting_period"]
        try:
            start, end = (financial_year if frequency is Frequency.ANNUAL else month_span)(label)
        except CellError as error:
            raise source.fail_cell(line, "reporting_period", error) from None
        for column, expected in (("start_date", start), ("end_date", end)):
            try:
                given = parse_date(row[column])
            except CellError as error:
                raise source.fail_cell(line, column, error) from None
            if given != expected:
                raise source.fail(line, column, Kind.PERIOD_DATES, label=label, start=start, end=end, found=given)
        if label not in self.periods:
            publication = annual_publication(label) if frequency is Frequency.ANNUAL else monthly_publication(label)
            self.periods[label] = Period(label, frequency.value, start, end, publication)
        elif self.periods[label].frequency != frequency.value:
            raise source.fail(line, "reporting_period", Kind.PERIOD_BOTH_FREQUENCIES, label=label)
        return label

    def area(self, source: StrictCsv, line: int, org_type: str, code: str, name: str, period: str) -> AreaKey:
        if org_type not in OrgType.__members__.values():
            column = "org_type" if "org_type" in source.header else "group_type"
            raise source.fail(line, column, Kind.UNKNOWN_ORG_TYPE, text=org_type[:40])
        if org_type == OrgType.ENGLAND:
            code, name = ENGLAND_CODE, ENGLAND_NAME
        if not code:
            raise source.fail(line, "org_code" if "org_code" in source.header else "provider_code", Kind.EMPTY_CODE)
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
                raise source.fail(line, "variable_type", Kind.UNEXPECTED_BREAKDOWN, allowed=sorted(allowed),
                                  text=row["variable_type"][:40])
            breakdown = (row["variable_type"], *(NOT_APPLICABLE if row[c] == "NULL" else row[c]
                                                 for c in ("variable_a", "variable_b")))
            if breakdown[0] == "Total" and breakdown != TOTAL:
                raise source.fail(line, "variable_a", Kind.TOTAL_WITH_VARIABLES, empty="NULL")
            values: list[Value] = []
            for measure in ANNUAL_MEASURES:
                try:
                    values.append(cell_value(row[measure], allow_suppressed=True, allow_blank=False))
                except CellError as error:
                    raise source.fail_cell(line, measure, error) from None
            identity = (area, period, breakdown)
            if identity in first_line:
                # TAF90 is published twice in 2023-24, under two names with the same figures:
                # one set of figures, both names kept. Different figures would be a real conflict.
                earlier, earlier_values = first_line[identity]
                if earlier_values != tuple(values):
                    raise source.fail(line, "org_code", Kind.FIGURES_DIFFER, earlier=earlier)
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
                raise source.fail(line, "org_type", Kind.ENGLAND_ONLY)
            self.area(source, line, row["org_type"], row["org_code"], row["org_name"], period)
            measure = f"{row['measure_name']}_{row['measure_statistic']}"
            if measure not in ANNUAL_MEASURES:
                raise source.fail(line, "measure_name", Kind.UNKNOWN_MEASURE, measure=measure[:60])
            try:
                value = cell_value(row["value"], allow_suppressed=True, allow_blank=False)
            except CellError as error:
                raise source.fail_cell(line, "value", error) from None
            if row["variable_type"] == "Total":
                if row["variable_a"] or row["variable_b"]:
                    raise source.fail(line, "variable_a", Kind.TOTAL_WITH_VARIABLES, empty="empty")
                breakdown = TOTAL
            else:
                ethnic_rows.append((line, period, row["variable_a"], row["variable_b"], measure))
                breakdown = ("Ethnic Group", row["variable_a"], row["variable_b"])
            identity = (period, breakdown, measure)
            if identity in where:
                raise source.fail(line, "measure_name", Kind.FIGURE_TWICE, earlier=where[identity])
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
                        raise source.fail(lines[(period, group, member)], "variable_a", Kind.NO_GROUP_FOR,
                                          member=member[:40])
                    breakdown = (kind, group_of[member], member)
            target = regrouped.setdefault((period, breakdown), {})
            clash = set(target) & set(values)
            if clash:
                raise source.fail(lines.get((period, group, member), 0), "variable_b", Kind.BREAKDOWN_TWICE,
                                  breakdown=breakdown, period=period)
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
                raise source.fail(1, column, Kind.MONTHLY_COLUMN_NAME)
            measure_id, nhs_name, kind = match.groups()
            if measure_id not in definitions or definitions[measure_id][0] != nhs_name:
                raise source.fail(1, column, Kind.MEASURE_NOT_DEFINED, definitions=MONTHLY_METADATA_FILE,
                                  measure=column)
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
                    values.append(cell_value(row[column], allow_suppressed=False, allow_blank=True))
                except CellError as error:
                    raise source.fail_cell(line, column, error) from None
            if (area, period) in first_line:
                raise source.fail(line, "provider_code", Kind.PROVIDER_MONTH_TWICE, earlier=first_line[area, period])
            first_line[area, period] = line
            rows.append((area, period, TOTAL, tuple(values)))
        return FigureTable("monthly_providers", MONTHLY_FILE, tuple(keys), rows), measures


def read_iapt_directory(directory: Path) -> IaptData:
    """Every file of the published layout (tests/data/iapt, unpacked), parsed and checked; raises ImportRefused."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ImportRefused.one(Kind.NOT_A_DIRECTORY, str(directory))
    reader = _Reader(directory)
    measures = reference_files.annual_definitions(directory, ANNUAL_MEASURES)
    tables = [reader.annual(TOTALS_FILE, "annual_totals"), reader.annual(ETHNICITY_FILE, "annual_ethnicity"),
              reader.legacy()]
    monthly_table, monthly_measures = reader.monthly(reference_files.monthly_definitions(directory))
    tables.append(monthly_table)
    measures.update(monthly_measures)

    areas = {key: [name for name, _ in sorted(names.items(), key=lambda item: (item[1], item[0]), reverse=True)]
             for key, names in reader.area_names.items()}
    providers = reference_files.providers(directory)
    aliases, ons_to_ods = reference_files.other_names(directory, areas, providers)
    links = reference_files.links_between(areas, providers)
    for link in links:
        for end in (link.from_area, link.to_area):
            if end not in areas:
                raise ImportRefused.one(Kind.LINK_TO_UNKNOWN_AREA, TOTALS_FILE, from_area=link.from_area,
                                        to_area=link.to_area, missing=end)
    populations = reference_files.populations(directory, ons_to_ods)
    populations = [dataclasses.replace(p, area=None) if p.area not in areas else p for p in populations]
    return IaptData(areas, reader.periods, measures, tables, aliases, links, populations)
