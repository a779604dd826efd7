"""Answers to /stats: plain data objects built from the figures, for the templates to render.

Nothing here formats prose. Each answer names the templates that render it: `html_template`
for Telegram, `text_template` for the terminal. Their numbers are `Figure`s (published) and
`Share`s (calculated here), from storage.iapt.figures; the rows and references they are made
of are in storage.iapt.answer_parts.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import ClassVar

from storage.iapt.answer_parts import (
    AreaRef,
    CompareRow,
    EthnicRow,
    Lineage,
    MeasureRow,
    MonthlyBlock,
    PeerRanking,
    Population,
    ServiceWaits,
    ShareRow,
    TrendPoint,
    WaitsRoute,
)
from storage.iapt.records import Period
from storage.iapt.tables import OGL_ATTRIBUTION


class View(enum.StrEnum):
    SUMMARY = "summary"
    RANK = "rank"  # among the areas of its kind, with a dot chart
    COMPARE = "vs"  # beside another area
    ETHNICITY = "ethnicity"
    TREND = "trend"
    WAITS = "waits"


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
