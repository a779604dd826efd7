"""Building each answer to /stats from the index in memory and one query of figures."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

from sqlmodel.ext.asyncio.session import AsyncSession

from storage.iapt.answer_parts import (
    AreaRef,
    EthnicRow,
    Lineage,
    MeasureRow,
    MonthlyBlock,
    Population,
    ShareRow,
    TrendPoint,
)
from storage.iapt.answers import AreaAnswer, EthnicityAnswer, RankAnswer, TrendAnswer
from storage.iapt.figures import ABSENT_COUNT, Figure, Share
from storage.iapt.ranking import build_peer_ranking
from storage.iapt.records import Period
from storage.iapt.stats_index import FigureKey, StatsIndex, select_figures
from storage.iapt.tables import LinkKind

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

logger = logging.getLogger(__name__)


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


# Reading figures out of one query's rows, for the answers built in other modules (storage.iapt.waits).
FigureReader = _Builder


def lineage_of(index: StatsIndex, area_id: int) -> tuple[tuple[Lineage, ...], tuple[AreaRef, ...]]:
    lineage: list[Lineage] = []
    offers: list[int] = []
    for link in index.links:
        if link.kind == LinkKind.ICB_SERVICE:
            continue  # which services an ICB has (storage.iapt.waits), not where its figures went
        if link.from_id == area_id:
            lineage.append(Lineage(link.kind, True, index.areas[link.to_id], link.effective_on))
            offers.append(link.to_id)
        elif link.to_id == area_id:
            lineage.append(Lineage(link.kind, False, index.areas[link.from_id], link.effective_on))
            offers.append(link.from_id)
    # Follow a chain of successors to its end, so a merged CCG also offers today's ICB.
    successors = {link.from_id: link.to_id for link in index.links
                  if link.kind in (LinkKind.MERGED_INTO, LinkKind.SUCCEEDED_BY)}
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
    lineage, offers = lineage_of(index, area_id)
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
    population = index.population_in(area_id, period)
    england_population = index.population_in(england, period) if compare else None
    if population:
        def of_population(target: int, people: Population) -> Share:
            return Share.of("referrals_received_count", build.figure(target, period_id, "referrals_received_count"),
                            "population", people.value)

        referred = of_population(area_id, population)
        england_referred = of_population(england, england_population) if england_population else None
        shares.append(ShareRow("referred_of_population", referred, england_referred))
    ranking = await build_peer_ranking(session, index, area_id, period_id)
    return AreaAnswer(index.areas[area_id], period, latest, rows, tuple(shares), population, england_population,
                      monthly, lineage, offers, rounded=compare, ranking=ranking,
                      newest_year=newer_than(index, area_id))


def newer_than(index: StatsIndex, area_id: int) -> Period | None:
    """England's newest year, when the area's own figures stop before it; otherwise None."""
    area, newest = index.areas[area_id], index.periods[index.annual[index.england_id][-1]]
    if area.last_year is None or area.last_year >= newest.label:
        return None
    return newest


async def build_rank_answer(session: AsyncSession, index: StatsIndex, area_id: int,
                            period_id: int | None) -> RankAnswer:
    ranking = await build_peer_ranking(session, index, area_id, period_id) if period_id is not None else None
    _lineage, offers = lineage_of(index, area_id)
    return RankAnswer(index.areas[area_id], ranking, offers, rounded=area_id != index.england_id)


async def build_ethnicity_answer(session: AsyncSession, index: StatsIndex, area_id: int,
                                 period_id: int) -> EthnicityAnswer:
    england = index.england_id
    # Naming every key column lets the database seek each figure in its primary key, rather than
    # read all of England's rows (every period, every measure) to keep one year's.
    figures = await select_figures(
        session, area_ids={area_id, england}, period_ids=[period_id],
        breakdown_ids=[b for b in index.breakdowns if b != index.total_id],
        measure_ids=[index.measures[key].id for key in ETHNICITY_MEASURES if key in index.measures])
    build = _Builder(index, figures)
    present = sorted({b for a, b, _p, _m in figures if a == area_id},
                     key=lambda b: _ethnic_order(index.breakdowns[b]))
    rows = []
    for breakdown_id in present:
        variable_type, group, member = index.breakdowns[breakdown_id]
        referrals, finished, recovered, rate = (build.figure(area_id, period_id, key, breakdown_id)
                                                for key in ETHNICITY_MEASURES)
        compare = area_id != england
        england_rate = build.figure(england, period_id, "recovery_percentage", breakdown_id) if compare else None
        england_share = None
        if compare:
            england_share = Share.of(
                "recovery_count", build.figure(england, period_id, "recovery_count", breakdown_id),
                "referrals_received_count", build.figure(england, period_id, "referrals_received_count", breakdown_id))
        rows.append(EthnicRow(variable_type, group, member, referrals, finished, recovered, rate, england_rate,
                              Share.of("recovery_count", recovered, "referrals_received_count", referrals),
                              england_share))
    lineage, offers = lineage_of(index, area_id)
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
    period_ids = index.annual.get(area_id, ())
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
    lineage, offers = lineage_of(index, area_id)
    return TrendAnswer(index.areas[area_id], points, lineage, offers, rounded=area_id != england)
