"""The analysis /stats adds to the published figures (rank among peers, recovered ÷ referrals by
ethnic group, two areas side by side), each checked against the published CSV files read here
with the csv module alone, independently of the code under test: a rank by sorting the raw
column, a share by dividing the raw counts. On the shipped files, and on IAPT_DATA_DIR when set.
"""

from __future__ import annotations

import asyncio
import csv
import functools
import shutil
from collections import defaultdict

import pytest
import pytest_asyncio
from typer.testing import CliRunner

from messages import render
from messages.charts import render_rank_chart
from storage.iapt.answers import (
    AreaAnswer,
    ChoicesAnswer,
    CompareAnswer,
    ComparePromptAnswer,
    EthnicityAnswer,
    RankAnswer,
    View,
)
from storage.iapt.report import StatsDesk, parse_stats_request
from storage.telegram_html import visible_length
from tests.iapt_support import DATA_DIR, _sqlite_template_file, loaded_database, requires_data

pytestmark = requires_data
in_module_loop = pytest.mark.asyncio(loop_scope="module")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# (query, org type, year): areas of each kind, before and after the 2021 mergers.
RANKED = (
    ("08V 2018-19", "CCG", "2018-19"),
    ("08V 2020-21", "CCG", "2020-21"),
    ("A3A8R 2021-22", "CCG", "2021-22"),
    ("QMF 2024-25", "ICB", "2024-25"),
    ("RWK53 2019-20", "Provider", "2019-20"),
    ("RWK53 2024-25", "Provider", "2024-25"),
    ("11X 2017-18", "CCG", "2017-18"),
)


# ------------------------------------------------------------------ the published files, read plainly


@functools.cache
def totals() -> list[dict[str, str]]:
    with open(DATA_DIR / "iapt_annual_totals.csv", newline="", encoding="utf-8") as file:
        return [row for row in csv.DictReader(file) if row["variable_type"] == "Total"]


@functools.cache
def ethnicity_rows() -> list[dict[str, str]]:
    with open(DATA_DIR / "iapt_annual_ethnicity.csv", newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def number(text: str) -> float | None:
    return None if text in ("*", "", "NULL") else float(text)


def share(top: str, bottom: str) -> tuple[float | None, bool]:
    """(the share at one decimal, whether a count was suppressed), as the answers define it."""
    if "*" in (top, bottom):
        return None, True
    a, b = number(top), number(bottom)
    return (None, False) if a is None or not b else (round(100 * a / b, 1), False)


def peer_values(org_type: str, year: str, measure: str) -> dict[str, tuple[float | None, bool]]:
    """code -> (value, suppressed) for every area of the kind in the year; NHS England's
    commissioning hubs and the "UNKNOWN" row are not areas."""
    values = {}
    for row in totals():
        if (row["org_type"], row["reporting_period"]) != (org_type, year):
            continue
        if row["org_code"] == "UNKNOWN" or "COMMISSIONING HUB" in row["org_name"].upper():
            continue
        if measure == "recovery_percentage":
            raw = row["recovery_percentage"]
            values[row["org_code"]] = (number(raw), raw == "*")
        else:
            top = {"finished_of_referrals": "finished_course_treatment_count",
                   "recovered_of_referrals": "recovery_count"}[measure]
            values[row["org_code"]] = share(row[top], row["referrals_received_count"])
    return values


def expected_rank(values: dict[str, tuple[float | None, bool]], code: str) -> dict:
    ranked = sorted((v for v, _s in values.values() if v is not None), reverse=True)
    mine = values[code][0]
    top = max(ranked)
    bottom = min(ranked)
    return {
        "position": None if mine is None else 1 + sum(1 for v in ranked if v > mine),
        "joint": mine is not None and ranked.count(mine) > 1,
        "of": len(ranked),
        "suppressed": sum(1 for v, s in values.values() if v is None and s),
        "highest": {c for c, (v, _s) in values.items() if v == top},
        "lowest": {c for c, (v, _s) in values.items() if v == bottom},
    }


# ------------------------------------------------------------------ the desk over the loaded files


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def desk(tmp_path_factory):
    async with loaded_database(tmp_path_factory.mktemp("analysis")) as db:
        yield StatsDesk(db)


@pytest.mark.parametrize(("text", "left", "right", "year", "view"), [
    ("tower hamlets vs hackney", "tower hamlets", "hackney", None, View.COMPARE),
    ("Tower Hamlets versus City and Hackney 2018-19", "Tower Hamlets", "City and Hackney", "2018-19", View.COMPARE),
    ("08V 2019-20 v 07T", "08V", "07T", "2019-20", View.COMPARE),
    ("tower hamlets compared with england", "tower hamlets", "england", None, View.COMPARE),
    ("tower hamlets rank", "tower hamlets", None, None, View.RANK),
    ("tower hamlets 2018-19 peers", "tower hamlets", None, "2018-19", View.RANK),
])
def test_comparisons_and_ranks_are_read_from_the_question(text, left, right, year, view):
    request = parse_stats_request(text)
    assert (request.area_text, request.other_text, request.year, request.view) == (left, right, year, view)


@in_module_loop
@pytest.mark.parametrize(("text", "org_type", "year"), RANKED)
async def test_the_rank_among_peers_is_the_published_column_sorted(desk, text, org_type, year):
    answer = await desk.answer(f"{text} rank")
    assert isinstance(answer, RankAnswer) and answer.ranking.period.label == year
    assert answer.ranking.org_type == org_type
    ranks = {rank.key: rank for rank in answer.ranking.ranks}
    for measure in ("recovery_percentage", "finished_of_referrals", "recovered_of_referrals"):
        values = peer_values(org_type, year, measure)
        want = expected_rank(values, answer.area.code)
        got = ranks[measure]
        assert (got.position, got.joint, got.of, got.left_out_suppressed) == (
            want["position"], want["joint"], want["of"], want["suppressed"]), (text, measure)
        assert {p.area.code for p in got.highest} == want["highest"]
        assert {p.area.code for p in got.lowest} == want["lowest"]
        assert got.value == values[answer.area.code][0]
    text = render("stats_rank.txt", answer=answer)
    assert "where 1st is highest" in text and "calculated by campaign-bot" in text


@in_module_loop
async def test_every_ranked_area_of_the_whole_data(desk):
    """Every area of every kind in every year, not only the chosen few (the shipped files are the
    whole published data; IAPT_DATA_DIR may point at newer files)."""
    index = await desk.index()
    for area in index.areas.values():
        if area.org_type not in ("CCG", "ICB", "Provider") or area.code == "UNKNOWN":
            continue
        for year in index.years_of(area.id):
            answer = await desk.answer_for_area(area.id, view=View.RANK, year=year)
            if answer.ranking is None:
                continue
            rank = answer.ranking.ranks[0]
            want = expected_rank(peer_values(area.org_type, year, "recovery_percentage"), area.code)
            assert (rank.position, rank.of) == (want["position"], want["of"]), (area.code, year)


@in_module_loop
async def test_the_summary_leads_with_the_rank_line_and_folds_the_rest(desk):
    answer = await desk.answer("tower hamlets")
    assert isinstance(answer, AreaAnswer)
    values = peer_values("CCG", "2020-21", "recovery_percentage")
    want = expected_rank(values, "08V")
    html = render("stats_area.html", answer=answer)
    first_screen, folded = html.split("<blockquote expandable>", 1)
    joint = "joint " if want["joint"] else ""
    assert f"recovery rate {joint}{want['position']}" in first_screen
    assert f"of {want['of']}" in first_screen
    assert "Referrals received: <b>11,985</b>" in first_screen
    # Folded, not removed: definitions, population, source and licence are all still there.
    for kept in ("Recovery rate, as NHS Digital defines it", "Population:", "Source:", "Open Government Licence",
                 "Reliable improvement", "merged into NHS NORTH EAST LONDON CCG"):
        assert kept in folded and kept not in first_screen, kept
    assert first_screen.count("\n") <= 16  # what a phone shows before scrolling


@in_module_loop
async def test_an_area_that_stopped_publishing_says_how_old_its_figures_are(desk):
    answer = await desk.answer("tower hamlets")
    assert answer.newest_year.label == max(r["reporting_period"] for r in totals() if r["org_type"] == "England")
    text = render("stats_area.txt", answer=answer)
    assert "NHS TOWER HAMLETS CCG has none after 2020-21, and England's newest are for 2024-25" in text
    assert f"The first button leads to newer figures: {answer.offers[0].name}." in text
    current = await desk.answer("RWK53")
    assert current.newest_year is None and "These are old figures" not in render("stats_area.txt", answer=current)


@in_module_loop
@pytest.mark.parametrize(("text", "code", "year"), [("tower hamlets 2017-18", "08V", "2017-18"),
                                                     ("tower hamlets 2018-19", "08V", "2018-19"),
                                                     ("A3A8R 2021-22", "A3A8R", "2021-22")])
async def test_recovered_of_referrals_for_each_ethnic_group_beside_england(desk, text, code, year):
    answer = await desk.answer(f"{text} ethnicity")
    assert isinstance(answer, EthnicityAnswer)
    published = defaultdict(dict)
    for row in ethnicity_rows():
        if row["reporting_period"] == year and row["org_code"] in (code, "All"):
            member = "" if row["variable_b"] == "NULL" else row["variable_b"]
            published[row["org_code"]][(row["variable_type"], row["variable_a"], member)] = row
    assert answer.rows
    for row in answer.rows:
        mine = published[code][(row.variable_type, row.group, row.member)]
        value, suppressed = share(mine["recovery_count"], mine["referrals_received_count"])
        assert (row.recovered_of_referrals.value, row.recovered_of_referrals.input_suppressed) == (value, suppressed)
        england = published["All"][(row.variable_type, row.group, row.member)]
        assert row.england_recovered_of_referrals.value == share(england["recovery_count"],
                                                                 england["referrals_received_count"])[0]
    text = render("stats_ethnicity.txt", answer=answer)
    assert "so the two are not the same people" in text


@in_module_loop
async def test_bangladeshi_referrals_that_moved_to_recovery_in_2017_18(desk):
    text = render("stats_ethnicity.txt", answer=await desk.answer("tower hamlets 2017-18 ethnicity"))
    # 65 of 1,460 referrals (SOURCE.md's spot values): 4.5%.
    assert "Bangladeshi: 1,460 · 185 · 65 (39%) · England 43% | 4.5% · 11.6%" in text
    assert "Pakistani: 75 · 10 · suppressed (suppressed) · England 42.6% | suppressed · 14.4%" in text


@in_module_loop
async def test_two_areas_side_by_side_in_the_latest_year_both_have(desk):
    answer = await desk.answer("tower hamlets vs hackney")
    assert isinstance(answer, CompareAnswer)
    assert (answer.left.code, answer.right.code) == ("08V", "07T")
    years = {code: {r["reporting_period"] for r in totals() if r["org_code"] == code} for code in ("08V", "07T")}
    assert answer.period.label == max(years["08V"] & years["07T"])
    rows = {row.key: row for row in answer.rows}
    raw = {r["org_code"]: r for r in totals() if r["reporting_period"] == answer.period.label
           and r["org_code"] in ("08V", "07T", "All")}
    for key in ("referrals_received_count", "finished_course_treatment_count", "recovery_count",
                "recovery_percentage"):
        left, right = number(raw["08V"][key]), number(raw["07T"][key])
        assert (rows[key].left.value, rows[key].right.value) == (left, right)
        assert rows[key].difference == round(left - right, 1)
        assert rows[key].england.value == number(raw["All"][key])
    for key, top in (("finished_of_referrals", "finished_course_treatment_count"),
                     ("recovered_of_referrals", "recovery_count")):
        left = share(raw["08V"][top], raw["08V"]["referrals_received_count"])[0]
        right = share(raw["07T"][top], raw["07T"]["referrals_received_count"])[0]
        assert (rows[key].left.value, rows[key].right.value, rows[key].difference) == (
            left, right, round(left - right, 1))
    text = render("stats_compare.txt", answer=answer)
    assert "the latest year both have" in text and "calculated by campaign-bot" in text


@in_module_loop
async def test_a_comparison_without_a_common_year_says_which_years_each_has(desk):
    answer = await desk.answer("tower hamlets vs QMF")
    assert isinstance(answer, CompareAnswer) and answer.period is None
    assert answer.left_years == ("2017-18", "2018-19", "2019-20", "2020-21")
    assert "They have no year of figures in common." in render("stats_compare.txt", answer=answer)
    asked = await desk.answer("tower hamlets vs hackney 2023-24")
    assert asked.period is None and "do not both have figures for 2023-24" in render("stats_compare.txt",
                                                                                       answer=asked)


@in_module_loop
async def test_an_ambiguous_second_area_offers_choices_to_compare_with(desk):
    answer = await desk.answer("tower hamlets vs mind")
    assert isinstance(answer, ChoicesAnswer) and answer.compare_with.code == "08V"
    assert not answer.compare_first and len(answer.candidates) >= 2


@in_module_loop
async def test_the_compare_prompt_offers_neighbours_and_the_areas_it_leads_to(desk):
    index = await desk.index()
    area = next(a for a in index.areas.values() if a.code == "08V")
    prompt = await desk.answer_for_area(area.id, view=View.COMPARE)
    assert isinstance(prompt, ComparePromptAnswer)
    codes = [a.code for a in prompt.candidates]
    # Its local service shares its years; its successors (2021-22 on) share none, so are not offered.
    assert codes[0] == "RWK53" and not {"08V", "A3A8R", "QMF"} & set(codes) and 3 <= len(codes) <= 6
    ranked = (await desk.answer("08V rank")).ranking.ranks[0].ranked
    at = [p.area.code for p in ranked].index("08V")
    assert {ranked[at - 1].area.code, ranked[at + 1].area.code} <= set(codes)
    assert "/stats 08V vs" in render("stats_compare_prompt.html", answer=prompt)


@in_module_loop
async def test_the_rank_chart_is_a_png_and_england_has_no_peers(desk):
    answer = await desk.answer("tower hamlets rank")
    assert render_rank_chart(answer).startswith(PNG_SIGNATURE)
    england = await desk.answer("england rank")
    assert england.ranking is None and "no peers" in render("stats_rank.txt", answer=england)


def test_the_terminal_shows_each_new_form(tmp_path, monkeypatch):
    from bot.cli.main import app

    template = asyncio.run(_sqlite_template_file())
    shutil.copyfile(template, tmp_path / "cli.db")
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/cli.db")
    runner = CliRunner()
    compared = runner.invoke(app, ["stats", "show", "tower", "hamlets", "--vs", "hackney"])
    assert compared.exit_code == 0, compared.output
    assert compared.output.startswith("NHS TOWER HAMLETS CCG vs NHS CITY AND HACKNEY CCG")
    assert "Recovery rate: 53% · 61% · -8 points · England 51.4%" in compared.output
    typed = runner.invoke(app, ["stats", "show", "tower hamlets vs hackney"])
    assert typed.output == compared.output
    chart = tmp_path / "rank.png"
    ranked = runner.invoke(app, ["stats", "show", "08V", "--year", "2018-19", "--rank", "--chart", str(chart)])
    assert ranked.exit_code == 0, ranked.output
    assert "Where it stands among CCGs in 2018-19 (1st is highest):" in ranked.output
    assert chart.read_bytes().startswith(PNG_SIGNATURE)
    summary = runner.invoke(app, ["stats", "show", "tower", "hamlets"])
    assert "Rank among CCGs in 2020-21, 1st highest: recovery rate " in summary.output
    assert "These are old figures" in summary.output


@in_module_loop
async def test_every_ethnicity_answer_of_every_year_fits_one_message(desk):
    """Recovered ÷ referrals on every group's line must not push a service with many groups past
    Telegram's 4,096 characters (the asker would get an apology instead)."""
    index = await desk.index()
    for area in index.areas.values():
        for year in index.years_of(area.id):
            answer = await desk.answer_for_area(area.id, view=View.ETHNICITY, year=year)
            assert visible_length(render(answer.html_template, answer=answer)) <= 4096, (area.name, year)
