"""`/stats <area> waits`: every figure checked against the published monthly file, read here with
the csv module alone (none of the code under test), for Tower Hamlets, England and every ICB;
the services an area is answered through; the chart; the terminal; and the bot over the local
Bot API server. With IAPT_DATA_DIR set, the same checks run on that copy of the data."""

from __future__ import annotations

import asyncio
import csv
import functools
import html
import os
import re

import pytest
import pytest_asyncio
from typer.testing import CliRunner

from messages import render
from messages.charts import render_waits_chart
from storage.iapt.answer_parts import WaitsRoute
from storage.iapt.answers import View, WaitsAnswer
from storage.iapt.report import StatsDesk, parse_stats_request
from storage.telegram_html import MAX_TEXT_LENGTH
from tests.iapt_support import DATA_DIR, loaded_database, requires_data

pytestmark = requires_data
in_module_loop = pytest.mark.asyncio(loop_scope="module")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MONTHLY_FILE = "iapt_monthly_provider_key_measures.csv"
COLUMNS = {"entered": "M031_Count_AccessingServices", "within_6": "M036_Count_AccessingServices6Weeks",
           "within_18": "M037_Count_AccessingServices18Weeks", "waiting": "M038_Count_WaitingForTreatment",
           "mean": "M048_Mean_WaitAccessingServices", "median": "M049_Median_WaitAccessingServices"}


def plain(telegram_html: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", telegram_html))


# ------------------------------------------------------------------ the published file, read independently


def _rows(name: str) -> list[dict[str, str]]:
    with open(DATA_DIR / name, newline="", encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle))


@functools.cache
def monthly() -> dict[tuple[str, str], dict[str, str]]:
    """(provider code, or "England"; month) -> the published row."""
    return {("England" if row["group_type"] == "England" else row["provider_code"], row["reporting_period"]): row
            for row in _rows(MONTHLY_FILE)}


@functools.cache
def window() -> list[str]:
    """England's latest twelve months."""
    return sorted(month for code, month in monthly() if code == "England")[-12:]


def number(text: str) -> float | None:
    return float(text) if text else None


def expected_month(code: str, month: str) -> tuple:
    """(started, % within 6 weeks, % within 18 weeks, mean, median, waiting), the shares worked out here."""
    row = monthly().get((code, month), {})
    value = {key: number(row.get(column, "")) for key, column in COLUMNS.items()}

    def share(part: float | None) -> float | None:
        entered = value["entered"]
        return None if part is None or not entered else round(100 * part / entered, 1)

    return (value["entered"], share(value["within_6"]), share(value["within_18"]), value["mean"], value["median"],
            value["waiting"])


def expected_series(code: str) -> list[tuple]:
    return [expected_month(code, month) for month in window()]


def published_any(code: str) -> bool:
    """Any figure at all (of any measure) in the twelve months."""
    return any(value for month in window()
               for column, value in monthly().get((code, month), {}).items() if column.startswith("M"))


@functools.cache
def lookup_services() -> dict[str, set[str]]:
    """ICB code -> the providers NHS England's lookup files under it that the figures know."""
    known = ({row["org_code"] for row in _rows("iapt_annual_totals.csv") if row["org_type"] == "Provider"}
             | {code for code, _month in monthly() if code != "England"})
    services: dict[str, set[str]] = {}
    for row in _rows("metadata_providers.csv"):
        if row["org_code"] in known and row["icb_code"]:
            services.setdefault(row["icb_code"], set()).add(row["org_code"])
    return services


def got_series(waits) -> list[tuple]:
    return [(m.entered.value, m.share_6_weeks.value, m.share_18_weeks.value, m.mean_days.value, m.median_days.value,
             m.waiting.value) for m in waits.months]


# ------------------------------------------------------------------ answers


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def desk(tmp_path_factory):
    async with loaded_database(tmp_path_factory.mktemp("waits")) as db:
        yield StatsDesk(db)


@pytest.mark.parametrize("text", ["tower hamlets waits", "tower hamlets waiting times", "Tower Hamlets wait",
                                  "tower hamlets 2018-19 waits"])
def test_waits_is_a_view_of_its_own(text):
    request = parse_stats_request(text)
    assert (request.area_text.lower(), request.view) == ("tower hamlets", View.WAITS)


@in_module_loop
async def test_tower_hamlets_is_answered_through_its_local_service_beside_england(desk):
    answer = await desk.answer("tower hamlets waits")
    assert isinstance(answer, WaitsAnswer)
    assert (answer.area.code, answer.route, answer.via) == ("08V", WaitsRoute.LOCAL_SERVICE, None)
    assert [s.service.code for s in answer.services] == ["RWK53"]
    assert [p.label for p in answer.months] == window()
    service = answer.services[0]
    assert got_series(service) == expected_series("RWK53")
    assert got_series(answer.england) == expected_series("England")
    if not os.environ.get("IAPT_DATA_DIR"):  # the spot values copied with the shipped files, March 2026
        assert answer.latest.label == "2026-03"
        assert (service.latest.entered.value, service.latest.mean_days.value) == (540, 29.1)
    text = plain(render("stats_waits.html", answer=answer))
    latest = expected_month("RWK53", window()[-1])
    england = expected_month("England", window()[-1])
    assert f"Within 6 weeks†: {latest[1]:.1f}% · England {england[1]:.1f}%" in text
    assert f"Started treatment: {latest[0]:,.0f} · England {england[0]:,.0f}" in text
    assert "Calculated by campaign-bot from the published counts, not published by NHS England" in text
    assert "TOWER HAMLETS TALKING THERAPIES (RWK53)" in text
    assert len(text) <= MAX_TEXT_LENGTH


@in_module_loop
async def test_a_service_and_england_answer_for_themselves(desk):
    service = await desk.answer("RWK53 waits")
    assert service.route is WaitsRoute.ITSELF and [s.service.code for s in service.services] == ["RWK53"]
    england = await desk.answer("england waits")
    assert england.route is WaitsRoute.ITSELF and england.england is None
    assert got_series(england.services[0]) == expected_series("England")
    assert "· England" not in plain(render("stats_waits.html", answer=england))


@in_module_loop
async def test_every_icb_is_answered_through_the_services_the_lookup_files_under_it(desk):
    index = await desk.index()
    icbs = [a for a in index.areas.values() if a.org_type == "ICB" and a.code in lookup_services()]
    assert icbs
    for icb in icbs:
        answer = await desk.answer_for_area(icb.id, view=View.WAITS)
        expected = lookup_services()[icb.code]
        assert answer.route is WaitsRoute.ICB_LOOKUP, icb.code
        assert {s.service.code for s in answer.services} == {c for c in expected if published_any(c)}, icb.code
        assert {q.code for q in answer.quiet} == {c for c in expected if not published_any(c)}, icb.code
        for waits in answer.services:
            assert got_series(waits) == expected_series(waits.service.code), waits.service.code
        entered = [s.latest.entered.value or 0 for s in answer.services]
        assert entered == sorted(entered, reverse=True)  # the largest first


@in_module_loop
async def test_north_east_london_names_its_services_and_says_how_they_were_found(desk):
    answer = await desk.answer("QMF waits")
    codes = {s.service.code for s in answer.services}
    assert {"RWK53", "RAT", "RQX", "RWK79"} <= codes
    text = plain(render("stats_waits.html", answer=answer))
    assert "files a service under the ICB of the organisation that runs it" in text
    rwk53 = next(s for s in answer.services if s.service.code == "RWK53").latest
    assert f"TOWER HAMLETS TALKING THERAPIES (RWK53): {rwk53.entered.number} · {rwk53.share_6_weeks.number}%" in text
    merged = await desk.answer("A3A8R waits")  # the CCG that became the ICB
    assert merged.route is WaitsRoute.ICB_LOOKUP and merged.via.code == "QMF"
    assert {s.service.code for s in merged.services} == codes
    assert "Its area is now covered by NHS NORTH EAST LONDON INTEGRATED CARE BOARD (ICB QMF)" in plain(
        render("stats_waits.html", answer=merged))


@in_module_loop
async def test_an_area_with_no_known_service_says_so_and_gives_england(desk):
    answer = await desk.answer("Y56 waits")  # the London region
    assert answer.route is WaitsRoute.NONE and answer.england is None
    assert [s.service.code for s in answer.services] == ["All"]
    assert got_series(answer.services[0]) == expected_series("England")
    assert "no service is known for this area" in plain(render("stats_waits.html", answer=answer))


@in_module_loop
async def test_every_area_renders_within_telegrams_limits_and_charts(desk):
    index = await desk.index()
    for entry in index.finder.entries.values():
        answer = await desk.answer_for_area(entry.id, view=View.WAITS)
        assert isinstance(answer, WaitsAnswer), entry.name
        assert len(plain(render(answer.html_template, answer=answer))) <= MAX_TEXT_LENGTH, entry.name
        assert render(answer.text_template, answer=answer).strip().endswith("IAPT annual reports.")
    for query in ("tower hamlets waits", "QMF waits", "england waits"):
        assert render_waits_chart(await desk.answer(query)).startswith(PNG_SIGNATURE)


def test_the_terminal_shows_the_same_answer(tmp_path, monkeypatch):
    from bot.cli.main import app

    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/cli.db")
    runner = CliRunner()
    assert runner.invoke(app, ["stats", "import", str(DATA_DIR)]).exit_code == 0
    chart = tmp_path / "waits.png"
    shown = runner.invoke(app, ["stats", "show", "tower", "hamlets", "waits", "--chart", str(chart)])
    assert shown.exit_code == 0, shown.output
    latest = expected_month("RWK53", window()[-1])
    assert f"Median wait: {latest[4]:.0f} days" in shown.output
    assert chart.read_bytes().startswith(PNG_SIGNATURE)
    again = runner.invoke(app, ["stats", "show", "RWK53", "--waits"])
    assert "Still waiting at the month's end:" in again.output


# ------------------------------------------------------------------ in Telegram, over the local Bot API server

from tests.test_stats_bot import asker, figures, postgres_figures_schema, stats_bot  # noqa: E402, F401


async def test_waits_in_telegram_are_a_chart_with_the_figures_and_buttons(stats_bot, asker):  # noqa: F811
    sent = await asker.send("/stats tower hamlets waits")
    photos = [m for m in sent if "_upload" in m]
    assert len(photos) == 1 and photos[0]["_upload"]["content"].startswith(PNG_SIGNATURE)
    text = plain(next(m.get("caption") or m.get("text") for m in reversed(sent)))
    latest = expected_month("RWK53", window()[-1])
    assert f"Within 18 weeks†: {latest[2]:.1f}%" in text and "TOWER HAMLETS TALKING THERAPIES (RWK53)" in text
    buttons = [b for m in sent for b in asker.buttons(m)]
    assert "Yearly figures" in [b["text"] for b in buttons]
    assert all(len(b["callback_data"].encode()) <= 64 for b in buttons)

    # The summary offers the waits as a button; pressing it answers the same.
    await asker.send("/stats RWK53")
    pressed = await asker.press("Waiting times")
    assert any("_upload" in m for m in pressed)
    assert "Still waiting at the month's end" in plain(pressed[-1].get("caption") or pressed[-1].get("text"))


async def test_the_waits_chart_is_drawn_off_the_event_loop(stats_bot, asker, monkeypatch):  # noqa: F811
    import threading

    from bot.handlers import stats as stats_handlers

    drawing, others_answered = threading.Event(), threading.Event()

    def slow_chart(answer):
        drawing.set()
        assert others_answered.wait(timeout=5), "nobody else was answered while the chart was drawn"
        return render_waits_chart(answer)

    monkeypatch.setattr(stats_handlers, "render_waits_chart", slow_chart)
    other = stats_bot.person(302)
    chart = stats_bot.server.user_message(asker.user_id, text="/stats england waits")
    await asyncio.to_thread(drawing.wait, 5)
    assert "10,270" in await other.say("/stats tower hamlets 2018-19")
    others_answered.set()
    await stats_bot.deliver(chart)
    assert any("_upload" in m for m in asker.messages)


# ------------------------------------------------------------------ the short form shared inline, and its deep link

START_PARAMETER = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # Telegram's rule for a start parameter


@in_module_loop
async def test_every_area_has_a_deep_link_telegram_takes_and_it_reads_back(desk):
    from storage.iapt.links import read_start_parameter, start_parameter

    index = await desk.index()
    for area in index.areas.values():
        for view, year in ((View.SUMMARY, None), (View.WAITS, None), (View.ETHNICITY, "2018-19")):
            parameter = start_parameter(area, view, year)
            assert parameter is not None and START_PARAMETER.match(parameter), (area, parameter)
            link = read_start_parameter(parameter)
            assert (link.org_type, link.code, link.view, link.year) == (area.org_type, area.code, view, year)
    for broken in ("stats-", "stats-C08V", "stats-X08V-s", "stats-C08V-q", "stats-C08V-s-201820", "C08V-s",
                   "stats-C08V-s-2018-19", "stats-C" + "8" * 30 + "-s"):
        assert read_start_parameter(broken) is None, broken


async def test_inline_offers_a_short_form_whose_link_answers_in_full(stats_bot, asker):  # noqa: F811
    update = stats_bot.server.inline_query(303, "tower hamlets 2018-19")
    await stats_bot.deliver(update)
    results = stats_bot.server.calls("answerInlineQuery")[-1].params["results"]
    short = results[0]
    assert short["title"] == "NHS TOWER HAMLETS CCG (CCG 08V) · headline to share"
    message = short["input_message_content"]["message_text"]
    link = "https://t.me/campaign_bot?start=stats-C08V-s-201819"
    assert f'<a href="{link}">' in message
    text = plain(message)
    assert "Referrals received: 10,270 · England 1,603,643" in text and "Recovery rate: 49% · England 52.1%" in text
    assert len(text.splitlines()) <= 8  # a headline, not the whole answer

    # The link opens a private chat with "/start stats-C08V-s-201819": the full answer.
    full = plain(await asker.say("/start stats-C08V-s-201819"))
    assert full == plain(await asker.say("/stats tower hamlets 2018-19"))

    update = stats_bot.server.inline_query(303, "tower hamlets waits")
    await stats_bot.deliver(update)
    waits = stats_bot.server.calls("answerInlineQuery")[-1].params["results"][0]
    assert "start=stats-C08V-w" in waits["input_message_content"]["message_text"]
    latest = expected_month("RWK53", window()[-1])
    assert f"Started treatment within 6 weeks†: {latest[1]:.1f}%" in plain(waits["input_message_content"]
                                                                           ["message_text"])
    sent = await asker.send("/start stats-C08V-w")
    assert any("_upload" in m for m in sent)  # the waits chart with its figures

    assert "No area matches" in plain(await asker.say("/start stats-Cnowhere-s"))
