"""Where an area stands among the areas of its kind (CCGs, ICBs, services, …) in one year.

Four measures are ranked: the published recovery rate, and three shares campaign-bot works out
from the published counts (finished ÷ referrals, recovered ÷ referrals, referrals ÷ population,
the last among the areas whose population is loaded). Position 1 is the highest value; areas
with the same value share a position and are "joint"; a calculated share is compared at the one
decimal it is shown with, so two areas showing the same figure are never told apart. An area
whose value NHS Digital suppressed, or did not publish, is left out of the ranking and counted.

The values of every area of a kind in a year come from one query, made the first time any area
of that kind and year is asked about, and kept with the index (`StatsIndex.derived`).
"""

from __future__ import annotations

import bisect
import dataclasses

from sqlmodel.ext.asyncio.session import AsyncSession

from storage.iapt.answer_parts import AreaRef, PeerRank, PeerRanking, PeerValue
from storage.iapt.figures import Figure, Share
from storage.iapt.records import Period
from storage.iapt.stats_index import StatsIndex, select_figures
from storage.iapt.tables import OrgType, Unit

# (key, published): the order the ranks are shown in.
RANK_MEASURES: tuple[tuple[str, bool], ...] = (
    ("recovery_percentage", True),
    ("finished_of_referrals", False),
    ("recovered_of_referrals", False),
    ("referred_of_population", False),
)
_COUNTS = ("referrals_received_count", "finished_course_treatment_count", "recovery_count", "recovery_percentage")
NOT_A_PLACE = "UNKNOWN"  # NHS Digital's row for records with no area: not a peer
# NHS England's commissioning hubs (health and justice, armed forces) are published as CCGs but
# cover no population of their own: their shares (200% of referrals finishing) are not a peer's.
NOT_A_PEER_NAME = "COMMISSIONING HUB"


def is_peer(area: AreaRef) -> bool:
    return area.code != NOT_A_PLACE and NOT_A_PEER_NAME not in area.name.upper()


@dataclasses.dataclass(frozen=True)
class _Values:
    """One measure's value for one area: a number, or left out because suppressed or missing."""

    value: float | None
    suppressed: bool


def _values_of(index: StatsIndex, period: Period, area_id: int, figure) -> dict[str, _Values]:
    referrals, finished, recovered, rate = (figure(area_id, key) for key in _COUNTS)

    def share(top: Figure | int | None, bottom: Figure | int | None, top_key: str, bottom_key: str) -> _Values:
        calculated = Share.of(top_key, top, bottom_key, bottom)
        return _Values(calculated.value, calculated.input_suppressed)

    population = index.population_in(area_id, period)
    return {
        "recovery_percentage": _Values(rate.value, rate.suppressed),
        "finished_of_referrals": share(finished, referrals, "finished", "referrals"),
        "recovered_of_referrals": share(recovered, referrals, "recovered", "referrals"),
        "referred_of_population": (share(referrals, population.value, "referrals", "population") if population
                                   else _Values(None, False)),
    }


async def _kind_values(session: AsyncSession, index: StatsIndex, org_type: str,
                       period_id: int) -> dict[int, dict[str, _Values]]:
    cache_key = ("peers", org_type, period_id)
    cached = index.derived.get(cache_key)
    if cached is not None:
        return cached
    peers = [a.id for a in index.areas.values()
             if a.org_type == org_type and is_peer(a) and period_id in index.annual.get(a.id, ())]
    measures = {index.measures[k].id: index.measures[k] for k in _COUNTS if k in index.measures}
    figures = await select_figures(session, area_ids=[*peers, index.england_id], period_ids=[period_id],
                                   breakdown_ids=[index.total_id], measure_ids=list(measures))
    by_key = {m.key: m for m in measures.values()}
    period = index.periods[period_id]

    def figure_of(area_id: int, key: str) -> Figure:
        measure = by_key.get(key)
        if measure is None:
            return Figure(None, False, Unit.COUNT)
        value, suppressed = figures.get((area_id, index.total_id, period_id, measure.id), (None, False))
        return Figure(value, bool(suppressed), measure.unit)

    values = {area_id: _values_of(index, period, area_id, figure_of) for area_id in [*peers, index.england_id]}
    index.derived[cache_key] = values
    return values


@dataclasses.dataclass(frozen=True)
class _Ranked:
    """One measure over the kind in the year, worked out once: every value, highest first."""

    ranked: tuple[PeerValue, ...]
    descending: tuple[float, ...]  # the same values, negated, ascending (for bisect)
    left_out_suppressed: int
    left_out_missing: int
    england: float | None


def _ranked(index: StatsIndex, key: str, values: dict[int, dict[str, _Values]]) -> _Ranked:
    peers = {a: v[key] for a, v in values.items() if a != index.england_id}
    ranked = tuple(sorted((PeerValue(index.areas[a], v.value) for a, v in peers.items() if v.value is not None),
                          key=lambda p: (-p.value, p.area.name)))
    return _Ranked(ranked, tuple(-p.value for p in ranked),
                   sum(1 for v in peers.values() if v.value is None and v.suppressed),
                   sum(1 for v in peers.values() if v.value is None and not v.suppressed),
                   values[index.england_id][key].value)


def _rank(area_id: int, key: str, published: bool, values: dict[int, dict[str, _Values]], kind: _Ranked) -> PeerRank:
    mine = values[area_id][key]
    position = joint = None
    if mine.value is not None:
        higher = bisect.bisect_left(kind.descending, -mine.value)
        position = 1 + higher
        joint = bisect.bisect_right(kind.descending, -mine.value) - higher > 1
    return PeerRank(key, published, mine.value, mine.suppressed, position, bool(joint), kind.ranked,
                    kind.left_out_suppressed, kind.left_out_missing, kind.england)


async def build_peer_ranking(session: AsyncSession, index: StatsIndex, area_id: int,
                             period_id: int) -> PeerRanking | None:
    """The area's ranks among its kind in the year; None for England (it has no peers)."""
    area = index.areas[area_id]
    if area.org_type == OrgType.ENGLAND or not is_peer(area) or period_id not in index.annual.get(area_id, ()):
        return None
    values = await _kind_values(session, index, area.org_type, period_id)
    ranks = []
    for key, published in RANK_MEASURES:
        cache_key = ("ranked", area.org_type, period_id, key)
        kind = index.derived.get(cache_key)
        if kind is None:
            kind = index.derived[cache_key] = _ranked(index, key, values)
        ranks.append(_rank(area_id, key, published, values, kind))
    ranks = tuple(ranks)
    return PeerRanking(area, area.org_type, index.periods[period_id], ranks)
