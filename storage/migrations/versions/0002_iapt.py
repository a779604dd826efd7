"""Published IAPT / NHS Talking Therapies figures (issue 3): areas, periods, measures, figures, population.

Revision ID: 0002_iapt
Revises: 0001_foundation
"""

import sqlalchemy as sa
from alembic import op

from storage.db import UTCDateTime

revision = "0002_iapt"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None


def _figure_key(column: str, table: str, name: str) -> sa.Column:
    # Named, so that the PostgreSQL import can drop and re-add them around a bulk COPY.
    foreign_key = sa.ForeignKey(f"{table}.id", ondelete="CASCADE", name=f"fk_iapt_figures_{name}")
    return sa.Column(column, sa.Integer(), foreign_key, primary_key=True)


def upgrade() -> None:
    op.create_table(
        "iapt_areas",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("org_type", sa.String(32), nullable=False),
        sa.Column("code", sa.String(16), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("search_key", sa.String(200), nullable=False),
        sa.UniqueConstraint("org_type", "code", name="uq_iapt_areas_org_type_code"),
    )
    op.create_index("ix_iapt_areas_code", "iapt_areas", ["code"])
    op.create_table(
        "iapt_area_aliases",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("area_id", sa.Integer(), sa.ForeignKey("iapt_areas.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("alias", sa.String(200), nullable=False),
        sa.UniqueConstraint("area_id", "kind", "alias", name="uq_iapt_area_aliases"),
    )
    op.create_table(
        "iapt_area_links",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("from_area_id", sa.Integer(), sa.ForeignKey("iapt_areas.id", ondelete="CASCADE"), nullable=False),
        sa.Column("to_area_id", sa.Integer(), sa.ForeignKey("iapt_areas.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("effective_on", sa.Date(), nullable=True),
        sa.Column("cited_from", sa.String(300), nullable=False),
        sa.UniqueConstraint("from_area_id", "to_area_id", "kind", name="uq_iapt_area_links"),
    )
    op.create_table(
        "iapt_periods",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("label", sa.String(16), nullable=False, unique=True),
        sa.Column("frequency", sa.String(8), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("publication", sa.String(300), nullable=False),
    )
    op.create_table(
        "iapt_measures",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key", sa.String(64), nullable=False, unique=True),
        sa.Column("frequency", sa.String(8), nullable=False),
        sa.Column("unit", sa.String(16), nullable=False),
        sa.Column("nhs_name", sa.String(100), nullable=False),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("definition_source", sa.String(300), nullable=False),
    )
    op.create_table(
        "iapt_breakdowns",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("variable_type", sa.String(64), nullable=False),
        sa.Column("variable_a", sa.String(100), nullable=False),
        sa.Column("variable_b", sa.String(100), nullable=False),
        sa.UniqueConstraint("variable_type", "variable_a", "variable_b", name="uq_iapt_breakdowns"),
    )
    op.create_table(
        "iapt_datasets",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key", sa.String(40), nullable=False, unique=True),
        sa.Column("file_name", sa.String(200), nullable=False),
        sa.Column("licence", sa.String(100), nullable=False),
        sa.Column("attribution", sa.String(400), nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("figure_count", sa.Integer(), nullable=False),
        sa.Column("imported_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "iapt_figures",
        _figure_key("area_id", "iapt_areas", "area"),
        _figure_key("breakdown_id", "iapt_breakdowns", "breakdown"),
        _figure_key("period_id", "iapt_periods", "period"),
        _figure_key("measure_id", "iapt_measures", "measure"),
        sa.Column("dataset_id", sa.Integer(), sa.ForeignKey("iapt_datasets.id", ondelete="CASCADE",
                                                             name="fk_iapt_figures_dataset"), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("suppressed", sa.Boolean(), nullable=False),
        sa.CheckConstraint("(value IS NULL) = suppressed", name="ck_iapt_figures_suppressed_without_value"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "iapt_population",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("area_id", sa.Integer(), sa.ForeignKey("iapt_areas.id", ondelete="SET NULL"), nullable=True),
        sa.Column("geography_code", sa.String(16), nullable=False),
        sa.Column("geography_name", sa.String(200), nullable=False),
        sa.Column("reference", sa.String(40), nullable=False),
        sa.Column("reference_date", sa.Date(), nullable=True),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(200), nullable=False),
        sa.Column("source", sa.String(400), nullable=False),
        sa.Column("source_detail", sa.Text(), nullable=False),
        sa.Column("confidence", sa.String(32), nullable=False),
        sa.UniqueConstraint("geography_code", "reference", "kind", "source", name="uq_iapt_population"),
    )
    op.create_index("ix_iapt_population_area_id", "iapt_population", ["area_id"])


def downgrade() -> None:
    op.drop_index("ix_iapt_population_area_id", table_name="iapt_population")
    op.drop_table("iapt_population")
    op.drop_table("iapt_figures")
    op.drop_table("iapt_datasets")
    op.drop_table("iapt_breakdowns")
    op.drop_table("iapt_measures")
    op.drop_table("iapt_periods")
    op.drop_table("iapt_area_links")
    op.drop_table("iapt_area_aliases")
    op.drop_index("ix_iapt_areas_code", table_name="iapt_areas")
    op.drop_table("iapt_areas")
