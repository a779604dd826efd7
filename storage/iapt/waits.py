"""`/stats <area> waits`: how long people waited for a first treatment, from the monthly figures.

NHS England publishes waiting times monthly, and only for services (providers) and England: there
are no CCG, ICB or region rows in the monthly file (SOURCE.md). So an area that is not a service
is answered through its services, found in this order (`services_of`):

1. A service is its own answer, and England is England's.
2. A CCG with a curated local service (storage.iapt.tables.CURATED_AREA_LINKS: Tower Hamlets CCG
   08V and RWK53) is answered through that service.
3. An ICB is answered through every service NHS England's provider lookup (metadata_providers.csv)
   files under it, by the lookup's `icb_code` column (links of kind ICB_SERVICE, made at import).
   The lookup files a service under the ICB of the organisation that runs it, so a trust's
   service in another ICB's area can appear there: each service is named, so a reader can tell.
4. Anything else (a CCG that merged, an STP) is answered through the first area along its chain of
   successors (merged into / succeeded by) that step 2 or 3 answers, which the answer names.
Otherwise (a region, a CCG with no known successor) the answer says so and gives England's figures.

The shares started within 6 and 18 weeks are calculated here from published counts (M036 and
M037 over M031) and are `Share`s, labelled as calculated wherever they are shown.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from sqlmodel.ext.asyncio.session import AsyncSession

from storage.iapt.answer_parts import AreaRef, ServiceWaits, WaitsMonth, WaitsRoute
from storage.iapt.answers import WaitsAnswer
from storage.iapt.building import FigureReader, lineage_of
from storage.iapt.figures import ABSENT_COUNT, Figure, Share
from storage.iapt.stats_index import StatsIndex, select_figures
from storage.iapt.tables import LinkKind, OrgType

WAITS_MONTHS = 12  # the answer's months: the latest twelve England has
WAITS_MEASURES = ("M031", "M036", "M037", "M038", "M048", "M049")
CHARTED_SERVICES = 6  # more lines than this make the chart unreadable on a phone
LISTED_SERVICES = 8  # lines of figures; more would not fit in a message (4096 characters)


def services_of(index: StatsIndex, area_id: int) -> tuple[WaitsRoute, int | None, list[int]]:
    """(how they were found, the area they were found through when not `area_id`, the services)."""
    area = index.areas[area_id]
    if area.org_type in (OrgType.PROVIDER, OrgType.ENGLAND):
        return WaitsRoute.ITSELF, None, [area_id]
    successors = {link.from_id: link.to_id for link in index.links
                  if link.kind in (LinkKind.MERGED_INTO, LinkKind.SUCCEEDED_BY)}
    current, seen = area_id, set()
    while current not in seen:
        seen.add(current)
        for kind, route in ((LinkKind.LOCAL_SERVICE, WaitsRoute.LOCAL_SERVICE),
                            (LinkKind.ICB_SERVICE, WaitsRoute.ICB_LOOKUP)):
            found = sorted({link.to_id for link in index.links if link.from_id == current and link.kind == kind},
                           key=lambda a: index.areas[a].name)
            if found:
                return route, (None if current == area_id else current), found
        if current not in successors:
            break
        current = successors[current]
    return WaitsRoute.NONE, None, []


def _month_reader(index: StatsIndex, figures: dict) -> Callable[[int, int], WaitsMonth]:
    """Reads one service's month out of the query's rows. An ICB's answer reads a thousand or more
    figures, so the common cases (absent, a plain number) skip the general reader, which logs
    unreadable rows and keeps suppression."""
    general = FigureReader(index, figures)
    total = index.total_id
    measures = [index.measures.get(key) for key in WAITS_MEASURES]
    absent = {m.unit: Figure(None, False, m.unit) for m in measures if m is not None}

    def figure(area_id: int, period_id: int, key: str, measure) -> Figure:
        if measure is None:
            return ABSENT_COUNT
        found = figures.get((area_id, total, period_id, measure.id))
        if found is None:
            return absent[measure.unit]
        value, suppressed = found
        if type(value) is float and not suppressed and math.isfinite(value):
            return Figure(value, False, measure.unit)
        return general.figure(area_id, period_id, key)

    def read(area_id: int, period_id: int) -> WaitsMonth:
        entered, within_6, within_18, waiting, mean, median = (
            figure(area_id, period_id, key, measure) for key, measure in zip(WAITS_MEASURES, measures, strict=True))
        return WaitsMonth(index.periods[period_id], entered, within_6, within_18,
                          Share.of("M036", within_6, "M031", entered), Share.of("M037", within_18, "M031", entered),
                          mean, median, waiting)

    return read


async def build_waits_answer(session: AsyncSession, index: StatsIndex, area_id: int) -> WaitsAnswer:
    england = index.england_id
    route, via, service_ids = services_of(index, area_id)
    window = index.monthly.get(england, [])[-WAITS_MONTHS:]
    # A service with no monthly figures at all in the window (of any measure) is only named.
    months = set(window)
    active = [s for s in service_ids if months.intersection(index.monthly.get(s, ()))]
    quiet = tuple(index.areas[s] for s in service_ids if s not in active)
    if not window:  # no monthly figures loaded at all: nothing to show beside nothing
        return WaitsAnswer(index.areas[area_id], route, index.areas[via] if via is not None else None, (),
                           quiet, None, 0, 0, ())
    measure_ids = [index.measures[key].id for key in WAITS_MEASURES if key in index.measures]
    figures = await select_figures(session, area_ids={*active, england}, period_ids=window,
                                   breakdown_ids=[index.total_id], measure_ids=measure_ids)
    read = _month_reader(index, figures)

    def series(target: int) -> ServiceWaits:
        return ServiceWaits(index.areas[target], tuple(read(target, p) for p in window))

    services = [series(s) for s in active]
    _lineage, offers = lineage_of(index, area_id)
    if via is not None:
        offers = (index.areas[via], *(a for a in offers if a.id != via))
    england_series = None if area_id == england else series(england)
    if route is WaitsRoute.NONE:
        services, england_series = [england_series], None  # England stands in, alone
    # The largest first (most started treatment in the latest month), then by name.
    services.sort(key=lambda s: (-(s.latest.entered.value or 0), s.service.name))
    return WaitsAnswer(index.areas[area_id], route, index.areas[via] if via is not None else None,
                       tuple(services), quiet, england_series,
                       min(len(services), CHARTED_SERVICES), min(len(services), LISTED_SERVICES),
                       _offers_without(offers, service_ids))


def _offers_without(offers: tuple[AreaRef, ...], services: list[int]) -> tuple[AreaRef, ...]:
    """The buttons under the answer: the areas it leads to, less the services it already shows."""
    return tuple(a for a in offers if a.id not in services)
