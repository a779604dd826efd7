"""Chats, mailing lists, subscriptions, organisers.

Revision ID: 0001_foundation
Revises:
"""

import sqlalchemy as sa
from alembic import op

from storage.db import UTCDateTime

revision = "0001_foundation"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chats",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("telegram_id", sa.BigInteger(), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("first_seen_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "mailing_lists",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("slug", sa.String(40), nullable=False, unique=True),
        sa.Column("title", sa.String(100), nullable=False),
        sa.Column("description", sa.String(500), nullable=False, server_default=""),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "subscriptions",
        sa.Column("chat_id", sa.Integer(), sa.ForeignKey("chats.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("list_id", sa.Integer(), sa.ForeignKey("mailing_lists.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("subscribed_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_subscriptions_list_id", "subscriptions", ["list_id"])
    op.create_table(
        "organisers",
        sa.Column("user_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("added_by", sa.BigInteger(), nullable=True),
        sa.Column("added_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("organisers")
    op.drop_index("ix_subscriptions_list_id", table_name="subscriptions")
    op.drop_table("subscriptions")
    op.drop_table("mailing_lists")
    op.drop_table("chats")
