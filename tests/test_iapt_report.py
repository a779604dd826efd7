"""Answers to /stats over the real published figures: values, England beside them, calculated
shares kept apart from published figures, the 08V merger, and every template rendering."""

from __future__ import annotations

import html
import re

import pytest
import pytest_asyncio
from typer.testing import CliRunner

from messages import chart_process, render
from messages.charts import render_trend_chart
from storage.iapt.answers import (
    AreaAnswer,
    ChoicesAnswer,
    EthnicityAnswer,
    HeadlineAnswer,
    NoFiguresAnswer,
    NotFoundAnswer,
    TrendAnswer,
    View,
    YearMissingAnswer,
)
from storage.iapt.figures import Figure, Share
from storage.iapt.report import StatsDesk, parse_stats_request
from storage.iapt.writing import import_iapt_directory
from tests.iapt_support import DATA_DIR, fresh_database, loaded_database, requires_data

pytestmark = requires_data
in_module_loop = pytest.mark.asyncio(loop_scope="module")
ATTRIBUTION = ("Contains public sector information licensed under the Open Government Licence v3.0. "
               "Source: NHS England (NHS Digital), NHS Talking Therapies / IAPT annual reports.")


def plain(telegram_html: str) -> str:
    """What Telegram shows of an HTML message: tags gone, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", telegram_html))


@pytest.mark.parametrize(("text", "area", "view", "year", "bare"), [
    ("tower hamlets", "tower hamlets", View.SUMMARY, None, None),
    ("tower hamlets 2018-19", "tower hamlets", View.SUMMARY, "2018-19", None),
    ("Tower Hamlets 2018/19 ethnicity", "Tower Hamlets", View.ETHNICITY, "2018-19", None),
    ("tower hamlets trend", "tower hamlets", View.TREND, None, None),
    ("tower hamlets 2019", "tower hamlets", View.SUMMARY, None, 2019),
    ("2018-2019 england", "england", View.SUMMARY, "2018-19", None),
    ("", "", View.SUMMARY, None, None),
])
def test_requests_are_split_into_area_year_and_view(text, area, view, year, bare):
    request = parse_stats_request(text)
    assert (request.area_text, request.view, request.year, request.bare_year) == (area, view, year, bare)


def test_a_span_that_is_not_one_financial_year_is_kept_as_a_bad_year():
    assert parse_stats_request("tower hamlets 2018-20").bad_year == "2018-20"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def desk(tmp_path_factory):
    async with loaded_database(tmp_path_factory.mktemp("report")) as db:
        yield StatsDesk(db)


def values(row) -> tuple:
    return tuple(None if f is None else f.value for f in (row.count, row.rate, row.england_count, row.england_rate))


@in_module_loop
async def test_a_given_year_beside_england_with_calculated_shares_apart(desk):
    answer = await desk.answer("tower hamlets 2018-19")
    assert isinstance(answer, AreaAnswer)
    assert (answer.area.code, answer.period.label, answer.latest) == ("08V", "2018-19", False)
    rows = {row.key: row for row in answer.rows}
    assert values(rows["referrals_received_count"]) == (10270, None, 1603643, None)
    assert values(rows["finished_course_treatment_count"]) == (1710, None, 582556, None)
    assert values(rows["recovery_count"]) == (740, 49, 284810, 52.1)
    assert rows["reliable_recovery_count"].rate.value == 47
    assert all(isinstance(f, Figure) for row in answer.rows for f in (row.count, row.england_count))
    shares = {row.key: row for row in answer.shares}
    assert all(isinstance(s, Share) for row in answer.shares for s in (row.area, row.england))
    assert shares["finished_of_referrals"].area.value == round(100 * 1710 / 10270, 1)
    assert shares["recovered_of_referrals"].area.value == round(100 * 740 / 10270, 1)
    assert shares["recovered_of_referrals"].england.value == round(100 * 284810 / 1603643, 1)
    assert (answer.population.value, answer.population.reference) == (317705, "mid-2018")
    assert shares["referred_of_population"].area.value == round(100 * 10270 / 317705, 1)
    assert shares["referred_of_population"].england.value == round(100 * 1603643 / 55977178, 1)

    text = plain(render("stats_area.html", answer=answer))
    assert "Referrals received: 10,270 · England 1,603,643" in text
    assert "Moved to recovery: 740, rate 49% · England 284,810, 52.1%" in text
    published, calculated = text.split("Calculated by campaign-bot from the published counts")
    assert "16.7%" not in published and "Finished treatment ÷ referrals received: 16.7% · England 36.3%" in calculated
    assert "317,705 (mid-2018" in calculated
    assert "Annual report on the use of IAPT services, 2018-19" in text
    assert text.endswith(ATTRIBUTION)
    assert plain(render("stats_area.txt", answer=answer)).endswith(ATTRIBUTION)


@in_module_loop
async def test_tower_hamlets_says_it_merged_and_offers_the_successor_and_the_local_service(desk):
    answer = await desk.answer("tower hamlets")
    assert isinstance(answer, AreaAnswer)
    assert (answer.area.code, answer.period.label, answer.latest) == ("08V", "2020-21", True)
    links = {(link.kind, link.other.code, str(link.effective_on)) for link in answer.lineage if link.outgoing}
    assert links == {("merged_into", "A3A8R", "2021-04-01"), ("local_service", "RWK53", "None")}
    assert {(a.org_type, a.code) for a in answer.offers} >= {("CCG", "A3A8R"), ("ICB", "QMF"), ("Provider", "RWK53")}
    text = plain(render("stats_area.html", answer=answer))
    assert "merged into NHS NORTH EAST LONDON CCG (A3A8R) on 1 April 2021" in text
    assert "TOWER HAMLETS TALKING THERAPIES (RWK53)" in text and "monthly to 2026-03" in text
    # The population within 2020-21 with the best source is named with its date and kind.
    assert answer.population.reference == "2021-03-21" and answer.population.confidence == "secondary"


@in_module_loop
async def test_a_year_after_the_merger_is_explained_not_refused(desk):
    answer = await desk.answer("tower hamlets 2023-24")
    assert isinstance(answer, YearMissingAnswer)
    assert answer.years == ("2017-18", "2018-19", "2019-20", "2020-21")
    assert "RWK53" in {a.code for a in answer.offers}
    text = plain(render("stats_year_missing.html", answer=answer))
    assert "has no figures for 2023-24" in text and "merged into" in text
    bare = await desk.answer("tower hamlets 2019")
    assert isinstance(bare, YearMissingAnswer) and bare.year_choices == ("2018-19", "2019-20")
    chosen = await desk.answer_for_area(bare.area.id, year=bare.year_choices[0])
    assert isinstance(chosen, AreaAnswer) and chosen.period.label == "2018-19"


@in_module_loop
async def test_the_local_service_has_its_latest_month_beside_england(desk):
    answer = await desk.answer("rwk53")
    assert isinstance(answer, AreaAnswer) and answer.period.label == "2024-25"
    assert answer.population is None and len(answer.shares) == 2
    assert answer.monthly.period.label == "2026-03"
    rows = {row.key: row for row in answer.monthly.rows}
    assert rows["M001"].count.value == 1040 and rows["M001"].england_count.value == 163100
    assert rows["M031"].count.value == 540 and rows["M031"].england_count.value == 96682
    assert rows["M048"].count.value == 29.1
    assert rows["M076"].count.value == 315 and rows["M076"].england_count.value == 57590
    assert rows["M191"].rate.value == 49 and rows["M191"].england_rate.value == 51.2
    incoming = [(link.kind, link.other.code) for link in answer.lineage if not link.outgoing]
    assert incoming == [("local_service", "08V")]
    text = plain(render("stats_area.html", answer=answer))
    assert "Latest month: March 2026" in text and "Mean wait to first treatment, days: 29.1 · England" in text


@in_module_loop
async def test_ethnic_groups_with_bangladeshi_its_own_row_and_suppression_as_published(desk):
    answer = await desk.answer("tower hamlets 2018-19 ethnicity")
    assert isinstance(answer, EthnicityAnswer) and answer.period.label == "2018-19"
    bangladeshi = next(r for r in answer.rows if r.member == "Bangladeshi")
    assert (bangladeshi.referrals.value, bangladeshi.finished.value, bangladeshi.recovered.value,
            bangladeshi.recovery_rate.value) == (2265, 335, 105, 35)
    england = await desk.answer("england 2018-19 ethnicity")
    england_bangladeshi = next(r for r in england.rows if r.member == "Bangladeshi")
    assert bangladeshi.england_recovery_rate.value == england_bangladeshi.recovery_rate.value
    assert "Bangladeshi: 2,265 · 335 · 105 (35%)" in plain(render("stats_ethnicity.html", answer=answer))

    small = await desk.answer("darlington 2017-18 ethnicity")
    other_asian = next(r for r in small.rows if r.member == "Any Other Asian Background")
    assert other_asian.referrals.value == 10 and other_asian.recovery_rate.suppressed
    assert other_asian.recovery_rate.value is None and small.suppressed_rows > 0
    text = plain(render("stats_ethnicity.html", answer=small))
    assert "Any Other Asian Background: 10 · 5 · suppressed (suppressed)" in text
    assert "suppressed by NHS Digital" in text


@in_module_loop
async def test_the_trend_is_every_year_with_a_chart_and_a_text_alternative(desk):
    answer = await desk.answer("tower hamlets trend")
    assert isinstance(answer, TrendAnswer)
    assert [(p.period.label, p.referrals.value, p.finished.value, p.recovery_rate.value) for p in answer.points] == [
        ("2017-18", 8195, 1175, 55), ("2018-19", 10270, 1710, 49), ("2019-20", 11205, 3445, 51),
        ("2020-21", 11985, 5030, 53)]
    assert answer.points[1].england_recovery_rate.value == 52.1
    png = render_trend_chart(answer)
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000
    caption = plain(render("stats_trend.html", answer=answer))
    assert "2018-19: 10,270 · 1,710 · 49% (52.1%)" in caption and caption.endswith(ATTRIBUTION)

    england = await desk.answer("england trend")
    labels = [p.period.label for p in england.points]
    assert labels[0] == "2012-13" and labels[-1] == "2024-25" and len(labels) == 13
    first = england.points[0]
    assert first.referrals.value == 883968 and first.recovery_rate.missing  # not published for 2012-13
    assert england.points[labels.index("2015-16")].recovery_rate.value == 46.3
    assert render_trend_chart(england).startswith(b"\x89PNG")


@in_module_loop
async def test_the_bot_draws_the_same_chart_in_its_child_process(desk):
    answer = await desk.answer("tower hamlets trend")
    assert chart_process.render_trend_chart(answer) == render_trend_chart(answer)
    chart_process.close()  # as after an idle spell: the next chart starts a new child
    assert chart_process.render_trend_chart(answer).startswith(b"\x89PNG")
    with pytest.raises(chart_process.ChartFailed, match="could not be drawn"):
        chart_process.render_rank_chart(answer)  # a trend is not a ranking: the child says why


@in_module_loop
async def test_stats_alone_is_englands_headline_and_how_to_ask(desk):
    answer = await desk.answer("")
    assert isinstance(answer, HeadlineAnswer)
    assert answer.england.period.label == "2024-25"
    assert answer.england.rows[0].count.value == 1813432
    text = plain(render("stats_headline.html", answer=answer))
    assert "Referrals received: 1,813,432" in text and "/stats tower hamlets 2018-19" in text
    assert text.endswith(ATTRIBUTION)
    england = await desk.answer("england")
    assert isinstance(england, AreaAnswer) and england.area.is_england
    assert all(row.england_count is None for row in england.rows)


@in_module_loop
async def test_ambiguous_and_unknown_areas(desk):
    choices = await desk.answer("somerset")
    assert isinstance(choices, ChoicesAnswer) and len(choices.candidates) >= 2
    text = plain(render("stats_choices.html", answer=choices))
    assert "NHS SOMERSET CCG (CCG 11X, 2017-18 to 2021-22)" in text
    unknown = await desk.answer("xyzzy plugh")
    assert isinstance(unknown, NotFoundAnswer) and len(unknown.nearest) == 3
    text = plain(render("stats_not_found.html", answer=unknown))
    assert "No area matches “xyzzy plugh”" in text and unknown.nearest[0].name in text


@in_module_loop
async def test_every_area_renders_within_telegrams_limits(desk):
    index = await desk.index()
    for entry in index.finder.entries.values():
        summary = await desk.answer_for_area(entry.id)
        for template in (summary.html_template, summary.text_template):
            rendered = render(template, answer=summary)
            assert ATTRIBUTION in rendered
        assert len(plain(render(summary.html_template, answer=summary))) <= 4096, entry.name
        trend = await desk.answer_for_area(entry.id, view=View.TREND)
        assert len(plain(render("stats_trend.html", answer=trend))) <= 1024, entry.name  # a photo caption
    ethnicity = await desk.answer_for_area(index.england_id, view=View.ETHNICITY)
    assert len(plain(render("stats_ethnicity.html", answer=ethnicity))) <= 4096


@pytest.mark.asyncio
async def test_with_no_figures_stats_says_how_to_load_them(tmp_path):
    async with fresh_database(tmp_path) as db:
        answer = await StatsDesk(db).answer("tower hamlets")
    assert isinstance(answer, NoFiguresAnswer)
    assert "campaign-bot stats import" in render("stats_no_figures.html", answer=answer)
    assert "campaign-bot stats import" in render("stats_no_figures.txt", answer=answer)


@pytest.mark.asyncio
async def test_the_desk_notices_an_import_made_after_its_index_was_loaded(tmp_path):
    async with fresh_database(tmp_path) as db:
        desk = StatsDesk(db, recheck_seconds=0)
        assert isinstance(await desk.answer("tower hamlets"), NoFiguresAnswer)
        await import_iapt_directory(db, DATA_DIR)
        answer = await desk.answer("tower hamlets 2018-19")
    assert isinstance(answer, AreaAnswer) and answer.rows[0].count.value == 10270


def test_the_terminal_commands(tmp_path, monkeypatch):
    from bot.cli.main import app

    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/cli.db")
    runner = CliRunner()
    imported = runner.invoke(app, ["stats", "import", str(DATA_DIR)])
    assert imported.exit_code == 0, imported.output
    assert "1,102,611 figures" in imported.output or "figures written" in imported.output
    shown = runner.invoke(app, ["stats", "show", "towr", "hamlets", "--year", "2018-19"])
    assert shown.exit_code == 0, shown.output
    assert "Referrals received: 10,270 · England 1,603,643" in shown.output
    assert shown.output.strip().endswith(ATTRIBUTION)

    broken = tmp_path / "broken"
    broken.mkdir()
    for source in DATA_DIR.iterdir():
        (broken / source.name).symlink_to(source)
    (broken / "population.csv").unlink()
    refused = runner.invoke(app, ["stats", "import", str(broken)])
    assert refused.exit_code == 1
    assert "Nothing was imported: population.csv" in refused.output
    again = runner.invoke(app, ["stats", "import", str(DATA_DIR)])
    assert "Nothing changed" in again.output
