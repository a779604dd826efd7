"""Answers to /stats: plain data objects built from the figures, for the templates to render.

Nothing here formats prose. Each answer names the templates that render it: `html_template`
for Telegram, `text_template` for the terminal. Published figures and figures calculated here
are different types (`Figure` and `Share`), so a template cannot show a calculated share as if
NHS Digital had published it.

`StatsDesk` is the one entry point: it keeps the area index in memory (loaded on first use,
re-checked against the database now and then, so an import by another process is picked up)
and answers a typed query with two or three small indexed queries.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import enum
import logging
import math
import re
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import ClassVar

from sqlalchemy import select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import Database
from storage.iapt.search import AreaEntry, AreaFinder, Choices, Found, NotFound
from storage.iapt.tables import (
    ENGLAND_CODE,
    OGL_ATTRIBUTION,
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
    dataset_complete,
)

# The measures of an area's answer, in order: (count measure, published rate or None).
ANNUAL_ROWS: tuple[tuple[str, str | None], ...] = (
    ("referrals_received_count", None),
    ("finished_course_treatment_count", None),
    ("recovery_count", "recovery_percentage"),
    ("reliable_recovery_count", "reliable_recovery_percentage"),
    ("improvement_count", "improvement_percentage"),
    ("deterioration_count", "deterioration_percentage"),
)
MONTHLY_ROWS: tuple[tuple[str, str | None], ...] = (
    ("M001", None),  # referrals received
    ("M031", None),  # entered treatment (first treatment appointment)
    ("M048", None),  # mean days from referral to first treatment
    ("M049", None),  # median days
    ("M076", None),  # finished a course of treatment
    ("M191", "M192"),  # moved to recovery, count and rate
    ("M193", "M195"),  # reliable recovery, count and rate
)
ETHNICITY_MEASURES = ("referrals_received_count", "finished_course_treatment_count", "recovery_count",
                      "recovery_percentage")
TREND_MEASURES = ("referrals_received_count", "finished_course_treatment_count", "recovery_count",
                  "recovery_percentage")
# Which population to use when a period has several: better sources first.
CONFIDENCE_RANK = {"high": 0, "secondary": 1, "projection": 2, "low": 3}
INDEX_RECHECK_SECONDS = 60.0

logger = logging.getLogger(__name__)


class View(enum.StrEnum):
    SUMMARY = "summary"
    ETHNICITY = "ethnicity"
    TREND = "trend"


# --------------------------------------------------------------------------------------------
# The request
# --------------------------------------------------------------------------------------------

VIEW_WORDS = {
    "ethnicity": View.ETHNICITY, "ethnic": View.ETHNICITY, "ethnicities": View.ETHNICITY,
    "ethnic group": View.ETHNICITY, "ethnic groups": View.ETHNICITY, "by ethnicity": View.ETHNICITY,
    "trend": View.TREND, "trends": View.TREND, "chart": View.TREND, "history": View.TREND,
}
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


def parse_stats_request(text: str) -> StatsRequest:
    """Split "tower hamlets 2018-19 ethnicity" into the area, the year and the view."""
    text = " ".join(text.split())
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


# --------------------------------------------------------------------------------------------
# What the templates receive
# --------------------------------------------------------------------------------------------


def _format_number(value: float, unit: str) -> str:
    if unit == Unit.COUNT:
        return f"{round(value):,}"
    return f"{value:,.0f}" if value.is_integer() else f"{value:,.1f}"


@dataclasses.dataclass(frozen=True)
class Figure:
    """One published figure: a value, or suppressed by NHS Digital, or absent from the data."""

    value: float | None
    suppressed: bool
    unit: str
    # The stored row holds something that is not a number (infinity, NaN, text): it is left out
    # of the answer and said to be unreadable, rather than failing the whole answer.
    unreadable: bool = False

    @property
    def available(self) -> bool:
        return self.value is not None

    @property
    def missing(self) -> bool:
        return self.value is None and not self.suppressed and not self.unreadable

    @property
    def number(self) -> str:
        """The value as digits ("10,270", "52.1"); empty when there is no value."""
        return "" if self.value is None else _format_number(self.value, self.unit)

    @property
    def is_rate(self) -> bool:
        return self.unit == Unit.PERCENTAGE


ABSENT_COUNT = Figure(None, False, Unit.COUNT)


@dataclasses.dataclass(frozen=True)
class Share:
    """A percentage calculated by campaign-bot from published counts; never a published figure."""

    numerator: str  # measure keys, or "population"
    denominator: str
    value: float | None  # None when an input is suppressed or missing
    input_suppressed: bool = False

    @property
    def number(self) -> str:
        return "" if self.value is None else f"{self.value:.1f}"

    @staticmethod
    def of(numerator_key: str, numerator: Figure | int | None, denominator_key: str,
           denominator: Figure | int | None) -> Share:
        def value_of(x):
            return x.value if isinstance(x, Figure) else x

        top, bottom = value_of(numerator), value_of(denominator)
        suppressed = any(isinstance(x, Figure) and x.suppressed for x in (numerator, denominator))
        if top is None or bottom in (None, 0):
            return Share(numerator_key, denominator_key, None, suppressed)
        return Share(numerator_key, denominator_key, round(100 * top / bottom, 1))


@dataclasses.dataclass(frozen=True)
class Period:
    label: str
    frequency: str
    start_date: dt.date
    end_date: dt.date
    publication: str


@dataclasses.dataclass(frozen=True)
class AreaRef:
    id: int
    org_type: str
    code: str
    name: str
    first_year: str | None  # the first and last financial years with annual figures
    last_year: str | None
    last_month: str | None  # the last month with monthly figures (providers and England)

    @property
    def is_england(self) -> bool:
        return self.org_type == OrgType.ENGLAND


@dataclasses.dataclass(frozen=True)
class Lineage:
    """One curated or derived link, seen from the area answered."""

    kind: str  # LinkKind
    outgoing: bool  # True: this area -> other (merged into / succeeded by / its local service)
    other: AreaRef
    effective_on: dt.date | None


@dataclasses.dataclass(frozen=True)
class MeasureRow:
    key: str  # the count measure's key, which the template turns into a label
    count: Figure
    rate: Figure | None
    england_count: Figure | None  # None when the area is England itself
    england_rate: Figure | None


@dataclasses.dataclass(frozen=True)
class ShareRow:
    key: str  # "finished_of_referrals", "recovered_of_referrals", "referred_of_population"
    area: Share
    england: Share | None


@dataclasses.dataclass(frozen=True)
class Population:
    value: int
    reference: str  # "mid-2018"
    reference_date: dt.date | None
    kind: str
    source: str
    confidence: str
    geography_name: str


@dataclasses.dataclass(frozen=True)
class MonthlyBlock:
    period: Period
    rows: tuple[MeasureRow, ...]


@dataclasses.dataclass(frozen=True)
class AreaAnswer:
    html_template: ClassVar[str] = "stats_area.html"
    text_template: ClassVar[str] = "stats_area.txt"
    area: AreaRef
    period: Period | None  # None for the few services with monthly figures only
    latest: bool  # True when no year was asked for
    rows: tuple[MeasureRow, ...]
    shares: tuple[ShareRow, ...]
    population: Population | None
    england_population: Population | None
    monthly: MonthlyBlock | None
    lineage: tuple[Lineage, ...]
    offers: tuple[AreaRef, ...]  # areas worth a button: successors, local service, predecessors
    rounded: bool  # sub-national counts are rounded to the nearest 5
    attribution: str = OGL_ATTRIBUTION


@dataclasses.dataclass(frozen=True)
class EthnicRow:
    variable_type: str  # "Ethnic Group" or "BME Group"
    group: str
    member: str  # "All" for a group's subtotal, "" where not applicable
    referrals: Figure
    finished: Figure
    recovered: Figure
    recovery_rate: Figure
    england_recovery_rate: Figure | None

    @property
    def is_subtotal(self) -> bool:
        return self.member in ("All", "")


@dataclasses.dataclass(frozen=True)
class EthnicityAnswer:
    html_template: ClassVar[str] = "stats_ethnicity.html"
    text_template: ClassVar[str] = "stats_ethnicity.txt"
    area: AreaRef
    period: Period
    rows: tuple[EthnicRow, ...]
    suppressed_rows: int  # rows whose recovery rate NHS Digital suppressed
    lineage: tuple[Lineage, ...]
    offers: tuple[AreaRef, ...]
    rounded: bool
    attribution: str = OGL_ATTRIBUTION


@dataclasses.dataclass(frozen=True)
class TrendPoint:
    period: Period
    referrals: Figure
    finished: Figure
    recovery_rate: Figure
    england_recovery_rate: Figure | None


@dataclasses.dataclass(frozen=True)
class TrendAnswer:
    html_template: ClassVar[str] = "stats_trend.html"
    text_template: ClassVar[str] = "stats_trend.txt"
    area: AreaRef
    points: tuple[TrendPoint, ...]
    lineage: tuple[Lineage, ...]
    offers: tuple[AreaRef, ...]
    rounded: bool
    attribution: str = OGL_ATTRIBUTION

    @property
    def publications(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p.period.publication.rsplit(",", 1)[0] for p in self.points))


@dataclasses.dataclass(frozen=True)
class HeadlineAnswer:
    """/stats alone: England's latest figures and how to ask."""

    html_template: ClassVar[str] = "stats_headline.html"
    text_template: ClassVar[str] = "stats_headline.txt"
    england: AreaAnswer
    attribution: str = OGL_ATTRIBUTION


@dataclasses.dataclass(frozen=True)
class ChoicesAnswer:
    html_template: ClassVar[str] = "stats_choices.html"
    text_template: ClassVar[str] = "stats_choices.txt"
    query: str
    candidates: tuple[AreaRef, ...]
    view: View
    year: str | None


@dataclasses.dataclass(frozen=True)
class NotFoundAnswer:
    html_template: ClassVar[str] = "stats_not_found.html"
    text_template: ClassVar[str] = "stats_not_found.txt"
    query: str
    nearest: tuple[AreaRef, ...]


@dataclasses.dataclass(frozen=True)
class YearMissingAnswer:
    """The area exists but has no figures for the year asked (or the year is not a financial year)."""

    html_template: ClassVar[str] = "stats_year_missing.html"
    text_template: ClassVar[str] = "stats_year_missing.txt"
    area: AreaRef
    asked: str
    years: tuple[str, ...]  # the years it has
    year_choices: tuple[str, ...]  # for a bare "2019": the financial years it might mean
    lineage: tuple[Lineage, ...]
    offers: tuple[AreaRef, ...]
    view: View


@dataclasses.dataclass(frozen=True)
class NoFiguresAnswer:
    html_template: ClassVar[str] = "stats_no_figures.html"
    text_template: ClassVar[str] = "stats_no_figures.txt"


StatsAnswer = (AreaAnswer | EthnicityAnswer | TrendAnswer | HeadlineAnswer | ChoicesAnswer | NotFoundAnswer
               | YearMissingAnswer | NoFiguresAnswer)


# --------------------------------------------------------------------------------------------
# The index kept in memory
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Measure:
    id: int
    key: str
    unit: str


@dataclasses.dataclass(frozen=True)
class _Link:
    from_id: int
    to_id: int
    kind: str
    effective_on: dt.date | None


@dataclasses.dataclass
class StatsIndex:
    version: tuple
    areas: dict[int, AreaRef]
    finder: AreaFinder
    periods: dict[int, Period]
    period_ids: dict[str, int]
    measures: dict[str, _Measure]
    measures_by_id: dict[int, _Measure]
    total_id: int
    england_id: int
    annual: dict[int, list[int]]  # area -> its annual period ids, oldest first
    monthly: dict[int, list[int]]
    links: list[_Link]
    populations: dict[int, list[Population]]
    breakdowns: dict[int, tuple[str, str, str]]

    def years_of(self, area_id: int) -> tuple[str, ...]:
        return tuple(self.periods[p].label for p in self.annual.get(area_id, ()))


async def dataset_version(session: AsyncSession) -> tuple:
    rows = (await session.execute(select(IaptDataset.id, IaptDataset.content_sha256).order_by(IaptDataset.id))).all()
    return tuple(tuple(row) for row in rows)


async def load_stats_index(session: AsyncSession) -> StatsIndex | None:
    """Everything but the figures themselves; None when no figures are loaded, or while some are
    still being loaded (a part-loaded dataset would answer with figures missing)."""
    version = await dataset_version(session)
    if not version or not all(dataset_complete(digest) for _id, digest in version):
        return None
    periods = {
        row.id: Period(row.label, row.frequency, row.start_date, row.end_date, row.publication)
        for row in (await session.execute(select(IaptPeriod))).scalars()
    }
    measures = {row.key: _Measure(row.id, row.key, row.unit)
                for row in (await session.execute(select(IaptMeasure))).scalars()}
    breakdowns = {row.id: (row.variable_type, row.variable_a, row.variable_b)
                  for row in (await session.execute(select(IaptBreakdown))).scalars()}
    total_id = next(i for i, b in breakdowns.items() if b == ("Total", "", ""))
    coverage = (await session.execute(
        select(IaptFigure.area_id, IaptFigure.period_id).where(IaptFigure.breakdown_id == total_id)
        .group_by(IaptFigure.area_id, IaptFigure.period_id))).all()
    annual: dict[int, list[int]] = defaultdict(list)
    monthly: dict[int, list[int]] = defaultdict(list)
    for area_id, period_id in coverage:
        (annual if periods[period_id].frequency == Frequency.ANNUAL else monthly)[area_id].append(period_id)
    for series in (*annual.values(), *monthly.values()):
        series.sort(key=lambda p: periods[p].start_date)

    rows = (await session.execute(select(IaptArea))).scalars().all()
    areas: dict[int, AreaRef] = {}
    for row in rows:
        years, months = annual.get(row.id, []), monthly.get(row.id, [])
        areas[row.id] = AreaRef(
            row.id, row.org_type, row.code, row.name,
            periods[years[0]].label if years else None, periods[years[-1]].label if years else None,
            periods[months[-1]].label if months else None)
    england_id = next(a.id for a in areas.values() if a.org_type == OrgType.ENGLAND and a.code == ENGLAND_CODE)

    aliases: dict[int, list[str]] = defaultdict(list)
    codes: dict[int, list[str]] = defaultdict(list)
    for alias in (await session.execute(select(IaptAreaAlias))).scalars():
        target = codes if alias.kind in (AliasKind.ONS_CODE, AliasKind.SAME_AREA_CODE) else aliases
        target[alias.area_id].append(alias.alias)
    links = [_Link(row.from_area_id, row.to_area_id, row.kind, row.effective_on)
             for row in (await session.execute(select(IaptAreaLink))).scalars()]
    # When an area and another it leads to both match a query, answer with the one that leads
    # on: a merger's successor, or the geography rather than its local service.
    preferred: dict[int, list[int]] = defaultdict(list)
    for link in links:
        if link.kind == LinkKind.LOCAL_SERVICE:
            preferred[link.to_id].append(link.from_id)
        else:
            preferred[link.from_id].append(link.to_id)
    searchable = [
        AreaEntry(a.id, a.org_type, a.code, a.name, tuple(aliases[a.id]), tuple(codes[a.id]))
        for a in areas.values()
        if (a.first_year or a.last_month) and a.code != "UNKNOWN"  # "UNKNOWN" is not a place to look up
    ]
    searchable.append(dataclasses.replace(
        next(e for e in searchable if e.id == england_id), codes=("E92000001",), aliases=("England", "national")))
    finder = AreaFinder(searchable, preferred=preferred)

    populations: dict[int, list[Population]] = defaultdict(list)
    for row in (await session.execute(select(IaptPopulation).where(IaptPopulation.area_id.is_not(None)))).scalars():
        populations[row.area_id].append(Population(row.value, row.reference, row.reference_date, row.kind,
                                                   row.source, row.confidence, row.geography_name))
    return StatsIndex(version, areas, finder, periods, {p.label: i for i, p in periods.items()}, measures,
                      {m.id: m for m in measures.values()}, total_id, england_id, dict(annual), dict(monthly), links,
                      dict(populations), breakdowns)


# --------------------------------------------------------------------------------------------
# Queries
# --------------------------------------------------------------------------------------------

FigureKey = tuple[int, int, int, int]  # area, breakdown, period, measure


async def select_figures(session: AsyncSession, *, area_ids: Iterable[int], period_ids: Iterable[int],
                         breakdown_ids: Iterable[int] | None = None) -> dict[FigureKey, tuple[float | None, bool]]:
    """The figures of some areas in some periods (all breakdowns unless given), keyed by ids."""
    figure = IaptFigure.__table__.c
    query = select(figure.area_id, figure.breakdown_id, figure.period_id, figure.measure_id, figure.value,
                   figure.suppressed).where(figure.area_id.in_(list(area_ids)), figure.period_id.in_(list(period_ids)))
    if breakdown_ids is not None:
        query = query.where(figure.breakdown_id.in_(list(breakdown_ids)))
    return {(a, b, p, m): (v, s) for a, b, p, m, v, s in (await session.execute(query)).all()}


# --------------------------------------------------------------------------------------------
# Building answers
# --------------------------------------------------------------------------------------------


def _readable(value: object) -> bool:
    """A figure as the import stores it: a finite number, or none at all."""
    if value is None:
        return True
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


class _Builder:
    def __init__(self, index: StatsIndex, figures: dict[FigureKey, tuple[float | None, bool]]) -> None:
        self.index, self.figures = index, figures

    def figure(self, area_id: int, period_id: int, key: str, breakdown_id: int | None = None) -> Figure:
        measure = self.index.measures.get(key)
        if measure is None:
            return ABSENT_COUNT
        key = (area_id, breakdown_id or self.index.total_id, period_id, measure.id)
        found = self.figures.get(key)
        if found is None:
            return Figure(None, False, measure.unit)
        value, suppressed = found
        if not _readable(value):
            logger.warning("an IAPT figure row is unreadable and left out (area %s, breakdown %s, period %s, "
                           "measure %s)", *key)
            return Figure(None, False, measure.unit, unreadable=True)
        return Figure(value, bool(suppressed), measure.unit)


    def rows(self, area_id: int, period_id: int, spec: Sequence[tuple[str, str | None]]) -> tuple[MeasureRow, ...]:
        england = self.index.england_id
        compare = area_id != england
        return tuple(
            MeasureRow(
                count,
                self.figure(area_id, period_id, count),
                self.figure(area_id, period_id, rate) if rate else None,
                self.figure(england, period_id, count) if compare else None,
                self.figure(england, period_id, rate) if rate and compare else None,
            )
            for count, rate in spec
        )


def _lineage(index: StatsIndex, area_id: int) -> tuple[tuple[Lineage, ...], tuple[AreaRef, ...]]:
    lineage: list[Lineage] = []
    offers: list[int] = []
    for link in index.links:
        if link.from_id == area_id:
            lineage.append(Lineage(link.kind, True, index.areas[link.to_id], link.effective_on))
            offers.append(link.to_id)
        elif link.to_id == area_id:
            lineage.append(Lineage(link.kind, False, index.areas[link.from_id], link.effective_on))
            offers.append(link.from_id)
    # Follow a chain of successors to its end, so a merged CCG also offers today's ICB.
    successors = {link.from_id: link.to_id for link in index.links if link.kind != LinkKind.LOCAL_SERVICE}
    current, seen = area_id, {area_id}
    while current in successors and successors[current] not in seen:
        current = successors[current]
        seen.add(current)
    if current != area_id:
        offers.append(current)
    order = {LinkKind.MERGED_INTO: 0, LinkKind.SUCCEEDED_BY: 1, LinkKind.LOCAL_SERVICE: 2}
    lineage.sort(key=lambda link: (not link.outgoing, order.get(link.kind, 3)))
    offer_refs = tuple(index.areas[a] for a in dict.fromkeys(offers) if a != area_id)
    offer_refs = tuple(sorted(offer_refs, key=lambda a: a.last_month or a.last_year or "", reverse=True))
    return tuple(lineage), offer_refs


def _population_for(index: StatsIndex, area_id: int, period: Period) -> Population | None:
    """The best-sourced population dated inside the period; none if the source gives no date."""
    candidates = [p for p in index.populations.get(area_id, ())
                  if p.reference_date and period.start_date <= p.reference_date <= period.end_date]
    if not candidates:
        return None
    middle = period.start_date + (period.end_date - period.start_date) / 2
    return min(candidates, key=lambda p: (CONFIDENCE_RANK.get(p.confidence, len(CONFIDENCE_RANK)),
                                          abs((p.reference_date - middle).days)))


async def build_area_answer(session: AsyncSession, index: StatsIndex, area_id: int, period_id: int | None, *,
                            latest: bool) -> AreaAnswer:
    """The area's figures for one financial year beside England's, and its latest month if it has months."""
    england = index.england_id
    months = index.monthly.get(area_id)
    month_id = months[-1] if months else None
    period_ids = [p for p in (period_id, month_id) if p is not None]
    figures = await select_figures(session, area_ids={area_id, england}, period_ids=period_ids,
                                   breakdown_ids=[index.total_id])
    build = _Builder(index, figures)
    monthly = MonthlyBlock(index.periods[month_id], build.rows(area_id, month_id, MONTHLY_ROWS)) if month_id else None
    lineage, offers = _lineage(index, area_id)
    compare = area_id != england
    if period_id is None:
        return AreaAnswer(index.areas[area_id], None, latest, (), (), None, None, monthly, lineage, offers,
                          rounded=compare)
    period = index.periods[period_id]
    rows = build.rows(area_id, period_id, ANNUAL_ROWS)

    def of_referrals(target: int, key: str) -> Share:
        return Share.of(key, build.figure(target, period_id, key),
                        "referrals_received_count", build.figure(target, period_id, "referrals_received_count"))

    def shares_for(target: int) -> tuple[Share, Share]:
        return of_referrals(target, "finished_course_treatment_count"), of_referrals(target, "recovery_count")

    area_shares = shares_for(area_id)
    england_shares = shares_for(england) if compare else (None, None)
    shares = [ShareRow("finished_of_referrals", area_shares[0], england_shares[0]),
              ShareRow("recovered_of_referrals", area_shares[1], england_shares[1])]
    population = _population_for(index, area_id, period)
    england_population = _population_for(index, england, period) if compare else None
    if population:
        def of_population(target: int, people: Population) -> Share:
            return Share.of("referrals_received_count", build.figure(target, period_id, "referrals_received_count"),
                            "population", people.value)

        referred = of_population(area_id, population)
        england_referred = of_population(england, england_population) if england_population else None
        shares.append(ShareRow("referred_of_population", referred, england_referred))
    return AreaAnswer(index.areas[area_id], period, latest, rows, tuple(shares), population, england_population,
                      monthly, lineage, offers, rounded=compare)


async def build_ethnicity_answer(session: AsyncSession, index: StatsIndex, area_id: int,
                                 period_id: int) -> EthnicityAnswer:
    england = index.england_id
    figures = await select_figures(session, area_ids={area_id, england}, period_ids=[period_id])
    build = _Builder(index, figures)
    present = sorted({b for a, b, _p, _m in figures if a == area_id and b != index.total_id},
                     key=lambda b: _ethnic_order(index.breakdowns[b]))
    rows = []
    for breakdown_id in present:
        variable_type, group, member = index.breakdowns[breakdown_id]
        referrals, finished, recovered, rate = (build.figure(area_id, period_id, key, breakdown_id)
                                                for key in ETHNICITY_MEASURES)
        england_rate = (build.figure(england, period_id, "recovery_percentage", breakdown_id)
                        if area_id != england else None)
        rows.append(EthnicRow(variable_type, group, member, referrals, finished, recovered, rate, england_rate))
    lineage, offers = _lineage(index, area_id)
    return EthnicityAnswer(index.areas[area_id], index.periods[period_id], tuple(rows),
                           sum(1 for r in rows if r.recovery_rate.suppressed), lineage, offers,
                           rounded=area_id != england)


def _ethnic_order(breakdown: tuple[str, str, str]) -> tuple:
    variable_type, group, member = breakdown
    unknown = group.lower().startswith(("not stated", "unknown"))
    # NHS Digital's order: groups alphabetically with "not known" last, each subtotal first.
    return (variable_type != "Ethnic Group", unknown, group.lower(), member not in ("All", ""), member.lower())


async def build_trend_answer(session: AsyncSession, index: StatsIndex, area_id: int) -> TrendAnswer:
    england = index.england_id
    period_ids = index.annual.get(area_id, [])
    figures = await select_figures(session, area_ids={area_id, england}, period_ids=period_ids,
                                   breakdown_ids=[index.total_id])
    build = _Builder(index, figures)
    points = tuple(
        TrendPoint(index.periods[p], build.figure(area_id, p, "referrals_received_count"),
                   build.figure(area_id, p, "finished_course_treatment_count"),
                   build.figure(area_id, p, "recovery_percentage"),
                   build.figure(england, p, "recovery_percentage") if area_id != england else None)
        for p in period_ids
    )
    lineage, offers = _lineage(index, area_id)
    return TrendAnswer(index.areas[area_id], points, lineage, offers, rounded=area_id != england)


# --------------------------------------------------------------------------------------------
# The desk
# --------------------------------------------------------------------------------------------


class StatsDesk:
    """Answers /stats queries over a Database, keeping the area index in memory."""

    def __init__(self, db: Database, *, recheck_seconds: float = INDEX_RECHECK_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.db = db
        self._index: StatsIndex | None = None
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

    async def _answer_area(self, session: AsyncSession, index: StatsIndex, area_id: int,
                           request: StatsRequest) -> StatsAnswer:
        years = index.annual.get(area_id, [])
        area = index.areas[area_id]

        def missing(asked: str, choices: tuple[str, ...] = ()) -> YearMissingAnswer:
            lineage, offers = _lineage(index, area_id)
            return YearMissingAnswer(area, asked, index.years_of(area_id), choices, lineage, offers, request.view)

        if request.view is View.TREND:
            return await build_trend_answer(session, index, area_id)
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
        else:
            # A service with monthly figures only: its latest month is all there is.
            return await build_area_answer(session, index, area_id, None, latest=True)
        if request.view is View.ETHNICITY:
            return await build_ethnicity_answer(session, index, area_id, period_id)
        return await build_area_answer(session, index, area_id, period_id, latest=request.year is None)
