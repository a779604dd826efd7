"""Broadcasts and their deliveries, one row per recipient (issue 4).

Revision ID: 0003_broadcasts
Revises: 0002_iapt
"""

import sqlalchemy as sa
from alembic import op

from storage.db import UTCDateTime

revision = "0003_broadcasts"
down_revision = "0002_iapt"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "broadcasts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("list_id", sa.Integer(), sa.ForeignKey("mailing_lists.id", ondelete="CASCADE"), nullable=False),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("media_kind", sa.String(16), nullable=True),
        sa.Column("media_file_id", sa.String(256), nullable=True),
        sa.Column("send_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("reported_at", UTCDateTime(), nullable=True),
        sa.Column("origin_key", sa.String(100), nullable=True, unique=True),
        sa.Column("custom_recipients", sa.Boolean(), nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("sent_count", sa.Integer(), nullable=False),
        sa.Column("blocked_count", sa.Integer(), nullable=False),
        sa.Column("gone_count", sa.Integer(), nullable=False),
        sa.Column("failed_count", sa.Integer(), nullable=False),
        sa.Column("skipped_count", sa.Integer(), nullable=False),
        sa.Column("possible_duplicates", sa.Integer(), nullable=False),
    )
    op.create_index("ix_broadcasts_list_id", "broadcasts", ["list_id"])
    op.create_index("ix_broadcasts_status", "broadcasts", ["status"])
    op.create_table(
        "deliveries",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("broadcast_id", sa.Integer(), sa.ForeignKey("broadcasts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("chat_id", sa.Integer(), sa.ForeignKey("chats.id", ondelete="CASCADE"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
    )
    op.create_index("ix_deliveries_broadcast_id_id", "deliveries", ["broadcast_id", "id"])
    op.create_index("ix_deliveries_chat_id", "deliveries", ["chat_id"])


def downgrade() -> None:
    op.drop_index("ix_deliveries_chat_id", table_name="deliveries")
    op.drop_index("ix_deliveries_broadcast_id_id", table_name="deliveries")
    op.drop_table("deliveries")
    op.drop_index("ix_broadcasts_status", table_name="broadcasts")
    op.drop_index("ix_broadcasts_list_id", table_name="broadcasts")
    op.drop_table("broadcasts")
