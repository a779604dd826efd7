"""What /stats answers are made of: the areas they name, their periods, and the rows of figures,
ranks and waiting times that `storage.iapt.answers` puts together into whole answers.

Plain data, like the answers: nothing here formats prose. Their numbers are `Figure`s
(published) and `Share`s (calculated here), from storage.iapt.figures.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import functools

from storage.iapt.figures import Figure, Share
from storage.iapt.records import Period
from storage.iapt.tables import OrgType


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
class TrendPoint:
    period: Period
    referrals: Figure
    finished: Figure
    recovery_rate: Figure
    england_recovery_rate: Figure | None


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
