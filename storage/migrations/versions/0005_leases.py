"""Leases: which process runs the scheduler.

Revision ID: 0005_leases
Revises: 0004_events
"""

import sqlalchemy as sa
from alembic import op

from storage.db import UTCDateTime

revision = "0005_leases"
down_revision = "0004_events"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(128), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("leases")
