"""Templates: every text the bot sends lives in messages/, and the code and the folder agree."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from types import SimpleNamespace as Sample
from zoneinfo import ZoneInfo

import pytest
from jinja2 import UndefinedError
from jinja2.runtime import Macro

from messages import environment, i18n, label, render, template_names
from messages.i18n import available_languages
from storage.broadcasts.status import BroadcastError, BroadcastProblemKind, TextTooLong
from storage.broadcasts.tables import BroadcastStatus
from storage.events.yaml_files import FileProblem
from storage.iapt.answers import (
    ChoicesAnswer,
    ComparePromptAnswer,
    EthnicityAnswer,
    HeadlineAnswer,
    NotFoundAnswer,
    RankAnswer,
    TrendAnswer,
    YearMissingAnswer,
)
from storage.iapt.figures import Share
from storage.iapt.writing import ImportSummary
from storage.import_problems import ImportProblem, ImportProblemKind, ImportRefused
from storage.telegram_html import Position, TelegramHtmlError
from tests.template_samples import (
    AREA,
    BY_LANGUAGE,
    COMPARE_ANSWER,
    COMPARE_PROMPT,
    COMPOSE_FAILURES,
    ENGLAND,
    ETHNIC_ROWS,
    EVENT_PROBLEMS,
    HOSTILE,
    IMPORT_PROBLEMS,
    LINEAGE,
    LIST_PROBLEMS,
    MAILING_LIST,
    NEXT_DAY,
    NO_COMMON_YEAR,
    POPULATION,
    RANK_ANSWER,
    RANKING,
    ROWS,
    SERVICE,
    TREND,
    TZ,
    WAITS_ANSWERS,
    YEAR,
    area_answer,
    broadcast,
    waits_month,
)

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE_REFERENCE = re.compile(r"[\"']([a-z0-9_]+\.(?:html|txt))[\"']")


def referenced_templates() -> set[str]:
    names = set()
    for folder in ("bot", "storage", "messages", "benchmarks"):
        for path in (ROOT / folder).rglob("*.py"):
            names.update(TEMPLATE_REFERENCE.findall(path.read_text(encoding="utf-8")))
    for path in (ROOT / "messages").glob("*.*"):
        names.update(re.findall(r"(?:include|import|from) \"([a-z0-9_]+\.(?:html|txt))\"", path.read_text()))
    return names


def test_every_template_the_code_names_exists():
    missing = referenced_templates() - set(template_names())
    assert not missing, f"code names templates that do not exist: {sorted(missing)}"


def test_every_template_is_used():
    unused = set(template_names()) - referenced_templates()
    assert not unused, f"templates nothing renders: {sorted(unused)}"


def test_html_templates_escape_what_they_are_given():
    text = render("joined.html", outcome="joined", mailing_list={"title": "<b>Rights</b> & wrongs", "slug": "r"})
    assert "&lt;b&gt;Rights&lt;/b&gt; &amp; wrongs" in text


def test_plain_text_templates_do_not_escape():
    assert label("join", title="Rights & wrongs") == "Join: Rights & wrongs"


def test_missing_values_are_errors_not_blanks():
    with pytest.raises(UndefinedError):
        render("joined.html", outcome="joined")


def test_templates_parse():
    env = environment()
    for name in template_names():
        env.get_template(name)


# ------------------------------------------------------------------ every plain-text template, rendered

# The terminal's and the try-out mode's texts, rendered with sample data in each branch. They are
# plain text: what is given appears as it is, never HTML-escaped. (HTML ones: test_templates_sent.py.)
PLAIN_SAMPLES: dict[str, list[dict]] = {
    "event_attendees_sent_privately.txt": [{}],
    "flood_press_dropped.txt": [{}],
    "cli_bad_settings.txt": [{"problems": ["TIMEZONE: not a time zone", "ORGANISER_IDS: not a number"]}],
    "cli_broadcast_bad_html.txt": [{"problem": TelegramHtmlError('Unsupported start tag "div"',
                                                                 Position.in_text(f"{HOSTILE}\n<b>x <div>", 5))}],
    "cli_broadcast_bad_time.txt": [{"kind": "past", "text": HOSTILE, "timezone": "Europe/London"},
                                   {"kind": "unreadable", "text": HOSTILE, "timezone": "Europe/London"}],
    "cli_broadcast_no_template.txt": [{"name": "nosuch.html"}],
    "cli_broadcast_queued.txt": [{"broadcast": Sample(id=7, send_at=send_at), "mailing_list": MAILING_LIST,
                                  "count": 3, "tz": TZ} for send_at in (None, NEXT_DAY)],
    "broadcast_failure.txt": [{"too_long": TextTooLong(4200, 4096), "error_type": "KeyError"},
                              {"too_long": None, "error_type": "KeyError"}],
    "cli_broadcast_refused.txt": [{"problem": BroadcastError(kind)} for kind in BroadcastProblemKind],
    "cli_broadcast_status.txt": [{"items": [], "tz": TZ, "rate": 25, "detail": False}] + [
        {"items": [broadcast(status) for status in BroadcastStatus], "tz": TZ, "rate": 25, "detail": detail}
        for detail in (False, True)] + [
        {"items": [broadcast(BroadcastStatus.DONE, paused=3, silent=40, approved_by=901)], "tz": TZ, "rate": 25,
         "detail": True},
        {"items": [broadcast(BroadcastStatus.DONE, by_language=BY_LANGUAGE)], "tz": TZ, "rate": 25, "detail": True}],
    "cli_broadcast_too_long.txt": [{"problem": TextTooLong(5000, 4096)}],
    "cli_broadcast_bad_version.txt": [{"spec": "fr=alert.html", "unreadable": False, "languages": ["bn"]},
                                      {"spec": "bn=missing.html", "unreadable": True, "languages": []}],
    "_broadcast_languages.txt": [{"b": broadcast(BroadcastStatus.DONE, by_language=BY_LANGUAGE)}],
    "cli_broadcast_unknown.txt": [{"broadcast_id": 7}],
    "cli_broadcast_usage.txt": [{}],
    "cli_database_unreachable.txt": [{"reason": "connection refused"}],
    "cli_db_upgraded.txt": [{}],
    "cli_events_imported.txt": [{"path": "events.csv", "summary": Sample(created=n, updated=1, dates_added=n)}
                                for n in (0, 1, 2)],
    "cli_events_rejected.txt": [{"path": "events.yaml", "problems": [
        FileProblem(problem, event=event, key=key, date=date) for problem in EVENT_PROBLEMS
        for event, key, date in ((None, None, None), (None, HOSTILE, None), (2, None, None), (2, HOSTILE, 3))]}],
    "event_compose_failure.txt": [{"failure": failure} for failure in COMPOSE_FAILURES],
    "cli_import_rejected.txt": [{"path": "ids.csv", "problems": [
        ImportProblem(ImportProblemKind.NOT_A_CHAT_ID, line=3, details={"text": HOSTILE}),
        ImportProblem(ImportProblemKind.NOT_ONE_CELL, line=4, details={"cells": 2})]}],
    "cli_imported.txt": [{"rows": 10, "joined": 8, "slug": "rights"}],
    "cli_list_created.txt": [{"mailing_list": MAILING_LIST}],
    "cli_list_invalid.txt": LIST_PROBLEMS,
    "cli_no_such_list.txt": [{"slug": "rights"}],
    "cli_no_token.txt": [{}],
    "cli_run_failed.txt": [{"problem": "invalid_token"}, {"problem": "unreachable"}],
    "command_menu.txt": [{}],
    "command_menu_organisers.txt": [{}],
    "stats_area.txt": [{"answer": area_answer()}, {"answer": area_answer(ENGLAND, lineage=(), rounded=False)},
                       {"answer": area_answer(ranking=RANKING, newest_year=YEAR)},
                       {"answer": area_answer(period=None)}],
    "stats_bundle_built.txt": [{"path": "iapt.db.gz", "size": 1_234_567, "figures": 98_765, "source": "data/"}],
    "stats_choices.txt": [{"answer": ChoicesAnswer(HOSTILE, (AREA, SERVICE, ENGLAND), "area", None)},
                          {"answer": ChoicesAnswer(HOSTILE, (AREA,), "summary", None, compare_with=SERVICE)}],
    "stats_rank.txt": [{"answer": RANK_ANSWER}, {"answer": RankAnswer(ENGLAND, None, (), False)}],
    "stats_compare.txt": [{"answer": COMPARE_ANSWER}, {"answer": NO_COMMON_YEAR}],
    "stats_compare_prompt.txt": [{"answer": COMPARE_PROMPT}, {"answer": ComparePromptAnswer(ENGLAND, None, ())}],
    "stats_ethnicity.txt": [{"answer": EthnicityAnswer(AREA, YEAR, ETHNIC_ROWS, 1, LINEAGE, (), True)},
                            {"answer": EthnicityAnswer(ENGLAND, YEAR, (), 0, (), (), False)}],
    "stats_headline.txt": [{"answer": HeadlineAnswer(area_answer(ENGLAND, lineage=()))}],
    "stats_import_done.txt": [{"summary": ImportSummary(areas_added=2, periods_added=1, links_changed=1,
                                                        datasets_replaced=["annual", "monthly"],
                                                        figures_written=1000, figures_total=5000,
                                                        suppressed_total=40), "source": "data/"},
                              {"summary": ImportSummary(figures_total=5000), "source": "data/"}],
    "stats_import_rejected.txt": [{"error": ImportRefused([problem])} for problem in IMPORT_PROBLEMS] + [
        {"error": ImportRefused.one(ImportProblemKind.FILE_MISSING, "a.csv")}],
    "stats_no_figures.txt": [{}],
    "stats_not_found.txt": [{"answer": NotFoundAnswer(HOSTILE, (AREA,))}, {"answer": NotFoundAnswer(HOSTILE, ())}],
    "stats_trend.txt": [{"answer": TrendAnswer(AREA, TREND, LINEAGE, (), True)},
                        {"answer": TrendAnswer(ENGLAND, (), (), (), False)}],
    "stats_waits.txt": [{"answer": answer} for answer in WAITS_ANSWERS],
    "stats_year_missing.txt": [
        {"answer": YearMissingAnswer(AREA, "2019", ("2018-19",), ("2018-19", "2019-20"), LINEAGE, (), "area")},
        {"answer": YearMissingAnswer(AREA, "2030-31", (), (), (), (), "area")}],
    "try_intro.txt": [{"supporter_id": 101, "organiser_id": 900, "database": "sqlite:///campaign.db",
                       "log": "campaign-bot-try.log", "sample": None, "tz": ZoneInfo("Europe/London")},
                      {"supporter_id": 101, "organiser_id": 900, "database": "sqlite:///campaign.db",
                       "log": "campaign-bot-try.log", "tz": ZoneInfo("Europe/London"),
                       "sample": Sample(starts_at=dt.datetime(2018, 3, 1, 12, 34, tzinfo=dt.UTC),
                                        reminder_due_at=dt.datetime(2018, 3, 1, 12, 4, tzinfo=dt.UTC))}],
    "try_message.txt": [{"text": HOSTILE, "buttons": ["Join: " + HOSTILE], "picture": False, "file": None,
                         "venue": None},
                        {"text": "x", "buttons": [], "picture": True, "file": "demo.ics",
                         "venue": {"title": HOSTILE, "address": "1 Road", "location": {"latitude": 51.5,
                                                                                       "longitude": -0.1}}}],
    "try_problem.txt": [{"log": "campaign-bot-try.log"}],
    "try_sample_events.txt": [{"key": "k", "minutes_ahead": 34, "reminder_minutes": 30, "start": "2018-03-01 12:34",
                               "end": "2018-03-01 13:34"}],
    "try_no_answer.txt": [{}],
    "try_prompt.txt": [{"organiser": True}, {"organiser": False}],
    "try_switched.txt": [{"organiser": True, "user_id": 900}, {"organiser": False, "user_id": 101}],
}
# Templates of macros only, each called with sample arguments named as the macro names them.
MACRO_ARGUMENTS = {
    "language_name": "বাংলা",
    "title": HOSTILE, "count": 3, "days": 7, "id": 7, "field": "venue_name", "when": "Wed 21 March", "label": "2018-19",
    "area": AREA, "f": ROWS[0].count, "s": Share("a", "b", 41.2), "d": dt.date(2019, 3, 31), "period": YEAR,
    "link": LINEAGE[0], "p": POPULATION, "answer": area_answer(), "rows": ROWS,
    "kind": "CCG", "n": 142, "value": 41.5, "rank": RANKING.ranks[0], "peers": RANKING.ranks[0].ranked,
    "ranking": RANKING, "newest": YEAR, "offers": (AREA,), "row": COMPARE_ANSWER.rows[0],
    "v": COMPARE_ANSWER.rows[2].left, "edge_note": True, "ranked": RANK_ANSWER, "published": True,
    "name": "বাংলা", "current": True,
}
MACRO_TEMPLATES = ("_event_problem.txt", "_import_problem.txt", "_list_problem.txt", "buttons.txt",
                   "stats_buttons.txt", "stats_chart.txt", "stats_macros.txt", "stats_waits_chart.txt",
                   "stats_waits_macros.txt")
# The chart is only ever drawn for a trend.
MACRO_ARGUMENTS_OF = {"stats_chart.txt": {"answer": TrendAnswer(AREA, TREND, (), (), True)},
                      "_event_problem.txt": {"field": "venue_name", "d": EVENT_PROBLEMS[0].details,
                                             "p": EVENT_PROBLEMS[0], "f": COMPOSE_FAILURES[1],
                                             "place": FileProblem(EVENT_PROBLEMS[0], event=1, key=HOSTILE, date=2)},
                      "_list_problem.txt": {"p": LIST_PROBLEMS[0]["problem"]},
                      "_import_problem.txt": {"p": IMPORT_PROBLEMS[0], "key": ("CCG", "08V")},
                      "stats_waits_chart.txt": {"answer": WAITS_ANSWERS[1]},
                      "stats_waits_macros.txt": {"answer": WAITS_ANSWERS[1], "month": waits_month(),
                                                 "share": Share("M036", "M031", 84.3),
                                                 "service": WAITS_ANSWERS[0].services[0]}}
INLINE_ANSWERS = (area_answer(), EthnicityAnswer(AREA, YEAR, ETHNIC_ROWS, 1, (), (), True),
                  TrendAnswer(AREA, TREND, (), (), True), HeadlineAnswer(area_answer(ENGLAND)),
                  YearMissingAnswer(AREA, "2030-31", ("2018-19",), (), (), (), "area"), NotFoundAnswer(HOSTILE, ()),
                  RANK_ANSWER, COMPARE_ANSWER, NO_COMMON_YEAR, COMPARE_PROMPT,
                  Sample(retry_after=3, limit=10), *WAITS_ANSWERS)


def test_every_plain_text_template_has_samples():
    plain = {name for name in template_names() if name.endswith(".txt")}
    assert set(PLAIN_SAMPLES) | set(MACRO_TEMPLATES) | {"stats_inline.txt"} == plain


@pytest.mark.parametrize(("name", "context", "language"),
                         [pytest.param(name, context, language, id=f"{language}-{name}-{n}")
                          for language in available_languages()
                          for name, contexts in PLAIN_SAMPLES.items()
                          for n, context in enumerate(contexts)])
def test_plain_text_template_renders(name, context, language):
    text = render(name, language=language, **context)
    assert text.strip()
    assert "Rights &amp;" not in text, "plain text must not be HTML-escaped"


@pytest.mark.parametrize("language", available_languages())
@pytest.mark.parametrize("name", MACRO_TEMPLATES)
def test_every_macro_renders(name, language):
    with i18n.speaking(language):
        _render_macros(name)


def _render_macros(name):
    module = environment().get_template(name).module
    macros = [value for value in vars(module).values() if isinstance(value, Macro)]
    assert macros
    for macro in macros:
        samples = MACRO_ARGUMENTS | MACRO_ARGUMENTS_OF.get(name, {})
        text = str(macro(**{argument: samples[argument] for argument in macro.arguments}))
        assert text.strip(), macro.name
        assert "&amp;" not in text, macro.name


def test_every_refusal_has_words_of_its_own():
    for template, problems in (("_event_problem.txt", EVENT_PROBLEMS),
                               ("_list_problem.txt", [sample["problem"] for sample in LIST_PROBLEMS]),
                               ("_import_problem.txt", IMPORT_PROBLEMS)):
        words = environment().get_template(template).module
        for problem in problems:
            text = str(words.problem(problem))
            assert text.strip() and text != problem.kind.value, f"no words for {problem.kind}"


def test_inline_titles_and_descriptions_render():
    module = environment().get_template("stats_inline.txt").module
    for answer in INLINE_ANSWERS:
        kind = "SlowDown" if isinstance(answer, Sample) else type(answer).__name__
        assert module.title(kind, answer).strip() and "Rights &amp;" not in module.title(kind, answer)
        assert module.description(kind, answer).strip()
