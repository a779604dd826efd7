"""Importing the published IAPT files: real spot values, suppression, idempotence, refusals.

Expected values are the spot values published with the data (its notes list them), checked through
plain SQL over the imported tables (not through the report code).
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import shutil
from pathlib import Path

import pytest
import pytest_asyncio
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select, text
from sqlmodel import SQLModel

from messages import render
from storage.iapt import writing
from storage.iapt.bundle import BUNDLE_PATH, read_bundle
from storage.iapt.loading import ensure_iapt_figures
from storage.iapt.reading import read_iapt_directory
from storage.iapt.records import IaptData, MeasureRecord, Period
from storage.iapt.tables import (
    IaptArea,
    IaptAreaLink,
    IaptBreakdown,
    IaptFigure,
    IaptMeasure,
    IaptPeriod,
    IaptPopulation,
)
from storage.iapt.writing import import_iapt_directory, write_iapt_data
from storage.import_problems import ImportRefused
from tests.iapt_support import DATA_DIR, fresh_database, loaded_database, published_data, requires_data
from tests.template_samples import import_problem_words

# One event loop for the module, so that one loaded database serves every test that only reads
# or leaves it as it was (loading a million figures takes seconds).
pytestmark = requires_data
in_module_loop = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def published():
    return published_data()


async def figure(db, org_type, code, period, measure, breakdown=("Total", "", "")):
    """(value, suppressed) of one figure, or None when the database has no such figure."""
    query = (
        select(IaptFigure.value, IaptFigure.suppressed)
        .join(IaptArea, IaptArea.id == IaptFigure.area_id)
        .join(IaptPeriod, IaptPeriod.id == IaptFigure.period_id)
        .join(IaptMeasure, IaptMeasure.id == IaptFigure.measure_id)
        .join(IaptBreakdown, IaptBreakdown.id == IaptFigure.breakdown_id)
        .where(IaptArea.org_type == org_type, IaptArea.code == code, IaptPeriod.label == period,
               IaptMeasure.key == measure, IaptBreakdown.variable_type == breakdown[0],
               IaptBreakdown.variable_a == breakdown[1], IaptBreakdown.variable_b == breakdown[2])
    )
    async with db.transaction() as session:
        row = (await session.execute(query)).first()
    return None if row is None else (row.value, row.suppressed)


async def snapshot(db) -> dict:
    """Everything the import writes, reduced to comparable numbers."""
    tables = ["iapt_areas", "iapt_area_aliases", "iapt_area_links", "iapt_periods", "iapt_measures",
              "iapt_breakdowns", "iapt_datasets", "iapt_figures", "iapt_population"]
    state = {}
    async with db.transaction() as session:
        for table in tables:
            state[table] = (await session.execute(text(f"SELECT COUNT(*) FROM {table}"))).scalar_one()
        # Integer sums (values have at most one decimal), so that the summation order cannot matter.
        state["figures"] = tuple((await session.execute(text(
            "SELECT SUM(CAST(ROUND(value * 10) AS BIGINT)), SUM(CASE WHEN suppressed THEN 1 ELSE 0 END), "
            "SUM(CAST(ROUND(COALESCE(value, 0) * 10) AS BIGINT) * (area_id * 7 + period_id * 3 + measure_id "
            "+ breakdown_id * 11)) FROM iapt_figures"))).one())
        state["datasets"] = sorted(tuple(r) for r in (await session.execute(text(
            "SELECT key, content_sha256, figure_count, imported_at FROM iapt_datasets"))).all())
        state["names"] = sorted(tuple(r) for r in (await session.execute(text(
            "SELECT org_type, code, name FROM iapt_areas"))).all())
    return state


SPOT_VALUES = [
    # totals
    ("CCG", "08V", "2018-19", "referrals_received_count", 10270),
    ("CCG", "08V", "2018-19", "finished_course_treatment_count", 1710),
    ("CCG", "08V", "2018-19", "recovery_count", 740),
    ("CCG", "08V", "2018-19", "recovery_percentage", 49),
    ("CCG", "08V", "2018-19", "reliable_recovery_percentage", 47),
    ("CCG", "08V", "2017-18", "referrals_received_count", 8195),
    ("CCG", "08V", "2017-18", "finished_course_treatment_count", 1175),
    ("CCG", "08V", "2017-18", "recovery_count", 595),
    ("CCG", "08V", "2017-18", "recovery_percentage", 55),
    ("CCG", "08V", "2019-20", "referrals_received_count", 11205),
    ("CCG", "08V", "2020-21", "referrals_received_count", 11985),
    ("CCG", "08V", "2019-20", "finished_course_treatment_count", 3445),
    ("CCG", "08V", "2020-21", "finished_course_treatment_count", 5030),
    ("CCG", "08V", "2019-20", "recovery_percentage", 51),
    ("CCG", "08V", "2020-21", "recovery_percentage", 53),
    ("CCG", "A3A8R", "2021-22", "referrals_received_count", 71940),
    ("CCG", "A3A8R", "2021-22", "finished_course_treatment_count", 25275),
    ("CCG", "A3A8R", "2021-22", "recovery_percentage", 54),
    ("England", "All", "2018-19", "referrals_received_count", 1603643),
    ("England", "All", "2018-19", "finished_course_treatment_count", 582556),
    ("England", "All", "2018-19", "recovery_count", 284810),
    ("England", "All", "2018-19", "recovery_percentage", 52.1),
    ("England", "All", "2024-25", "referrals_received_count", 1813432),
    ("England", "All", "2024-25", "finished_course_treatment_count", 670419),
    ("England", "All", "2024-25", "recovery_percentage", 50.5),
    # legacy England file
    ("England", "All", "2015-16", "referrals_received_count", 1399088),
    ("England", "All", "2015-16", "finished_course_treatment_count", 537131),
    ("England", "All", "2015-16", "recovery_count", 226850),
    ("England", "All", "2015-16", "recovery_percentage", 46.3),
    ("England", "All", "2016-17", "referrals_received_count", 1385664),
    ("England", "All", "2016-17", "finished_course_treatment_count", 567106),
    ("England", "All", "2016-17", "recovery_count", 258888),
    ("England", "All", "2016-17", "recovery_percentage", 49.3),
    # monthly
    ("Provider", "RWK53", "2026-03", "M001", 1040),
    ("Provider", "RWK53", "2026-03", "M031", 540),
    ("Provider", "RWK53", "2026-03", "M048", 29.1),
    ("Provider", "RWK53", "2026-03", "M076", 315),
    ("Provider", "RWK53", "2026-03", "M192", 49),
    ("England", "All", "2026-03", "M001", 163100),
    ("England", "All", "2026-03", "M031", 96682),
    ("England", "All", "2026-03", "M076", 57590),
    ("England", "All", "2026-03", "M192", 51.2),
]
ETHNIC_SPOT_VALUES = [
    ("2018-19", ("Ethnic Group", "Asian or Asian British", "Bangladeshi"), (2265, 335, 105, 35)),
    ("2017-18", ("Ethnic Group", "Asian or Asian British", "Bangladeshi"), (1460, 185, 65, 39)),
    ("2018-19", ("Ethnic Group", "White", "British"), (2655, 670, 320, 55)),
]
ETHNIC_MEASURES = ("referrals_received_count", "finished_course_treatment_count", "recovery_count",
                   "recovery_percentage")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def loaded(tmp_path_factory):
    """Shared: tests may read it, or fail to change it, but must leave it as it was."""
    async with loaded_database(tmp_path_factory.mktemp("loaded")) as db:
        yield db


@pytest_asyncio.fixture(loop_scope="module")
async def own_loaded(tmp_path):
    """A loaded database of the test's own, to change."""
    async with loaded_database(tmp_path) as db:
        yield db


@in_module_loop
async def test_spot_values_from_source_md(loaded):
    for org_type, code, period, measure, expected in SPOT_VALUES:
        assert await figure(loaded, org_type, code, period, measure) == (expected, False), (code, period, measure)
    for period, breakdown, values in ETHNIC_SPOT_VALUES:
        for measure, expected in zip(ETHNIC_MEASURES, values, strict=True):
            assert await figure(loaded, "CCG", "08V", period, measure, breakdown) == (expected, False)


@in_module_loop
async def test_areas_periods_measures_and_population_are_normalised(loaded):
    async with loaded.transaction() as session:
        tower = (await session.execute(select(IaptArea).where(IaptArea.code == "08V"))).scalar_one()
        assert (tower.org_type, tower.name, tower.search_key) == ("CCG", "NHS TOWER HAMLETS CCG", "tower hamlets")
        # The same ODS code as an STP and, later, an ICB: two areas.
        assert (await session.execute(select(func.count()).where(IaptArea.code == "QMF"))).scalar_one() == 2
        period = (await session.execute(select(IaptPeriod).where(IaptPeriod.label == "2018-19"))).scalar_one()
        assert (str(period.start_date), str(period.end_date)) == ("2018-04-01", "2019-03-31")
        assert period.frequency == "annual"
        assert "2018-19" in period.publication
        month = (await session.execute(select(IaptPeriod).where(IaptPeriod.label == "2026-03"))).scalar_one()
        assert (str(month.start_date), str(month.end_date), month.frequency) == ("2026-03-01", "2026-03-31", "monthly")
        rate = (await session.execute(select(IaptMeasure).where(IaptMeasure.key == "recovery_percentage"))).scalar_one()
        assert rate.nhs_name == "Percentage_Recovery" and "moved to recovery" in rate.definition
        m192 = (await session.execute(select(IaptMeasure).where(IaptMeasure.key == "M192"))).scalar_one()
        assert m192.nhs_name == "Percentage_Recovery" and m192.frequency == "monthly" and m192.definition
        populations = {(p.geography_code, p.reference): p for p in (await session.execute(
            select(IaptPopulation).where(IaptPopulation.reference == "mid-2018"))).scalars()}
        assert populations["E09000030", "mid-2018"].value == 317705
        assert populations["E09000030", "mid-2018"].area_id == tower.id
        assert populations["E92000001", "mid-2018"].value == 55977178
        assert populations["E92000001", "mid-2018"].source.startswith("github:odileeds")


@in_module_loop
async def test_the_08v_merger_and_local_service_are_recorded(loaded):
    async with loaded.transaction() as session:
        areas = {a.id: (a.org_type, a.code) for a in (await session.execute(select(IaptArea))).scalars()}
        links = {(areas[link.from_area_id], areas[link.to_area_id], link.kind, str(link.effective_on))
                 for link in (await session.execute(select(IaptAreaLink))).scalars()}
    assert (("CCG", "08V"), ("CCG", "A3A8R"), "merged_into", "2021-04-01") in links
    assert (("CCG", "A3A8R"), ("ICB", "QMF"), "succeeded_by", "2022-07-01") in links
    assert (("CCG", "08V"), ("Provider", "RWK53"), "local_service", "None") in links
    assert (("STP", "QMF"), ("ICB", "QMF"), "succeeded_by", "2022-07-01") in links


def published_suppressed_cells() -> int:
    """'*' cells in the annual files, counted straight from the CSVs (a row published twice counts once)."""
    seen, stars = set(), 0
    for name in ("iapt_annual_totals.csv", "iapt_annual_ethnicity.csv"):
        with (DATA_DIR / name).open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                identity = (row["reporting_period"], row["org_type"], row["org_code"], row["variable_type"],
                            row["variable_a"], row["variable_b"])
                if identity not in seen:
                    seen.add(identity)
                    stars += sum(1 for value in list(row.values())[9:] if value == "*")
    with (DATA_DIR / "iapt_annual_england_2012_2017_legacy.csv").open(encoding="utf-8", newline="") as handle:
        stars += sum(1 for row in csv.DictReader(handle) if row["value"] == "*")
    return stars


@in_module_loop
async def test_suppressed_cells_stay_suppressed_never_zero(loaded):
    # 2017-18, NHS Darlington CCG, Any Other Asian Background: ten referrals, then '*' from not_at_caseness on.
    breakdown = ("Ethnic Group", "Asian or Asian British", "Any Other Asian Background")
    assert await figure(loaded, "CCG", "00C", "2017-18", "referrals_received_count", breakdown) == (10, False)
    assert await figure(loaded, "CCG", "00C", "2017-18", "not_at_caseness_count", breakdown) == (None, True)
    assert await figure(loaded, "CCG", "00C", "2017-18", "recovery_percentage", breakdown) == (None, True)
    async with loaded.transaction() as session:
        suppressed = (await session.execute(select(func.count()).where(IaptFigure.suppressed))).scalar_one()
        inconsistent = (await session.execute(select(func.count()).where(
            (IaptFigure.suppressed & IaptFigure.value.is_not(None))
            | (~IaptFigure.suppressed & IaptFigure.value.is_(None))))).scalar_one()
    assert suppressed == published_suppressed_cells() > 0
    assert inconsistent == 0


@in_module_loop
async def test_reimporting_the_same_files_changes_nothing(loaded, published):
    before = await snapshot(loaded)
    summary = await import_iapt_directory(loaded, DATA_DIR)
    assert not summary.changed
    assert summary.figures_written == 0 and summary.datasets_replaced == []
    assert summary.suppressed_total == published_suppressed_cells()
    assert await snapshot(loaded) == before


@in_module_loop
async def test_a_changed_figure_replaces_only_its_table(own_loaded, tmp_path):
    changed = linked_copy(tmp_path / "changed", edit="iapt_annual_totals.csv")
    text_before = (changed / "iapt_annual_totals.csv").read_text(encoding="utf-8")
    row_start = "NHS TOWER HAMLETS CCG,Total,NULL,NULL,"
    assert text_before.count(row_start + "10270,") == 1
    (changed / "iapt_annual_totals.csv").write_text(text_before.replace(row_start + "10270,", row_start + "10275,"),
                                                     encoding="utf-8")
    summary = await import_iapt_directory(own_loaded, changed)
    assert summary.datasets_replaced == ["annual_totals"]
    assert await figure(own_loaded, "CCG", "08V", "2018-19", "referrals_received_count") == (10275, False)
    assert await figure(own_loaded, "CCG", "08V", "2017-18", "referrals_received_count") == (8195, False)


def linked_copy(target: Path, *, edit: str | None = None) -> Path:
    """The data directory as symlinks, with `edit` as a real copy that a test may change."""
    target.mkdir(parents=True)
    for source in DATA_DIR.iterdir():
        if source.name == edit:
            shutil.copyfile(source, target / source.name)
        else:
            (target / source.name).symlink_to(source)
    return target


def corrupt(directory: Path, name: str, line: int, column: str, new: str) -> None:
    """Replace one cell (by column name) on one physical line of a CSV file."""
    path = directory / name
    lines = path.read_text(encoding="utf-8-sig").splitlines(keepends=True)
    header = next(csv.reader([lines[0]]))
    cells = next(csv.reader([lines[line - 1]]))
    cells[header.index(column)] = new
    lines[line - 1] = ",".join(f'"{c}"' if "," in c else c for c in cells) + "\n"
    path.write_text("".join(lines), encoding="utf-8")


MALFORMED = [
    ("iapt_annual_totals.csv", 12, "recovery_percentage", "4O", "21 (recovery_percentage)", "expected a number or '*'"),
    ("iapt_annual_ethnicity.csv", 40123, "referrals_received_count", "", "10 (referrals_received_count)",
     "expected a number or '*'"),
    ("iapt_annual_totals.csv", 7, "reporting_period", "2018-20", "1 (reporting_period)", "financial year"),
    ("iapt_annual_totals.csv", 300, "org_type", "Borough", "4 (org_type)", "unknown organisation type"),
    ("iapt_monthly_provider_key_measures.csv", 5000, "M001_Count_ReferralsReceived", "12x",
     "7 (M001_Count_ReferralsReceived)", "expected a number or blank"),
    ("iapt_monthly_provider_key_measures.csv", 9, "end_date", "2021-01-30", "3 (end_date)", "should run"),
    ("iapt_annual_england_2012_2017_legacy.csv", 3, "value", "n/a", "12 (value)", "expected a number"),
    ("population.csv", 2, "population", "about 300k", "5 (population)", "whole number"),
]


@pytest.mark.parametrize(("name", "line", "column", "new", "where", "problem"), MALFORMED)
def test_a_malformed_cell_is_refused_with_file_line_and_column(tmp_path, name, line, column, new, where, problem):
    directory = linked_copy(tmp_path / "data", edit=name)
    corrupt(directory, name, line, column, new)
    with pytest.raises(ImportRefused) as refused:
        read_iapt_directory(directory)
    found = refused.value.first
    assert (found.file, found.line, found.column) == (name, line, where)
    assert problem in import_problem_words(found)
    assert f"{name}, line {line}, column {where}" in render("stats_import_rejected.txt", error=refused.value)


def test_a_row_with_too_many_cells_and_a_missing_file_are_refused(tmp_path):
    directory = linked_copy(tmp_path / "data", edit="iapt_annual_totals.csv")
    path = directory / "iapt_annual_totals.csv"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[99] = lines[99].rstrip("\n") + ",42\n"
    path.write_text("".join(lines), encoding="utf-8")
    with pytest.raises(ImportRefused) as refused:
        read_iapt_directory(directory)
    found = refused.value.first
    assert (found.file, found.line, found.column) == ("iapt_annual_totals.csv", 100, "24")
    assert "expected 23 cells, found 24" in import_problem_words(found)

    (directory / "metadata_measures_monthly.csv").unlink()
    path.unlink()
    (directory / "iapt_annual_totals.csv").symlink_to(DATA_DIR / "iapt_annual_totals.csv")
    with pytest.raises(ImportRefused) as refused:
        read_iapt_directory(directory)
    found = refused.value.first
    assert found.file == "metadata_measures_monthly.csv" and "missing" in import_problem_words(found)


@in_module_loop
async def test_a_refused_import_leaves_the_database_as_it_was(loaded, tmp_path):
    before = await snapshot(loaded)
    directory = linked_copy(tmp_path / "data", edit="iapt_monthly_provider_key_measures.csv")
    corrupt(directory, "iapt_monthly_provider_key_measures.csv", 9000, "M192_Percentage_Recovery", "fifty")
    with pytest.raises(ImportRefused):
        await import_iapt_directory(loaded, directory)
    assert await snapshot(loaded) == before


@in_module_loop
async def test_a_failure_while_writing_rolls_everything_back(loaded, tmp_path, monkeypatch):
    before = await snapshot(loaded)
    directory = linked_copy(tmp_path / "data", edit="iapt_annual_totals.csv")
    corrupt(directory, "iapt_annual_totals.csv", 2, "org_name", "A NEW NAME FOR DARLINGTON")
    corrupt(directory, "iapt_annual_totals.csv", 2, "referrals_received_count", "2545")
    real_insert = writing._insert_figures
    calls = []

    async def insert_then_fail(*args, **kwargs):
        written = await real_insert(*args, **kwargs)
        calls.append(written)
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(writing, "_insert_figures", insert_then_fail)
    with pytest.raises(RuntimeError):
        await import_iapt_directory(loaded, directory)
    assert calls and calls[0] > 0  # old figures were deleted and new ones written before the failure
    assert await snapshot(loaded) == before


def test_the_embedded_bundle_holds_exactly_the_published_files(published):
    bundled = read_bundle(BUNDLE_PATH)
    assert BUNDLE_PATH.stat().st_size < 5_000_000
    assert {t.key: t.content_sha256() for t in bundled.tables} == {t.key: t.content_sha256() for t in published.tables}
    assert bundled.areas == published.areas and bundled.periods == published.periods
    assert bundled.measures == published.measures and bundled.aliases == published.aliases
    assert bundled.links == published.links and bundled.populations == published.populations


@in_module_loop
async def test_ensure_loads_the_bundle_only_into_an_empty_database(tmp_path):
    async with fresh_database(tmp_path) as db:
        first = await ensure_iapt_figures(db)
        assert first is not None and first.figures_written == first.figures_total > 1_000_000
        assert await figure(db, "CCG", "08V", "2018-19", "referrals_received_count") == (10270, False)
        assert await ensure_iapt_figures(db) is None
        after_files = await import_iapt_directory(db, DATA_DIR)
        assert not after_files.changed  # the bundle and the files are the same data


@in_module_loop
async def test_a_missing_bundle_leaves_the_database_empty(tmp_path):
    async with fresh_database(tmp_path) as db:
        assert await ensure_iapt_figures(db, bundle=tmp_path / "absent.json.gz") is None
        async with db.transaction() as session:
            assert (await session.execute(select(func.count()).select_from(IaptFigure))).scalar_one() == 0


@in_module_loop
async def test_the_migration_matches_the_models(tmp_path):
    async with fresh_database(tmp_path) as db, db.engine.connect() as connection:
        differences = await connection.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync), SQLModel.metadata))
    assert [d for d in differences if "iapt" in repr(d)] == []


@in_module_loop
async def test_what_the_period_and_measure_upserts_count(tmp_path):
    # Periods and measures share one upsert; the summary counts a changed period among the
    # periods "new or changed" (it has no periods_changed) and a changed measure apart.
    period = Period("2018-19", "annual", dt.date(2018, 4, 1), dt.date(2019, 3, 31), "a publication")
    measure = MeasureRecord("recovery_count", "annual", "count", "Count_Recovery", "a definition", "a source")

    def data(p: Period, m: MeasureRecord) -> IaptData:
        return IaptData({}, {p.label: p}, {m.key: m}, [], set(), [], [])

    async with fresh_database(tmp_path) as db:
        summaries = []
        for p, m in ((period, measure), (period, measure),
                     (dataclasses.replace(period, publication="corrected"),
                      dataclasses.replace(measure, definition="reworded"))):
            async with db.transaction() as session:
                summaries.append(await write_iapt_data(session, data(p, m)))
    first, again, edited = summaries
    assert (first.periods_added, first.measures_added, first.measures_changed) == (1, 1, 0)
    assert not again.changed
    assert (edited.periods_added, edited.measures_added, edited.measures_changed) == (1, 0, 1)
