"""/stats <area> vs <area>: two areas side by side in one year, and the areas offered for it.

The year is the one asked for, or the latest year both areas have. The published figures stay
published figures; the shares worked out from them are `Share`s, as in every other answer.
"""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from storage.iapt.answer_parts import AreaRef, CompareRow
from storage.iapt.answers import CompareAnswer, ComparePromptAnswer
from storage.iapt.figures import Figure, Share
from storage.iapt.ranking import build_peer_ranking
from storage.iapt.stats_index import StatsIndex, select_figures
from storage.iapt.tables import OrgType, Unit

# The headline measures, in order: (key, published).
COMPARE_ROWS: tuple[tuple[str, bool], ...] = (
    ("referrals_received_count", True),
    ("finished_course_treatment_count", True),
    ("recovery_count", True),
    ("recovery_percentage", True),
    ("reliable_recovery_percentage", True),
    ("finished_of_referrals", False),
    ("recovered_of_referrals", False),
)
_SHARES = {
    "finished_of_referrals": "finished_course_treatment_count",
    "recovered_of_referrals": "recovery_count",
}
MAX_PROMPT_CHOICES = 6


def common_year(index: StatsIndex, left_id: int, right_id: int, asked: str | None) -> int | None:
    """The period id both areas have: the one asked, or their latest in common."""
    left, right = index.annual.get(left_id, []), set(index.annual.get(right_id, []))
    both = [p for p in left if p in right]
    if asked is not None:
        period_id = index.period_ids.get(asked)
        return period_id if period_id in both else None
    return both[-1] if both else None


async def build_compare_answer(session: AsyncSession, index: StatsIndex, left_id: int, right_id: int,
                               asked: str | None) -> CompareAnswer:
    england = index.england_id
    period_id = common_year(index, left_id, right_id, asked)
    left, right = index.areas[left_id], index.areas[right_id]
    rounded = any(a.org_type != OrgType.ENGLAND for a in (left, right))
    if period_id is None:
        return CompareAnswer(left, right, None, asked, (), index.years_of(left_id), index.years_of(right_id),
                             rounded)
    figures = await select_figures(session, area_ids={left_id, right_id, england}, period_ids=[period_id],
                                   breakdown_ids=[index.total_id])

    def figure(area_id: int, key: str) -> Figure:
        measure = index.measures.get(key)
        if measure is None:
            return Figure(None, False, Unit.COUNT)
        value, suppressed = figures.get((area_id, index.total_id, period_id, measure.id), (None, False))
        return Figure(value, bool(suppressed), measure.unit)

    def value(area_id: int, key: str, published: bool) -> Figure | Share:
        if published:
            return figure(area_id, key)
        top = _SHARES[key]
        return Share.of(top, figure(area_id, top), "referrals_received_count",
                        figure(area_id, "referrals_received_count"))

    rows = []
    for key, published in COMPARE_ROWS:
        unit = (index.measures[key].unit if key in index.measures else Unit.COUNT) if published else "share"
        with_england = england not in (left_id, right_id)
        rows.append(CompareRow(key, published, value(left_id, key, published), value(right_id, key, published),
                               value(england, key, published) if with_england else None, unit))
    return CompareAnswer(left, right, index.periods[period_id], asked, tuple(rows), index.years_of(left_id),
                         index.years_of(right_id), rounded)


async def build_compare_prompt(session: AsyncSession, index: StatsIndex, area_id: int, year: str | None,
                               offers: tuple[AreaRef, ...]) -> ComparePromptAnswer:
    """Areas worth comparing with, each with a year in common: the areas it leads to, then its
    neighbours in the recovery-rate ranking (just above and below), then the highest and the
    lowest of its kind, and England."""
    area = index.areas[area_id]
    period_id = index.period_ids.get(year) if year else None
    if period_id is None and index.annual.get(area_id):
        period_id = index.annual[area_id][-1]
    picks: list[AreaRef] = [a for a in offers if common_year(index, area_id, a.id, year) is not None][:2]
    ranking = await build_peer_ranking(session, index, area_id, period_id) if period_id else None
    if ranking is not None:
        rank = ranking.ranks[0]
        others = [p.area for p in rank.ranked]
        if area in others:
            at = others.index(area)
            picks += [a for a in (others[at - 1] if at > 0 else None, others[at + 1] if at + 1 < len(others) else None)
                      if a is not None]
        if others:
            picks += [others[0], others[-1]]
    picks = [a for a in dict.fromkeys(picks) if a.id != area_id]
    if not picks or area_id != index.england_id:
        picks.append(index.areas[index.england_id])
    return ComparePromptAnswer(area, year, tuple(dict.fromkeys(picks))[:MAX_PROMPT_CHOICES])
