"""/stats over the local Bot API server: the real bot answering from the real published figures.

The figures come through the real import (tests/iapt_support.py: on SQLite a copy of one
database loaded at the start of the run; on PostgreSQL one schema loaded once for this module
and only read by the tests). Every value asserted is a spot value
published with the data.
"""

from __future__ import annotations

import asyncio
import csv
import html
import re
import threading
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from typer.testing import CliRunner

from bot.handlers import stats as stats_handlers
from messages.charts import render_trend_chart
from storage.db import Database, create_schema, drop_schema
from storage.iapt.report import StatsDesk
from storage.iapt.writing import write_iapt_data
from tests.conftest import POSTGRES_URL, Person, RunningBot, bot_running
from tests.iapt_support import DATA_DIR, loaded_database, published_data, requires_data

pytestmark = requires_data
ATTRIBUTION = "Contains public sector information licensed under the Open Government Licence v3.0."
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def plain(telegram_html: str) -> str:
    """What Telegram shows of an HTML text: tags gone, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", telegram_html))


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def postgres_figures_schema():
    """PostgreSQL only: one schema holding every published figure, loaded once for this module."""
    if POSTGRES_URL is None:
        yield None
        return
    schema = f"test_stats_{uuid.uuid4().hex[:12]}"

    async def create() -> None:
        await create_schema(POSTGRES_URL, schema)
        db = Database.from_url(POSTGRES_URL, schema=schema)
        await db.upgrade()
        async with db.transaction() as session:
            await write_iapt_data(session, published_data())
        await db.dispose()

    asyncio.run(create())
    yield schema
    asyncio.run(drop_schema(POSTGRES_URL, schema))


@pytest.fixture
async def figures(tmp_path, postgres_figures_schema) -> AsyncIterator[Database]:
    """A database holding every published figure."""
    if postgres_figures_schema is None:
        async with loaded_database(tmp_path) as db:
            yield db
        return
    db = Database.from_url(POSTGRES_URL, schema=postgres_figures_schema)
    await db.upgrade()
    yield db
    await db.dispose()


@pytest.fixture
async def stats_bot(figures, telegram, clock, settings) -> AsyncIterator[RunningBot]:
    async with bot_running(figures, telegram, clock, settings, poll_timeout=1) as bot:
        yield bot


@pytest.fixture
def asker(stats_bot) -> Person:
    return stats_bot.person(301)


def labels(person: Person, message: dict[str, Any] | None = None) -> list[str]:
    return [button["text"] for button in person.buttons(message)]


def assert_short_callback_data(person: Person) -> None:
    for message in person.messages:
        for button in person.buttons(message):
            assert len(button["callback_data"].encode()) <= 64, button


# ------------------------------------------------------------------ real figures through the whole path


async def test_a_year_of_an_area_beside_england(asker):
    answer = plain(await asker.say("/stats tower hamlets 2018-19"))
    assert answer.startswith("NHS TOWER HAMLETS CCG · CCG 08V")
    assert "figures for 2018-19, 1 April 2018 to 31 March 2019" in answer
    assert "Referrals received: 10,270 · England 1,603,643" in answer
    assert "Finished a course of treatment: 1,710 · England 582,556" in answer
    assert "Moved to recovery: 740, rate 49% · England 284,810, 52.1%" in answer
    assert "not published by NHS Digital" in answer and ATTRIBUTION in answer
    assert labels(asker)[:2] == ["By ethnic group, 2018-19", "Every year, as a chart"]
    assert_short_callback_data(asker)


async def test_england_and_the_north_east_london_ccg_in_their_years(asker):
    england = plain(await asker.say("/stats england 2024-25"))
    assert england.startswith("England\n") and "figures for 2024-25" in england
    assert "Referrals received: 1,813,432\n" in england
    assert "Finished a course of treatment: 670,419\n" in england
    assert "rate 50.5%\n" in england
    assert "· England" not in england  # England is not compared with itself
    north_east_london = plain(await asker.say("/stats A3A8R 2021-22"))
    assert "NHS NORTH EAST LONDON CCG · CCG A3A8R" in north_east_london
    assert "Referrals received: 71,940 · England" in north_east_london
    assert "Finished a course of treatment: 25,275 · England" in north_east_london
    assert "rate 54% · England" in north_east_london


async def test_by_ethnic_group_with_bangladeshi_as_published(asker):
    answer = plain(await asker.say("/stats tower hamlets 2018-19 ethnicity"))
    assert "Figures by ethnic group, 2018-19" in answer
    assert "Bangladeshi: 2,265 · 335 · 105 (35%)" in answer


async def test_a_suppressed_value_is_shown_as_suppressed_never_as_zero(asker):
    answer = plain(await asker.say("/stats darlington 2017-18 ethnicity"))
    assert "Any Other Asian Background: 10 · 5 · suppressed (suppressed)" in answer
    assert "suppressed by NHS Digital because the numbers are small" in answer


async def test_stats_alone_is_englands_headline_and_how_to_ask(asker):
    answer = plain(await asker.say("/stats"))
    assert "NHS Talking Therapies (IAPT) in England, 2024-25" in answer
    assert "Referrals received: 1,813,432" in answer
    assert "/stats tower hamlets 2018-19: a given year" in answer
    england = plain(await asker.say("/stats england"))
    assert "figures for 2024-25" in england and "the latest year published" in england
    assert "Referrals received: 1,813,432" in england


# ------------------------------------------------------------------ areas that changed, and choosing


async def test_tower_hamlets_says_it_merged_and_offers_the_successor_and_the_local_service(asker):
    answer = plain(await asker.say("/stats tower hamlets"))
    assert "figures for 2020-21" in answer and "Referrals received: 11,985" in answer
    assert "merged into NHS NORTH EAST LONDON CCG (A3A8R) on 1 April 2021" in answer
    assert "The local Talking Therapies service is TOWER HAMLETS TALKING THERAPIES (RWK53)" in answer
    offered = labels(asker)
    assert "→ NHS NORTH EAST LONDON CCG (CCG A3A8R)" in offered
    assert any(label.startswith("→ NHS NORTH EAST LONDON") and "(ICB QMF)" in label for label in offered)
    assert "→ TOWER HAMLETS TALKING THERAPIES (Talking Therapies service RWK53)" in offered

    service = await asker.press("RWK53")
    assert len(service) == 1  # a new message; the merger note stays above it
    text = plain(service[0]["text"])
    assert "TOWER HAMLETS TALKING THERAPIES · Talking Therapies service RWK53" in text
    assert "Latest month: March 2026" in text
    assert "Referrals received: 1,040 · England 163,100" in text
    assert "Entered treatment: 540 · England 96,682" in text
    assert_short_callback_data(asker)


async def test_a_year_after_the_merger_offers_the_areas_that_have_it(asker):
    answer = plain(await asker.say("/stats tower hamlets 2023-24"))
    assert "NHS TOWER HAMLETS CCG has no figures for 2023-24" in answer
    assert "It has figures for 2017-18, 2018-19, 2019-20, 2020-21." in answer
    changed = await asker.press("RWK53")
    assert "figures for 2023-24" in plain(changed[0]["text"])


async def test_a_bare_year_asks_which_financial_year(asker):
    question = plain(await asker.say("/stats tower hamlets 2019"))
    assert "2018-19 or 2019-20" in question
    assert labels(asker)[:2] == ["2018-19", "2019-20"]
    changed = await asker.press("2018-19")
    assert len(changed) == 1 and changed[0]["message_id"] == asker.last["message_id"]  # in place
    assert "Referrals received: 10,270 · England 1,603,643" in plain(changed[0]["text"])


async def test_an_ambiguous_area_offers_buttons_and_a_press_answers_in_place(asker):
    question = plain(await asker.say("/stats somerset"))
    assert "Several areas match “somerset”" in question
    choices = labels(asker)
    assert len(choices) >= 2 and "NHS SOMERSET CCG (CCG 11X, 2017-18 to 2021-22)" in choices
    changed = await asker.press("NHS SOMERSET CCG (CCG 11X")
    assert len(changed) == 1
    answer = plain(changed[0]["text"])
    assert answer.startswith("NHS SOMERSET CCG · CCG 11X") and "figures for 2021-22" in answer
    assert "Several areas match" not in plain(asker.last["text"])


async def test_an_unknown_area_names_the_three_nearest(asker):
    answer = plain(await asker.say("/stats xyzzy plugh"))
    assert "No area matches “xyzzy plugh”" in answer and "The nearest names:" in answer
    nearest = labels(asker)
    assert len(nearest) == 3
    assert all(name in answer for name in nearest)
    changed = await asker.press(nearest[0])
    assert "Referrals received" in plain(changed[0]["text"]) or "Latest month" in plain(changed[0]["text"])


async def test_an_over_long_question_is_refused_before_any_search(asker):
    answer = plain(await asker.say("/stats " + "tower hamlets " * 12))
    assert "That is too long: ask with at most 120 characters" in answer


# ------------------------------------------------------------------ the trend chart


async def test_the_trend_is_a_chart_with_the_figures_as_its_caption(stats_bot, asker):
    sent = await asker.send("/stats tower hamlets trend")
    assert len(sent) == 1
    photo = sent[0]
    assert photo["_upload"]["content"].startswith(PNG_SIGNATURE) and len(photo["_upload"]["content"]) > 10_000
    caption = plain(photo["caption"])
    assert len(caption) <= 1024
    assert "NHS TOWER HAMLETS CCG · CCG 08V, every year published." in caption
    assert "2017-18: 8,195 · 1,175 · 55%" in caption
    assert "2018-19: 10,270 · 1,710 · 49% (52.1%)" in caption
    assert "2020-21: 11,985 · 5,030 · 53%" in caption
    assert caption.endswith(ATTRIBUTION + " Source: NHS England (NHS Digital), NHS Talking Therapies / IAPT "
                                          "annual reports.")
    assert [call.params.get("parse_mode") for call in stats_bot.server.calls("sendPhoto")] == ["HTML"]


async def test_the_chart_is_drawn_off_the_event_loop(stats_bot, asker, monkeypatch):
    """While one person's chart is being drawn, someone else's question is answered."""
    drawing = threading.Event()
    others_answered = threading.Event()

    def slow_chart(answer):
        drawing.set()
        # On the event loop this would wait in vain: nobody else could be answered meanwhile.
        assert others_answered.wait(timeout=5), "nobody else was answered while the chart was drawn"
        return render_trend_chart(answer)

    monkeypatch.setattr(stats_handlers, "render_trend_chart", slow_chart)
    other = stats_bot.person(302)
    chart = stats_bot.server.user_message(asker.user_id, text="/stats england trend")
    await asyncio.to_thread(drawing.wait, 5)
    assert "10,270" in await other.say("/stats tower hamlets 2018-19")
    others_answered.set()
    await stats_bot.deliver(chart)
    assert "2012-13" in plain(asker.last["caption"])


# ------------------------------------------------------------------ analysis: rank, comparison, what is current


async def test_a_merged_ccg_leads_with_what_is_current_and_folds_the_details(asker):
    raw = await asker.say("/stats tower hamlets")
    first_screen = plain(raw.split("<blockquote expandable>", 1)[0])
    assert "These are old figures: NHS TOWER HAMLETS CCG has none after 2020-21" in first_screen
    assert "Rank among CCGs in 2020-21, 1st highest: recovery rate " in first_screen
    assert "Open Government Licence" not in first_screen and ATTRIBUTION in plain(raw)  # folded, not removed
    offered = labels(asker)
    assert offered[0] == "→ TOWER HAMLETS TALKING THERAPIES (Talking Therapies service RWK53)"
    assert "Rank among CCGs, as a chart" in offered and "Compare with another area" in offered


async def test_the_rank_button_sends_the_dot_chart_with_every_rank_in_words(stats_bot, asker):
    await asker.say("/stats tower hamlets 2018-19")
    sent = await asker.press("Rank among CCGs")
    photo = sent[0]
    assert photo["_upload"]["content"].startswith(PNG_SIGNATURE)
    words = plain(photo.get("caption") or sent[1]["text"])
    assert "Where it stands among CCGs in 2018-19 (1st is highest):" in words
    assert "Recovery rate 49%: " in words and " of " in words and "Highest: " in words
    assert_short_callback_data(asker)


async def test_two_areas_typed_side_by_side(asker):
    answer = plain(await asker.say("/stats tower hamlets vs hackney"))
    assert answer.startswith("NHS TOWER HAMLETS CCG vs NHS CITY AND HACKNEY CCG")
    assert "figures for 2020-21, the latest year both have" in answer
    assert "Referrals received: 11,985 · 10,405 · +1,580 · England 1,456,446" in answer
    assert "Recovery rate: 53% · 61% · -8 points · England 51.4%" in answer
    assert labels(asker) == ["NHS TOWER HAMLETS CCG", "NHS CITY AND HACKNEY CCG"]


async def test_compare_through_buttons(asker):
    await asker.say("/stats tower hamlets 2019-20")
    prompt = await asker.press("Compare with another area")
    assert "Compare NHS TOWER HAMLETS CCG (2019-20) with which area?" in plain(prompt[0]["text"])
    assert "/stats 08V vs" in plain(prompt[0]["text"])
    compared = await asker.press("TOWER HAMLETS TALKING THERAPIES")
    answer = plain(compared[0]["text"])
    assert answer.startswith("NHS TOWER HAMLETS CCG vs TOWER HAMLETS TALKING THERAPIES")
    assert "figures for 2019-20, the year asked" in answer
    assert "Referrals received: 11,205 · " in answer
    assert_short_callback_data(asker)


async def test_an_ambiguous_second_area_is_chosen_with_a_button(asker):
    question = plain(await asker.say("/stats tower hamlets vs mind"))
    assert "to compare with NHS TOWER HAMLETS CCG" in question
    first = labels(asker)[0]
    compared = await asker.press(first)
    assert plain(compared[-1]["text"]).startswith("NHS TOWER HAMLETS CCG vs ")


# ------------------------------------------------------------------ inline mode


async def inline_results(bot: RunningBot, user_id: int, query: str) -> tuple[dict, list[dict]]:
    update = bot.server.inline_query(user_id, query)
    await bot.deliver(update)
    call = bot.server.calls("answerInlineQuery")[-1]
    assert call.params["inline_query_id"] == update["inline_query"]["id"]
    return call.params, call.params["results"]


async def test_inline_mode_offers_the_answer_to_share(stats_bot):
    params, results = await inline_results(stats_bot, 303, "tower hamlets 2018-19")
    assert len(results) == 2  # the short form to share (tests/test_iapt_waits.py), then the full answer
    article = results[1]
    assert article["type"] == "article" and article["title"] == "NHS TOWER HAMLETS CCG (CCG 08V)"
    assert article["description"] == "2018-19: referrals 10,270, recovery rate 49%"
    content = article["input_message_content"]
    assert content["parse_mode"] == "HTML"
    assert "Referrals received: 10,270 · England 1,603,643" in plain(content["message_text"])
    assert int(params.get("cache_time", 300)) == 300

    _, england = await inline_results(stats_bot, 303, "")
    assert england[1]["title"] == "NHS Talking Therapies in England"
    assert "1,813,432" in england[1]["input_message_content"]["message_text"]

    _, somerset = await inline_results(stats_bot, 303, "somerset")
    assert len(somerset) >= 2 and "NHS SOMERSET CCG (CCG 11X)" in [r["title"] for r in somerset]
    assert len({r["id"] for r in somerset}) == len(somerset)


async def test_inline_mode_leads_with_what_is_current_for_a_merged_ccg(stats_bot):
    _, results = await inline_results(stats_bot, 304, "tower hamlets")
    # Each answer comes as its short form to share, then in full (tests/test_iapt_waits.py).
    service = "TOWER HAMLETS TALKING THERAPIES (Talking Therapies service RWK53)"
    ccg = "NHS TOWER HAMLETS CCG (CCG 08V)"
    assert [r["title"] for r in results] == [f"{service} · headline to share", service,
                                             f"{ccg} · headline to share", ccg]
    _, typed = await inline_results(stats_bot, 304, "tower hamlets vs hackney")
    assert typed[0]["title"] == "NHS TOWER HAMLETS CCG vs NHS CITY AND HACKNEY CCG"


# ------------------------------------------------------------------ limits and states


async def test_a_flood_of_questions_is_told_to_wait_once_and_others_still_get_answers(figures, telegram, clock,
                                                                                        settings):
    limited = settings.model_copy(update={"stats_per_user_per_minute": 2})
    async with bot_running(figures, telegram, clock, limited, poll_timeout=1) as bot:
        flooder, other = bot.person(304), bot.person(305)
        assert "10,270" in await flooder.say("/stats tower hamlets 2018-19")
        assert "71,940" in await flooder.say("/stats A3A8R 2021-22")
        refusal = plain(await flooder.say("/stats somerset"))
        assert "You have asked for figures 2 times in the last minute" in refusal
        assert re.search(r"ask again in \d+ seconds", refusal)
        assert await flooder.send("/stats somerset") == []  # told once; the rest of a flood is dropped
        assert "10,270" in await other.say("/stats tower hamlets 2018-19")


async def test_with_no_figures_loaded_stats_says_how_to_load_them(running_bot):
    answer = plain(await running_bot.person(306).say("/stats tower hamlets"))
    assert "No NHS Talking Therapies (IAPT) figures are loaded yet" in answer
    assert "campaign-bot stats import DIR" in answer
    _, results = await inline_results(running_bot, 306, "tower hamlets")
    assert results[0]["title"] == "No figures are loaded yet"


async def test_while_the_bundled_figures_load_stats_says_so_and_stopping_leaves_no_half_load(database, telegram,
                                                                                             clock, settings):
    loading = settings.model_copy(update={"stats_load_bundle": True})
    async with bot_running(database, telegram, clock, loading, poll_timeout=1) as bot:
        answer = plain(await bot.person(307).say("/stats tower hamlets"))
        assert "figures are being loaded" in answer
    # The bot stopped mid-load: what it committed stays for the next start to carry on from
    # (tests/test_stats_loading.py), but no half-loaded figures are shown meanwhile.
    assert await StatsDesk(database).index() is None


def test_a_malformed_import_file_is_refused_with_file_line_and_column(tmp_path, monkeypatch):
    from bot.cli.main import app

    broken = tmp_path / "broken"
    broken.mkdir()
    for source in DATA_DIR.iterdir():
        if source.name != "iapt_annual_totals.csv":
            (broken / source.name).symlink_to(source)
    with (DATA_DIR / "iapt_annual_totals.csv").open(encoding="utf-8", newline="") as published:
        rows = list(csv.reader(published))
    rows[11][rows[0].index("recovery_percentage")] = "4O"  # line 12: a letter O typed for a zero
    with (broken / "iapt_annual_totals.csv").open("w", encoding="utf-8", newline="") as edited:
        csv.writer(edited, lineterminator="\n").writerows(rows)
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/cli.db")
    refused = CliRunner().invoke(app, ["stats", "import", str(broken)])
    assert refused.exit_code == 1
    assert ("Nothing was imported: iapt_annual_totals.csv, line 12, column 21 (recovery_percentage): "
            "expected a number or '*'") in refused.output
    assert "The database is as it was." in refused.output


async def test_a_person_whose_telegram_is_in_bengali_gets_the_figures_and_buttons_in_bengali(stats_bot, asker):
    person = stats_bot.person(302, language_code="bn")
    bengali = plain(await person.say("/stats tower hamlets 2018-19"))
    english = plain(await asker.say("/stats tower hamlets 2018-19"))
    assert bengali.startswith("NHS TOWER HAMLETS CCG · CCG 08V")  # the area's name as published
    assert "প্রাপ্ত রেফারেল" in bengali and "Referrals received" not in bengali
    assert "10,270" in bengali and "1,603,643" not in bengali  # England's figure, in lakhs: 16,03,643
    assert labels(person) != labels(asker) and len(labels(person)) == len(labels(asker))
    assert english.startswith("NHS TOWER HAMLETS CCG · CCG 08V") and "Referrals received: 10,270" in english
