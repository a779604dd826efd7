"""Published NHS Talking Therapies (formerly IAPT) figures, normalised.

An area is one organisation of one type: the same ODS code can be an STP and, later, an
ICB (QMF was both), so areas are keyed by (org_type, code). A figure is one published cell:
an area, a reporting period, a breakdown (the total, or one ethnic group) and a measure.
NHS Digital's suppression marker `*` is kept as `suppressed=True` with no value, never as
0 or a blank; a check constraint holds that a value is missing exactly when it is suppressed.
Cells that are blank in the source (the monthly file mixes missing and suppressed) are not
stored at all, because we cannot say which they were.

Facts the data files do not carry as data (which area merged into which, which service is
the local one) are curated in `CURATED_AREA_LINKS` below, each citing SOURCE.md.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

from storage.db import UTCDateTime, utcnow

# The line the Open Government Licence asks us to show wherever the figures are shown,
# verbatim from SOURCE.md ("Attribution line to show in the bot").
OGL_ATTRIBUTION = (
    "Contains public sector information licensed under the Open Government Licence v3.0. "
    "Source: NHS England (NHS Digital), NHS Talking Therapies / IAPT annual reports."
)
OGL_LICENCE = "Open Government Licence v3.0"


class OrgType(enum.StrEnum):
    """Organisation types exactly as the annual files spell them."""

    ENGLAND = "England"
    REGION = "Commissioning Region"
    STP = "STP"
    CCG = "CCG"
    ICB = "ICB"
    PROVIDER = "Provider"


ENGLAND_CODE = "All"  # the annual files' org_code for England; the monthly file says "all"


class Frequency(enum.StrEnum):
    ANNUAL = "annual"
    MONTHLY = "monthly"


class Unit(enum.StrEnum):
    COUNT = "count"
    PERCENTAGE = "percentage"
    DAYS = "days"


class LinkKind(enum.StrEnum):
    # The area stopped existing and its successor covers it (and more).
    MERGED_INTO = "merged_into"
    # The same body under a new type, e.g. an STP that became an ICB with the same code.
    SUCCEEDED_BY = "succeeded_by"
    # The Talking Therapies service that serves the area's population.
    LOCAL_SERVICE = "local_service"
    # A service NHS England's provider lookup (metadata_providers.csv) files under the ICB. Not a
    # lineage: it only says which services answer `/stats <ICB> waits` (storage.iapt.waits).
    ICB_SERVICE = "icb_service"


class AliasKind(enum.StrEnum):
    PUBLISHED_NAME = "published_name"  # an older name the same code was published under
    ODS_NAME = "ods_name"  # the provider's name in NHS Digital's provider lookup
    ONS_CODE = "ons_code"  # ONS code (E38…) of a CCG, from the ONS-to-ODS lookups
    SAME_AREA_CODE = "same_area_code"  # a geography curated as identical to the area


class IaptArea(SQLModel, table=True):
    __tablename__ = "iapt_areas"
    __table_args__ = (
        UniqueConstraint("org_type", "code", name="uq_iapt_areas_org_type_code"),
        Index("ix_iapt_areas_code", "code"),
    )

    id: int | None = Field(default=None, primary_key=True)
    org_type: str = Field(sa_column=Column(String(32), nullable=False))
    code: str = Field(sa_column=Column(String(16), nullable=False))
    # The name in the latest period the area was published for.
    name: str = Field(sa_column=Column(String(200), nullable=False))
    # The name reduced for matching (see storage.iapt.search.search_key).
    search_key: str = Field(sa_column=Column(String(200), nullable=False))


class IaptAreaAlias(SQLModel, table=True):
    __tablename__ = "iapt_area_aliases"
    __table_args__ = (UniqueConstraint("area_id", "kind", "alias", name="uq_iapt_area_aliases"),)

    id: int | None = Field(default=None, primary_key=True)
    area_id: int = Field(sa_column=Column(ForeignKey("iapt_areas.id", ondelete="CASCADE"), nullable=False))
    kind: str = Field(sa_column=Column(String(24), nullable=False))
    alias: str = Field(sa_column=Column(String(200), nullable=False))


class IaptAreaLink(SQLModel, table=True):
    __tablename__ = "iapt_area_links"
    __table_args__ = (UniqueConstraint("from_area_id", "to_area_id", "kind", name="uq_iapt_area_links"),)

    id: int | None = Field(default=None, primary_key=True)
    from_area_id: int = Field(sa_column=Column(ForeignKey("iapt_areas.id", ondelete="CASCADE"), nullable=False))
    to_area_id: int = Field(sa_column=Column(ForeignKey("iapt_areas.id", ondelete="CASCADE"), nullable=False))
    kind: str = Field(sa_column=Column(String(24), nullable=False))
    effective_on: dt.date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    # Where the fact comes from, for whoever maintains the data.
    cited_from: str = Field(sa_column=Column(String(300), nullable=False))


class IaptPeriod(SQLModel, table=True):
    __tablename__ = "iapt_periods"

    id: int | None = Field(default=None, primary_key=True)
    label: str = Field(sa_column=Column(String(16), unique=True, nullable=False))  # "2018-19" or "2026-03"
    frequency: str = Field(sa_column=Column(String(8), nullable=False))
    start_date: dt.date = Field(sa_column=Column(Date, nullable=False))
    end_date: dt.date = Field(sa_column=Column(Date, nullable=False))
    # The NHS Digital / NHS England publication the period's figures come from.
    publication: str = Field(sa_column=Column(String(300), nullable=False))


class IaptMeasure(SQLModel, table=True):
    __tablename__ = "iapt_measures"

    id: int | None = Field(default=None, primary_key=True)
    # Annual measures use the files' column names ("recovery_percentage"); monthly ones
    # NHS Digital's measure id ("M192").
    key: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    frequency: str = Field(sa_column=Column(String(8), nullable=False))
    unit: str = Field(sa_column=Column(String(16), nullable=False))
    nhs_name: str = Field(sa_column=Column(String(100), nullable=False))  # "Percentage_Recovery"
    definition: str = Field(sa_column=Column(Text, nullable=False))
    definition_source: str = Field(sa_column=Column(String(300), nullable=False))


class IaptBreakdown(SQLModel, table=True):
    """A row label of the published tables. The total is ("Total", "", "")."""

    __tablename__ = "iapt_breakdowns"
    __table_args__ = (
        # Empty strings, not NULLs, for "not applicable": NULLs would never collide in a unique key.
        UniqueConstraint("variable_type", "variable_a", "variable_b", name="uq_iapt_breakdowns"),
    )

    id: int | None = Field(default=None, primary_key=True)
    variable_type: str = Field(sa_column=Column(String(64), nullable=False))
    variable_a: str = Field(sa_column=Column(String(100), nullable=False))
    variable_b: str = Field(sa_column=Column(String(100), nullable=False))


# A dataset whose figures are still being written, a transaction at a time, from the bundle
# (storage.iapt.loading). Its content_sha256 is this prefix and the first digits of the hash the
# complete table will have, so a load resumed after a crash can tell it is loading the same
# content; its figure_count is the number of figures written so far.
DATASET_LOADING_PREFIX = "loading:"


def dataset_loading_marker(content_sha256: str) -> str:
    return (DATASET_LOADING_PREFIX + content_sha256)[:64]


def dataset_complete(content_sha256: str) -> bool:
    """False while the dataset's figures are part-written: its figures must not be shown yet."""
    return not content_sha256.startswith(DATASET_LOADING_PREFIX)


class IaptDataset(SQLModel, table=True):
    """One imported source table, with its provenance and a hash of its normalised content
    (or, while it is being loaded in steps, the marker described at DATASET_LOADING_PREFIX)."""

    __tablename__ = "iapt_datasets"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(sa_column=Column(String(40), unique=True, nullable=False))
    file_name: str = Field(sa_column=Column(String(200), nullable=False))
    licence: str = Field(sa_column=Column(String(100), nullable=False))
    attribution: str = Field(sa_column=Column(String(400), nullable=False))
    content_sha256: str = Field(sa_column=Column(String(64), nullable=False))
    figure_count: int = Field(sa_column=Column(Integer, nullable=False))
    imported_at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


def _figure_key(table: str, name: str) -> Column:
    # Named, so that the PostgreSQL import can drop and re-add them around a bulk COPY.
    return Column(ForeignKey(f"{table}.id", ondelete="CASCADE", name=f"fk_iapt_figures_{name}"), primary_key=True)


class IaptFigure(SQLModel, table=True):
    __tablename__ = "iapt_figures"
    __table_args__ = (
        CheckConstraint("(value IS NULL) = suppressed", name="ck_iapt_figures_suppressed_without_value"),
        # On SQLite the rows live in the primary key's B-tree itself: half the size, faster to load.
        {"sqlite_with_rowid": False},
    )

    # Primary key order serves the queries: one area's totals over every period, or one
    # area's breakdowns in one period. No index on dataset_id: it is only used to replace a
    # whole source table, which is rare and may scan.
    area_id: int = Field(sa_column=_figure_key("iapt_areas", "area"))
    breakdown_id: int = Field(sa_column=_figure_key("iapt_breakdowns", "breakdown"))
    period_id: int = Field(sa_column=_figure_key("iapt_periods", "period"))
    measure_id: int = Field(sa_column=_figure_key("iapt_measures", "measure"))
    dataset_id: int = Field(sa_column=Column(
        ForeignKey("iapt_datasets.id", ondelete="CASCADE", name="fk_iapt_figures_dataset"), nullable=False))
    value: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    suppressed: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))


class IaptPopulation(SQLModel, table=True):
    __tablename__ = "iapt_population"
    __table_args__ = (
        UniqueConstraint("geography_code", "reference", "kind", "source", name="uq_iapt_population"),
        Index("ix_iapt_population_area_id", "area_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    # The IAPT area the population belongs to, when we know one (via ONS-to-ODS lookups or
    # CURATED_SAME_AREAS); NULL otherwise.
    area_id: int | None = Field(
        default=None, sa_column=Column(ForeignKey("iapt_areas.id", ondelete="SET NULL"), nullable=True)
    )
    geography_code: str = Field(sa_column=Column(String(16), nullable=False))  # ONS code as published
    geography_name: str = Field(sa_column=Column(String(200), nullable=False))
    reference: str = Field(sa_column=Column(String(40), nullable=False))  # "mid-2018", "2021-03-21"
    # The day the population refers to (30 June for mid-year figures); NULL if the source does not say.
    reference_date: dt.date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    value: int = Field(sa_column=Column(Integer, nullable=False))
    kind: str = Field(sa_column=Column(String(200), nullable=False))
    source: str = Field(sa_column=Column(String(400), nullable=False))
    source_detail: str = Field(sa_column=Column(Text, nullable=False))
    confidence: str = Field(sa_column=Column(String(32), nullable=False))


# ---------------------------------------------------------------------------------------------
# Curated facts. These are not in the data files as data; each is stated in
# the notes that came with the published files ("Gaps and caveats"); each carries its citation here.
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class CuratedLink:
    from_area: tuple[str, str]  # (org_type, code)
    to_area: tuple[str, str]
    kind: LinkKind
    effective_on: dt.date | None
    cited_from: str


CURATED_AREA_LINKS: tuple[CuratedLink, ...] = (
    # "On 1 April 2021 it merged into NHS North East London CCG (A3A8R)."
    CuratedLink(("CCG", "08V"), ("CCG", "A3A8R"), LinkKind.MERGED_INTO, dt.date(2021, 4, 1),
                "SOURCE.md, Gaps and caveats: Tower Hamlets CCG (08V) merged into A3A8R on 1 April 2021"),
    # "After July 2022 the data is by ICB (QMF, North East London)." ICBs took over on 1 July 2022.
    CuratedLink(("CCG", "A3A8R"), ("ICB", "QMF"), LinkKind.SUCCEEDED_BY, dt.date(2022, 7, 1),
                "SOURCE.md, Gaps and caveats: after July 2022 the data is by ICB (QMF, North East London)"),
    # "The nearest local series after that is the provider RWK53 … A provider is not the same
    # as a CCG population."
    CuratedLink(("CCG", "08V"), ("Provider", "RWK53"), LinkKind.LOCAL_SERVICE, None,
                "SOURCE.md, Gaps and caveats: the nearest local series is the provider RWK53"),
)

# Population geographies that cover exactly an IAPT area: ONS code -> (org_type, code).
CURATED_SAME_AREAS: dict[str, tuple[str, str]] = {
    # "Tower Hamlets CCG and LB Tower Hamlets (E09000030) cover the same area."
    "E09000030": ("CCG", "08V"),
    # England's ONS code.
    "E92000001": ("England", ENGLAND_CODE),
}

# STPs whose code reappears as an ICB became that ICB on 1 July 2022, when ICBs were
# established (SOURCE.md: "After July 2022 the data is by ICB"). The import derives those
# links from the data rather than listing 42 of them here.
STP_TO_ICB_DATE = dt.date(2022, 7, 1)
STP_TO_ICB_CITATION = "SOURCE.md: data by ICB after July 2022; the STP and the ICB share the ODS code"

PROVIDER_ICB_CITATION = "metadata_providers.csv (NHS England provider lookup): the provider's icb_code"

# The publications, by financial year (SOURCE.md, first section). The annual report was
# renamed with the service in 2023; the 2022-23 report was the first under the new name.
ANNUAL_PUBLICATION_IAPT = "NHS Digital, Psychological Therapies: Annual report on the use of IAPT services"
ANNUAL_PUBLICATION_TALKING_THERAPIES = "NHS England, NHS Talking Therapies for anxiety and depression, Annual report"
FIRST_TALKING_THERAPIES_REPORT = "2022-23"
MONTHLY_PUBLICATION = "NHS England, NHS Talking Therapies for anxiety and depression, Monthly Statistics"


def annual_publication(label: str) -> str:
    name = ANNUAL_PUBLICATION_TALKING_THERAPIES if label >= FIRST_TALKING_THERAPIES_REPORT else ANNUAL_PUBLICATION_IAPT
    return f"{name}, {label}"


def monthly_publication(label: str) -> str:
    return f"{MONTHLY_PUBLICATION}, {label}"
