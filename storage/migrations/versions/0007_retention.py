"""Retention: when a chat came to be on no list, and per-broadcast totals of reduced deliveries.

Revision ID: 0007_retention
Revises: 0006_delivery_claims
"""

import datetime as dt

import sqlalchemy as sa
from alembic import op

from storage.db import UTCDateTime

revision = "0007_retention"
down_revision = "0006_delivery_claims"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("chats") as batch:
        batch.add_column(sa.Column("left_at", UTCDateTime(), nullable=True))
        batch.create_index("ix_chats_left_at", ["left_at"])
    # Chats already on no list start their retention period now: none is erased sooner than
    # the period promised, whatever it was before this revision.
    chats = sa.table("chats", sa.column("id", sa.Integer()), sa.column("left_at", UTCDateTime()))
    subscriptions = sa.table("subscriptions", sa.column("chat_id", sa.Integer()))
    op.execute(
        chats.update()
        .where(~sa.exists().where(subscriptions.c.chat_id == chats.c.id))
        .values(left_at=dt.datetime.now(dt.UTC))
    )
    op.create_table(
        "delivery_tallies",
        sa.Column("broadcast_id", sa.Integer(), sa.ForeignKey("broadcasts.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("status", sa.String(16), primary_key=True),
        sa.Column("count", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("delivery_tallies")
    with op.batch_alter_table("chats") as batch:
        batch.drop_index("ix_chats_left_at")
        batch.drop_column("left_at")
