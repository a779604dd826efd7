"""Answers to /stats: plain data objects built from the figures, for the templates to render.

Nothing here formats prose. Each answer names the templates that render it: `html_template`
for Telegram, `text_template` for the terminal. Their numbers are `Figure`s (published) and
`Share`s (calculated here), from storage.iapt.figures.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import functools
from typing import ClassVar

from storage.iapt.figures import Figure, Share
from storage.iapt.tables import OGL_ATTRIBUTION, OrgType


class View(enum.StrEnum):
    SUMMARY = "summary"
    RANK = "rank"  # among the areas of its kind, with a dot chart
    COMPARE = "vs"  # beside another area
    ETHNICITY = "ethnicity"
    TREND = "trend"
    WAITS = "waits"


@dataclasses.dataclass(frozen=True, slots=True)
class Period:
    label: str
    frequency: str
    start_date: dt.date
    end_date: dt.date
    publication: str


@dataclasses.dataclass(frozen=True, slots=True)
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


@dataclasses.dataclass(frozen=True, slots=True)
class Population:
    value: int
    reference: str  # "mid-2018"
    reference_date: dt.date | None
    kind: str
    source: str
    confidence: str
    geography_name: str


@dataclasses.dataclass(frozen=True)
class PeerValue:
    area: AreaRef
    value: float


@dataclasses.dataclass(frozen=True)
class PeerRank:
    """One measure: the area's value and position, and every ranked value (for the chart)."""

    key: str
    published: bool  # False: a share calculated by campaign-bot
    value: float | None  # the area's own; None when suppressed or not published
    suppressed: bool  # the area's own value (or a count it comes from) is suppressed
    position: int | None  # 1 is the highest; None when the area is left out
    joint: bool  # another area has the same value
    ranked: tuple[PeerValue, ...]  # highest first
    left_out_suppressed: int  # areas of the kind whose value is suppressed
    left_out_missing: int  # areas of the kind with no value published (or no population loaded)
    england: float | None

    @property
    def of(self) -> int:
        return len(self.ranked)

    @functools.cached_property
    def highest(self) -> tuple[PeerValue, ...]:
        return tuple(p for p in self.ranked if p.value == self.ranked[0].value) if self.ranked else ()

    @functools.cached_property
    def lowest(self) -> tuple[PeerValue, ...]:
        return tuple(p for p in self.ranked if p.value == self.ranked[-1].value) if self.ranked else ()

    @property
    def shown(self) -> bool:
        """Worth a line: a ranking of more than one area that this area is in."""
        return self.position is not None and self.of > 1


@dataclasses.dataclass(frozen=True)
class PeerRanking:
    area: AreaRef
    org_type: str
    period: Period
    ranks: tuple[PeerRank, ...]

    @property
    def shown(self) -> tuple[PeerRank, ...]:
        return tuple(rank for rank in self.ranks if rank.shown)


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
    ranking: PeerRanking | None = None
    # The newest year published for England, when this area's figures stop before it (a CCG
    # that merged): the answer says how old its figures are and leads with what is current.
    newest_year: Period | None = None


@dataclasses.dataclass(frozen=True)
class RankAnswer:
    """/stats <area> rank: where it stands among its kind, each measure as a line and a dot chart."""

    html_template: ClassVar[str] = "stats_rank.html"
    text_template: ClassVar[str] = "stats_rank.txt"
    area: AreaRef
    ranking: PeerRanking | None  # None: England, or an area with no yearly figures
    offers: tuple[AreaRef, ...]
    rounded: bool
    attribution: str = OGL_ATTRIBUTION


@dataclasses.dataclass(frozen=True)
class CompareRow:
    key: str  # a measure key (published) or a share key (calculated by campaign-bot)
    published: bool
    left: Figure | Share
    right: Figure | Share
    england: Figure | Share | None
    unit: str  # "count", "percentage" (published rate) or "share" (calculated)

    @property
    def difference(self) -> float | None:
        """left − right, in the figures' own unit (percentage points for rates and shares)."""
        if self.left.value is None or self.right.value is None:
            return None
        return round(self.left.value - self.right.value, 1)


@dataclasses.dataclass(frozen=True)
class CompareAnswer:
    """/stats <area> vs <area>: the latest year both have (or the year asked), side by side."""

    html_template: ClassVar[str] = "stats_compare.html"
    text_template: ClassVar[str] = "stats_compare.txt"
    left: AreaRef
    right: AreaRef
    period: Period | None  # None: no year both have (or not the year asked)
    asked: str | None  # the year asked, if one was
    rows: tuple[CompareRow, ...]
    left_years: tuple[str, ...]
    right_years: tuple[str, ...]
    rounded: bool
    attribution: str = OGL_ATTRIBUTION


@dataclasses.dataclass(frozen=True)
class ComparePromptAnswer:
    """The "Compare" button: which area to set beside this one (buttons, or how to type it)."""

    html_template: ClassVar[str] = "stats_compare_prompt.html"
    text_template: ClassVar[str] = "stats_compare_prompt.txt"
    area: AreaRef
    year: str | None
    candidates: tuple[AreaRef, ...]


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
    # Calculated by campaign-bot: moved to recovery ÷ referrals received, for the group.
    recovered_of_referrals: Share | None = None
    england_recovered_of_referrals: Share | None = None

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
class WaitsMonth:
    """One service's (or England's) waiting-time figures for one month."""

    period: Period
    entered: Figure  # M031: started treatment (first treatment appointment) in the month
    within_6_weeks: Figure  # M036: of them, waited 42 days or less
    within_18_weeks: Figure  # M037: 126 days or less
    share_6_weeks: Share  # calculated here: M036 ÷ M031
    share_18_weeks: Share  # M037 ÷ M031
    mean_days: Figure  # M048
    median_days: Figure  # M049
    waiting: Figure  # M038: referrals still waiting for a first treatment at the month's end

    @property
    def published(self) -> bool:
        return any(f.available for f in (self.entered, self.mean_days, self.median_days, self.waiting))


@dataclasses.dataclass(frozen=True)
class ServiceWaits:
    service: AreaRef
    months: tuple[WaitsMonth, ...]  # the answer's months, oldest first; one may hold nothing

    @property
    def latest(self) -> WaitsMonth:
        return self.months[-1]


class WaitsRoute(enum.StrEnum):
    """How the services of a `/stats <area> waits` answer were found (storage.iapt.waits)."""

    ITSELF = "itself"  # a service, or England
    LOCAL_SERVICE = "local_service"  # the curated local service of a CCG
    ICB_LOOKUP = "icb_lookup"  # the services NHS England's provider lookup files under an ICB
    NONE = "none"  # no service known: England alone


@dataclasses.dataclass(frozen=True)
class WaitsAnswer:
    html_template: ClassVar[str] = "stats_waits.html"
    text_template: ClassVar[str] = "stats_waits.txt"
    area: AreaRef
    route: WaitsRoute
    # The area whose services these are, when not the one asked: a merger's successor, an STP's ICB.
    via: AreaRef | None
    services: tuple[ServiceWaits, ...]  # with figures in the months answered, most started in the latest first
    quiet: tuple[AreaRef, ...]  # services found that have no figures in those months
    england: ServiceWaits | None  # None when England itself was asked
    charted: int  # how many of the services the chart draws (the first ones)
    listed: int  # how many are given a line of figures; the others are named
    offers: tuple[AreaRef, ...]
    attribution: str = OGL_ATTRIBUTION

    @property
    def months(self) -> tuple[Period, ...]:
        series = self.england or (self.services[0] if self.services else None)
        return tuple(m.period for m in series.months) if series else ()

    @property
    def latest(self) -> Period | None:
        return self.months[-1] if self.months else None

    @property
    def charted_services(self) -> tuple[ServiceWaits, ...]:
        """The services the chart draws: the `charted` that started the most people in the latest month."""
        return self.services[:self.charted]

    @property
    def listed_services(self) -> tuple[ServiceWaits, ...]:
        """The services given a line of figures (the largest first; an answer must fit in a message)."""
        return self.services[:self.listed]


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
    # Choosing one side of "/stats A vs B": each candidate is compared with this area.
    compare_with: AreaRef | None = None
    compare_first: bool = False  # True: the candidate goes on the left


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


StatsAnswer = (AreaAnswer | EthnicityAnswer | TrendAnswer | WaitsAnswer | HeadlineAnswer | ChoicesAnswer
               | NotFoundAnswer | YearMissingAnswer | NoFiguresAnswer | RankAnswer | CompareAnswer
               | ComparePromptAnswer)
