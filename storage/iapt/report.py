"""/stats's entry point: `parse_stats_request` reads what was typed, and `StatsDesk` answers it.

The desk keeps the area index in memory (loaded on first use, re-checked against the database
now and then, so an import by another process is picked up) and answers a typed query with two
or three small indexed queries. The answers are storage.iapt.answers' types, built by
storage.iapt.building.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
from collections.abc import Callable

from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import Database
from storage.iapt.answers import (
    ChoicesAnswer,
    HeadlineAnswer,
    NoFiguresAnswer,
    NotFoundAnswer,
    StatsAnswer,
    View,
    YearMissingAnswer,
)
from storage.iapt.building import (
    build_area_answer,
    build_ethnicity_answer,
    build_rank_answer,
    build_trend_answer,
    lineage_of,
)
from storage.iapt.comparing import build_compare_answer, build_compare_prompt
from storage.iapt.links import StatsLink
from storage.iapt.search import Choices, Found, NotFound
from storage.iapt.stats_index import StatsIndex, dataset_version, load_stats_index
from storage.iapt.waits import build_waits_answer

INDEX_RECHECK_SECONDS = 60.0


VIEW_WORDS = {
    "ethnicity": View.ETHNICITY, "ethnic": View.ETHNICITY, "ethnicities": View.ETHNICITY,
    "ethnic group": View.ETHNICITY, "ethnic groups": View.ETHNICITY, "by ethnicity": View.ETHNICITY,
    "trend": View.TREND, "trends": View.TREND, "chart": View.TREND, "history": View.TREND,
}
VIEW_WORDS |= {"rank": View.RANK, "ranking": View.RANK, "peers": View.RANK, "league table": View.RANK}
# "/stats tower hamlets vs hackney": the words that set one area beside another.
_VERSUS = re.compile(r"\s+(?:vs\.?|versus|v\.?|compared (?:with|to))\s+", re.IGNORECASE)
# `/stats <area> waits` (storage.iapt.waits), kept to its own table so that it merges beside other views.
VIEW_WORDS |= {"waits": View.WAITS, "wait": View.WAITS, "waiting": View.WAITS, "waiting times": View.WAITS,
               "waiting time": View.WAITS, "wait times": View.WAITS}
_VIEW_AT_END = re.compile(r"\s*\b(" + "|".join(sorted(map(re.escape, VIEW_WORDS), key=len, reverse=True)) + r")\s*$",
                          re.IGNORECASE)
_YEAR_SPAN = re.compile(r"\b(20\d{2})\s*[-/–]\s*(20\d{2}|\d{2})\b")
_BARE_YEAR = re.compile(r"\b(20\d{2})\b")


@dataclasses.dataclass(frozen=True)
class StatsRequest:
    area_text: str
    view: View = View.SUMMARY
    year: str | None = None  # "2018-19"
    # A year typed without its second half ("2019"): either 2018-19 or 2019-20 is meant.
    bare_year: int | None = None
    bad_year: str | None = None  # "2018-20": a span that is not one financial year
    other_text: str | None = None  # "hackney" in "tower hamlets vs hackney" (view COMPARE)


def parse_stats_request(text: str) -> StatsRequest:
    """Split "tower hamlets 2018-19 ethnicity" into the area, the year and the view, and
    "tower hamlets vs hackney 2019-20" into the two areas and the year."""
    text = " ".join(text.split())
    sides = _VERSUS.split(text, maxsplit=1)
    if len(sides) == 2 and all(side.strip() for side in sides):
        left, right = parse_stats_request(sides[0]), parse_stats_request(sides[1])
        return StatsRequest(left.area_text, View.COMPARE, left.year or right.year,
                            left.bare_year or right.bare_year, left.bad_year or right.bad_year, right.area_text)
    view = View.SUMMARY
    match = _VIEW_AT_END.search(text)
    if match:
        view = VIEW_WORDS[match.group(1).lower()]
        text = text[: match.start()]
    year = bare_year = bad_year = None
    match = _YEAR_SPAN.search(text)
    if match:
        first, second = int(match.group(1)), int(match.group(2)[-2:])
        if (first + 1) % 100 == second:
            year = f"{first}-{second:02d}"
        else:
            bad_year = match.group(0)
        text = text[: match.start()] + text[match.end():]
    else:
        match = _BARE_YEAR.search(text)
        if match:
            bare_year = int(match.group(1))
            text = text[: match.start()] + text[match.end():]
    match = _VIEW_AT_END.search(text)  # "tower hamlets trend 2019-20" as well as "… 2019-20 trend"
    if match and view is View.SUMMARY:
        view = VIEW_WORDS[match.group(1).lower()]
        text = text[: match.start()]
    return StatsRequest(" ".join(text.split()), view, year, bare_year, bad_year)


class StatsDesk:
    """Answers /stats queries over a Database, keeping the area index in memory."""

    def __init__(self, db: Database, *, recheck_seconds: float = INDEX_RECHECK_SECONDS,
                 clock: Callable[[], float] = time.monotonic,
                 after_loading: Callable[[], None] | None = None) -> None:
        self.db = db
        self._index: StatsIndex | None = None
        # Called once each time the index has been (re)loaded: loading makes and drops many rows.
        self._after_loading = after_loading
        self._checked_at = float("-inf")
        self._recheck_seconds = recheck_seconds
        self._clock = clock
        # Concurrent first questions load the index once, not once each.
        self._loading = asyncio.Lock()

    def forget_index(self) -> None:
        """Drop the in-memory index (after an import in this process)."""
        self._index, self._checked_at = None, float("-inf")

    async def _current_index(self, session: AsyncSession) -> StatsIndex | None:
        if self._index is not None and self._clock() - self._checked_at < self._recheck_seconds:
            return self._index
        async with self._loading:
            if self._index is not None and self._clock() - self._checked_at < self._recheck_seconds:
                return self._index  # another question loaded it while this one waited
            if self._index is None or await dataset_version(session) != self._index.version:
                self._index = await load_stats_index(session)
                if self._after_loading is not None:
                    self._after_loading()
            self._checked_at = self._clock()
        return self._index

    async def index(self) -> StatsIndex | None:
        async with self.db.transaction() as session:
            return await self._current_index(session)

    async def answer(self, text: str) -> StatsAnswer:
        """The answer to `/stats <text>` (or to the same text typed inline or in the terminal)."""
        return await self.answer_request(parse_stats_request(text))

    async def answer_request(self, request: StatsRequest) -> StatsAnswer:
        async with self.db.transaction() as session:
            index = await self._current_index(session)
            if index is None:
                return NoFiguresAnswer()
            if request.view is View.COMPARE and request.other_text is not None:
                return await self._answer_comparison(session, index, request)
            if not request.area_text and request.year is None and request.bare_year is None:
                if request.view is View.SUMMARY:
                    latest = index.annual[index.england_id][-1]
                    england = await build_area_answer(session, index, index.england_id, latest, latest=True)
                    return HeadlineAnswer(england)
                return await self._answer_area(session, index, index.england_id, request)
            result = index.finder.find(request.area_text or "england")
            if isinstance(result, NotFound):
                return NotFoundAnswer(request.area_text, tuple(index.areas[e.id] for e in result.nearest))
            if isinstance(result, Choices):
                return ChoicesAnswer(request.area_text, tuple(index.areas[e.id] for e in result.candidates),
                                     request.view, request.year)
            assert isinstance(result, Found)
            return await self._answer_area(session, index, result.area.id, request)

    async def answer_for_area(self, area_id: int, *, view: View = View.SUMMARY, year: str | None = None) -> StatsAnswer:
        """The answer for an area chosen by id (a button under a previous answer)."""
        async with self.db.transaction() as session:
            index = await self._current_index(session)
            if index is None:
                return NoFiguresAnswer()
            if area_id not in index.areas:
                return NotFoundAnswer(str(area_id), ())
            return await self._answer_area(session, index, area_id, StatsRequest("", view, year))

    async def compare(self, left_id: int, right_id: int, *, year: str | None = None) -> StatsAnswer:
        """Two areas chosen by id (the buttons of "Compare"), side by side."""
        async with self.db.transaction() as session:
            index = await self._current_index(session)
            if index is None:
                return NoFiguresAnswer()
            for area_id in (left_id, right_id):
                if area_id not in index.areas:
                    return NotFoundAnswer(str(area_id), ())
            return await build_compare_answer(session, index, left_id, right_id, year)


    async def answer_link(self, link: StatsLink) -> StatsAnswer:
        """The full answer a deep link asks for (`/start stats-…`, storage.iapt.links), by area code."""
        async with self.db.transaction() as session:
            index = await self._current_index(session)
            if index is None:
                return NoFiguresAnswer()
            area = next((a for a in index.areas.values() if (a.org_type, a.code) == (link.org_type, link.code)), None)
            if area is None:
                return NotFoundAnswer(link.code, ())
            return await self._answer_area(session, index, area.id, StatsRequest("", link.view, link.year))

    async def _answer_comparison(self, session: AsyncSession, index: StatsIndex,
                                 request: StatsRequest) -> StatsAnswer:
        texts = (request.area_text or "england", request.other_text)
        left, right = (index.finder.find(text) for text in texts)
        for text, result in zip(texts, (left, right), strict=True):
            if isinstance(result, NotFound):
                return NotFoundAnswer(text, tuple(index.areas[e.id] for e in result.nearest))
        year = request.year or request.bad_year
        if request.bare_year is not None and isinstance(left, Found) and isinstance(right, Found):
            y = request.bare_year
            both = set(index.years_of(left.area.id)) & set(index.years_of(right.area.id))
            year = next((label for label in (f"{y}-{(y + 1) % 100:02d}", f"{y - 1}-{y % 100:02d}") if label in both),
                        str(y))
        if isinstance(left, Choices):
            other = index.areas[right.area.id] if isinstance(right, Found) else None
            return ChoicesAnswer(texts[0], tuple(index.areas[e.id] for e in left.candidates), View.SUMMARY,
                                 request.year, compare_with=other, compare_first=True)
        if isinstance(right, Choices):
            return ChoicesAnswer(texts[1], tuple(index.areas[e.id] for e in right.candidates), View.SUMMARY,
                                 request.year, compare_with=index.areas[left.area.id], compare_first=False)
        return await build_compare_answer(session, index, left.area.id, right.area.id, year)

    async def _answer_area(self, session: AsyncSession, index: StatsIndex, area_id: int,
                           request: StatsRequest) -> StatsAnswer:
        years = index.annual.get(area_id, ())
        area = index.areas[area_id]

        def missing(asked: str, choices: tuple[str, ...] = ()) -> YearMissingAnswer:
            lineage, offers = lineage_of(index, area_id)
            return YearMissingAnswer(area, asked, index.years_of(area_id), choices, lineage, offers, request.view)

        if request.view is View.TREND:
            return await build_trend_answer(session, index, area_id)
        if request.view is View.WAITS:
            return await build_waits_answer(session, index, area_id)
        if request.bad_year:
            return missing(request.bad_year)
        if request.bare_year is not None:
            y = request.bare_year
            options = tuple(label for label in (f"{y - 1}-{y % 100:02d}", f"{y}-{(y + 1) % 100:02d}")
                            if label in index.years_of(area_id))
            if len(options) == 1:
                request = dataclasses.replace(request, year=options[0], bare_year=None)
            else:
                return missing(str(y), options)
        if request.year is not None:
            period_id = index.period_ids.get(request.year)
            if period_id is None or period_id not in years:
                return missing(request.year)
        elif years:
            period_id = years[-1]
        elif request.view is View.RANK:
            return await build_rank_answer(session, index, area_id, None)
        elif request.view is View.COMPARE:
            return await build_compare_prompt(session, index, area_id, None, lineage_of(index, area_id)[1])
        else:
            # A service with monthly figures only: its latest month is all there is.
            return await build_area_answer(session, index, area_id, None, latest=True)
        if request.view is View.ETHNICITY:
            return await build_ethnicity_answer(session, index, area_id, period_id)
        if request.view is View.RANK:
            return await build_rank_answer(session, index, area_id, period_id)
        if request.view is View.COMPARE:
            _lineage, offers = lineage_of(index, area_id)
            return await build_compare_prompt(session, index, area_id, request.year, offers)
        return await build_area_answer(session, index, area_id, period_id, latest=request.year is None)
