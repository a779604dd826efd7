"""What /stats keeps in memory about the figures (areas, periods, measures, links, populations:
everything but the figures themselves), and the one query that fetches figures by ids."""

from __future__ import annotations

import dataclasses
import datetime as dt
import sys
from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.iapt.answer_parts import AreaRef, Population
from storage.iapt.records import Period
from storage.iapt.search import AreaEntry, AreaFinder
from storage.iapt.tables import (
    ENGLAND_CODE,
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
    dataset_complete,
)

# Which population to use when a period has several: better sources first.
CONFIDENCE_RANK = {"high": 0, "secondary": 1, "projection": 2, "low": 3}


@dataclasses.dataclass(frozen=True, slots=True)
class _Measure:
    id: int
    key: str
    unit: str


@dataclasses.dataclass(frozen=True, slots=True)
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
    annual: dict[int, tuple[int, ...]]  # area -> its annual period ids, oldest first
    monthly: dict[int, tuple[int, ...]]
    links: list[_Link]
    populations: dict[int, list[Population]]
    breakdowns: dict[int, tuple[str, str, str]]
    # Worked out on first use from the figures above, and dropped with the index when they change:
    # (what, ids...) -> the result (storage.iapt.ranking keeps each kind's values per year here).
    derived: dict[tuple, object] = dataclasses.field(default_factory=dict)

    def years_of(self, area_id: int) -> tuple[str, ...]:
        return tuple(self.periods[p].label for p in self.annual.get(area_id, ()))

    def population_in(self, area_id: int, period: Period) -> Population | None:
        """The best-sourced population dated inside the period; none if the source gives no date."""
        candidates = [p for p in self.populations.get(area_id, ())
                      if p.reference_date and period.start_date <= p.reference_date <= period.end_date]
        if not candidates:
            return None
        middle = period.start_date + (period.end_date - period.start_date) / 2
        return min(candidates, key=lambda p: (CONFIDENCE_RANK.get(p.confidence, len(CONFIDENCE_RANK)),
                                              abs((p.reference_date - middle).days)))


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
            row.id, sys.intern(row.org_type), row.code, row.name,
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
        if link.kind == LinkKind.ICB_SERVICE:
            continue  # a lookup of which services the ICB has, not a lineage
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
                      {m.id: m for m in measures.values()}, total_id, england_id,
                      {area: tuple(ids) for area, ids in annual.items()},
                      {area: tuple(ids) for area, ids in monthly.items()}, links,
                      dict(populations), breakdowns)


FigureKey = tuple[int, int, int, int]  # area, breakdown, period, measure


async def select_figures(session: AsyncSession, *, area_ids: Iterable[int], period_ids: Iterable[int],
                         breakdown_ids: Iterable[int] | None = None,
                         measure_ids: Iterable[int] | None = None) -> dict[FigureKey, tuple[float | None, bool]]:
    """The figures of some areas in some periods (all breakdowns and measures unless given), keyed by ids."""
    figure = IaptFigure.__table__.c
    query = select(figure.area_id, figure.breakdown_id, figure.period_id, figure.measure_id, figure.value,
                   figure.suppressed).where(figure.area_id.in_(list(area_ids)), figure.period_id.in_(list(period_ids)))
    if breakdown_ids is not None:
        query = query.where(figure.breakdown_id.in_(list(breakdown_ids)))
    if measure_ids is not None:
        query = query.where(figure.measure_id.in_(list(measure_ids)))
    return {(a, b, p, m): (v, s) for a, b, p, m, v, s in (await session.execute(query)).all()}
