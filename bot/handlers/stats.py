"""/stats: the published NHS Talking Therapies (IAPT) figures of an area, asked in a chat, chosen
with a button, or shared from any chat in inline mode (`@bot tower hamlets`).

Each handler parses what was asked, asks `StatsService` once and sends the template the answer
names. A trend, and a rank among peers, is a chart drawn in a child process (`messages.chart_process`,
so that matplotlib never weighs on the bot), waited for in a worker thread, and sent as a photo
whose caption is the same figures as text. "Compare" buttons carry both areas (StatsCompare), so
the comparison needs nothing kept between presses.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
from collections.abc import Callable
from typing import Any

from telegram import InlineQueryResultArticle, InputFile, InputTextMessageContent, Update
from telegram.constants import ParseMode
from telegram.ext import ContextTypes

from bot.engines.statistics import Reply, SlowDown, StatsService, StatsUnavailable, StillLoading
from bot.handlers.callback_data import StatsChoice, StatsCompare
from bot.handlers.common import argument_text
from bot.services import services_of
from bot.telegram_io.replies import Keyboard, keyboard, reply, send_rendered
from messages import environment, render
from messages.chart_process import render_rank_chart, render_trend_chart, render_waits_chart
from messages.chart_process import warm_up as warm_up_charts
from storage.iapt.answer_parts import AreaRef
from storage.iapt.answers import (
    AreaAnswer,
    ChoicesAnswer,
    CompareAnswer,
    ComparePromptAnswer,
    EthnicityAnswer,
    NoFiguresAnswer,
    NotFoundAnswer,
    RankAnswer,
    TrendAnswer,
    View,
    WaitsAnswer,
    YearMissingAnswer,
)
from storage.iapt.links import short_form_link
from storage.iapt.report import parse_stats_request
from storage.telegram_html import MAX_CAPTION_LENGTH, MAX_TEXT_LENGTH, visible_length

_FINANCIAL_YEAR = re.compile(r"^20\d\d-\d\d$")
MAX_QUESTION_LENGTH = 120  # the longest area name is 77 characters
# The views answered with a chart: asking for one starts the chart process at once.
CHART_VIEWS = frozenset({View.TREND, View.RANK, View.WAITS})
logger = logging.getLogger(__name__)
INLINE_CACHE_SECONDS = 300  # the figures change a few times a year; refusals are not cached


def stats_of(context: ContextTypes.DEFAULT_TYPE) -> StatsService:
    return services_of(context).stats


def _person(update: Update) -> int:
    """Whose limit a question counts against: the user, or the chat when no user is given."""
    if update.effective_user is not None:
        return update.effective_user.id
    return update.effective_chat.id


# ------------------------------------------------------------------ handlers


async def stats_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/stats [area] [year] [ethnicity|trend]; /stats alone is England's headline and how to ask."""
    question = argument_text(context)
    if len(question) > MAX_QUESTION_LENGTH:
        await reply(update, "stats_too_long.html", limit=MAX_QUESTION_LENGTH)
        return
    if parse_stats_request(question).view in CHART_VIEWS:
        warm_up_charts()
    answer = await stats_of(context).answer(_person(update), question)
    await send_stats_answer(update, answer)


async def stats_button_pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """An area, a year or a view chosen under an earlier answer."""
    query = update.callback_query
    await query.answer()
    pressed = StatsChoice.parse(query.data)
    if pressed.view in CHART_VIEWS:
        warm_up_charts()
    answer = await stats_of(context).answer_for_area(_person(update), pressed.area_id, view=pressed.view,
                                                     year=pressed.year or None)
    await send_stats_answer(update, answer, in_place=pressed.action == "pick")


async def stats_compare_pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A second area chosen under "Compare ... with which area?" (or under a choice of areas)."""
    query = update.callback_query
    await query.answer()
    pressed = StatsCompare.parse(query.data)
    answer = await stats_of(context).compare(_person(update), pressed.area_id, pressed.other_id,
                                             year=pressed.year or None)
    await send_stats_answer(update, answer)


async def stats_from_link(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/start stats-… in a private chat, from the link under a short form shared from inline mode:
    the full answer it stands for."""
    answer = await stats_of(context).answer_link(_person(update), argument_text(context))
    await send_stats_answer(update, answer)


async def stats_inline_query(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`@bot tower hamlets` in any chat: the answers, ready to share; an empty query is England."""
    query = update.inline_query
    answers = await stats_of(context).answer_inline(query.from_user.id, query.query[:MAX_QUESTION_LENGTH])
    composed = [sendable(answer) for answer in answers]
    refused = any(isinstance(c.answer, (SlowDown, StillLoading, NoFiguresAnswer, StatsUnavailable)) for c in composed)
    await query.answer([article for number, one in enumerate(composed)
                        for article in inline_articles(str(number), one, context.bot.username)],
                       cache_time=0 if refused else INLINE_CACHE_SECONDS, is_personal=refused)


# ------------------------------------------------------------------ sending an answer


@dataclasses.dataclass(frozen=True)
class Composed:
    """An answer as it will be sent, rendered once: checking that it can be sent means rendering it."""

    answer: Reply
    text: str
    buttons: Keyboard


async def send_stats_answer(update: Update, answer: Reply, *, in_place: bool = False) -> None:
    """The answer as a message (or a chart), with its buttons; `in_place` replaces the question."""
    if isinstance(answer, SlowDown) and not answer.first_refusal:
        return  # told once already: answering every message of a flood would be a flood
    composed = sendable(answer)
    chart = _chart_of(composed.answer)
    if chart is not None:
        if await _send_chart(update, composed, *chart):
            return
        # The chart failed: the same figures as text, after saying so.
        await reply(update, "stats_chart_failed.html", answer=composed.answer)
    in_place = in_place and not isinstance(composed.answer, (SlowDown, StillLoading))
    await send_rendered(update, composed.text, buttons=composed.buttons, in_place=in_place)


def _chart_of(answer: Reply) -> tuple[Callable[[Any], bytes], str] | None:
    """How to draw the answer's chart and the name of its kind (looked up when asked, so a test
    can replace it), or None when it has none."""
    if isinstance(answer, TrendAnswer) and answer.points:
        return render_trend_chart, "trend"
    if isinstance(answer, RankAnswer) and answer.ranking and answer.ranking.shown:
        return render_rank_chart, "rank"
    if isinstance(answer, WaitsAnswer) and answer.services and answer.months:
        return render_waits_chart, "waits"
    return None


def _area_name(answer: Reply) -> str | None:
    area = getattr(answer, "area", None)
    return getattr(area, "name", None)


def sendable(answer: Reply) -> Composed:
    """`answer` composed, or an apology if what a row holds makes it impossible to send as Telegram
    requires (a template that fails on it, a text over Telegram's limit): logged, never silence."""
    try:
        composed = _compose(answer)
        for field in ("title", "description"):
            _inline_words(field, answer)
        length = visible_length(composed.text)
    except Exception:
        logger.exception("a /stats answer (%s) could not be composed; the asker gets an apology",
                         type(answer).__name__)
        return _compose(StatsUnavailable())
    if length > MAX_TEXT_LENGTH:  # the limit of a message, and of an inline result's message too
        area = getattr(answer, "area", None)
        logger.warning("a /stats answer (%s, area %s) has %d characters, more than a message holds; "
                       "the asker gets an apology", type(answer).__name__, getattr(area, "id", None), length)
        return _compose(StatsUnavailable(_area_name(answer)))
    return composed


def _compose(answer: Reply) -> Composed:
    return Composed(answer, render(answer.html_template, answer=answer), stats_buttons(answer))


async def _send_chart(update: Update, composed: Composed, draw: Callable[[Any], bytes], kind: str) -> bool:
    """The chart with its figures; False, having sent nothing, if the chart could not be drawn."""
    answer = composed.answer
    try:
        # In a worker thread: the child process takes tens of milliseconds (a second when it starts).
        chart = await asyncio.to_thread(draw, answer)
    except Exception:
        logger.exception("the %s chart of area %s could not be drawn", kind, answer.area.id)
        return False
    photo = InputFile(chart, filename=f"stats-{answer.area.code}-{kind}.png")
    buttons = keyboard(composed.buttons)
    chat = update.effective_chat
    if visible_length(composed.text) <= MAX_CAPTION_LENGTH:
        await chat.send_photo(photo, caption=composed.text, reply_markup=buttons)
        return True
    # Too long for a caption: the chart, then the same figures as a message of their own.
    await chat.send_photo(photo)
    await chat.send_message(composed.text, reply_markup=buttons)
    return True


# ------------------------------------------------------------------ buttons


def _button_label(name: str, *args: object) -> str:
    """A label from `messages/stats_buttons.txt` (plain text)."""
    return str(getattr(environment().get_template("stats_buttons.txt").module, name)(*args)).strip()


def _data(action: str, area_id: int, view: View, year: str | None) -> str:
    return StatsChoice.build(action, area_id, view, year or "")


def _year_for(area: AreaRef, year: str | None) -> str | None:
    """`year` when `area` has annual figures around it; otherwise None, its latest year."""
    if year and _FINANCIAL_YEAR.match(year) and area.first_year and area.first_year <= year <= area.last_year:
        return year
    return None


def _compare(left: AreaRef, right: AreaRef, year: str | None) -> str:
    """The button setting `right` beside `left`: in `year` if both have figures around it, else their latest."""
    both = _year_for(left, year) is not None and _year_for(right, year) is not None
    return StatsCompare.build(left.id, right.id, year if both else "")


def stats_buttons(answer: Reply) -> Keyboard:
    """Choices for a question; for an answer, its other views and the areas it leads to (first,
    when its own figures are old: what is current leads)."""
    rows: Keyboard = []
    if isinstance(answer, ChoicesAnswer) and answer.compare_with is not None:
        other = answer.compare_with
        rows += [[(_button_label("area", area),
                   _compare(area, other, answer.year) if answer.compare_first else _compare(other, area, answer.year))]
                 for area in answer.candidates]
    elif isinstance(answer, ChoicesAnswer):
        rows += [[(_button_label("area", area), _data("pick", area.id, answer.view, answer.year))]
                 for area in answer.candidates]
    elif isinstance(answer, NotFoundAnswer):
        rows += [[(_button_label("area", area), _data("pick", area.id, View.SUMMARY, None))]
                 for area in answer.nearest]
    elif isinstance(answer, YearMissingAnswer) and answer.year_choices:
        rows.append([(_button_label("year", year), _data("pick", answer.area.id, answer.view, year))
                     for year in answer.year_choices])
    elif isinstance(answer, ComparePromptAnswer):
        rows += [[(_button_label("area", area), _compare(answer.area, area, answer.year))]
                 for area in answer.candidates]
    elif isinstance(answer, CompareAnswer):
        year = answer.period.label if answer.period else None
        rows += [[(_button_label("summary_of", area), _data("show", area.id, View.SUMMARY, _year_for(area, year)))
                  for area in (answer.left, answer.right)]]
    year = None
    if isinstance(answer, AreaAnswer) and answer.period is not None:
        year = None if answer.latest else answer.period.label
        rows.append([(_button_label("ethnicity", answer.period.label),
                      _data("show", answer.area.id, View.ETHNICITY, answer.period.label)),
                     (_button_label("trend"), _data("show", answer.area.id, View.TREND, None))])
        under = []
        if answer.ranking is not None and answer.ranking.shown:
            under.append((_button_label("rank", answer.ranking.org_type),
                          _data("show", answer.area.id, View.RANK, answer.period.label)))
        under.append((_button_label("compare"), _data("show", answer.area.id, View.COMPARE, year)))
        rows.append(under)
    elif isinstance(answer, EthnicityAnswer):
        year = answer.period.label
        rows.append([(_button_label("summary", answer.period.label),
                      _data("show", answer.area.id, View.SUMMARY, answer.period.label)),
                     (_button_label("trend"), _data("show", answer.area.id, View.TREND, None))])
    elif isinstance(answer, RankAnswer) and answer.ranking is not None:
        year = answer.ranking.period.label
        rows.append([(_button_label("summary", year), _data("show", answer.area.id, View.SUMMARY, year)),
                     (_button_label("compare"), _data("show", answer.area.id, View.COMPARE, year))])
    elif isinstance(answer, YearMissingAnswer):
        year = answer.asked
    if isinstance(answer, AreaAnswer | TrendAnswer):
        rows.append([(_button_label("waits"), _data("show", answer.area.id, View.WAITS, None))])
    elif isinstance(answer, WaitsAnswer):
        rows.append([(_button_label("summary_latest"), _data("show", answer.area.id, View.SUMMARY, None))])
    view = {EthnicityAnswer: View.ETHNICITY, TrendAnswer: View.TREND, RankAnswer: View.RANK,
            WaitsAnswer: View.WAITS}.get(type(answer), View.SUMMARY)
    if isinstance(answer, YearMissingAnswer):
        view = answer.view if answer.view is not View.COMPARE else View.SUMMARY
    offers = [[(_button_label("offer", area), _data("show", area.id, view, _year_for(area, year)))]
              for area in getattr(answer, "offers", ())]
    if isinstance(answer, AreaAnswer) and answer.latest and answer.newest_year is not None:
        return offers + rows
    return rows + offers


# ------------------------------------------------------------------ inline mode


def _inline_words(name: str, answer: Reply) -> str:
    """A title or description from `messages/stats_inline.txt` (plain text)."""
    macro = getattr(environment().get_template("stats_inline.txt").module, name)
    return str(macro(type(answer).__name__, answer)).strip()


def inline_articles(result_id: str, composed: Composed, bot_username: str | None) -> list[InlineQueryResultArticle]:
    """The answer's short form first, when it has one (a headline with a link back to the full
    answer, for sharing into another chat), then the full answer."""
    answer = composed.answer
    articles = [inline_article(result_id, composed)]
    parameter = short_form_link(answer)
    if parameter is None or not bot_username:
        return articles
    try:
        text = render("stats_short.html", answer=answer, link=f"https://t.me/{bot_username}?start={parameter}")
        short = InlineQueryResultArticle(
            id=f"{result_id}-short", title=_inline_words("short_title", answer),
            description=_inline_words("description", answer),
            input_message_content=InputTextMessageContent(text, parse_mode=ParseMode.HTML))
    except Exception:
        logger.exception("the short form of a /stats answer (%s) could not be composed; the full one is offered",
                         type(answer).__name__)
        return articles
    return [short, *articles]


def inline_article(result_id: str, composed: Composed) -> InlineQueryResultArticle:
    return InlineQueryResultArticle(
        id=result_id,
        title=_inline_words("title", composed.answer),
        description=_inline_words("description", composed.answer),
        input_message_content=InputTextMessageContent(composed.text, parse_mode=ParseMode.HTML),
    )
