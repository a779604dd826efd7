"""Quiet hours and a pause per chat; urgent, overdue and approved broadcasts (issue 13).

`chats.quiet_hours` is the chat's own quiet hours ("22:00-07:30", or "off"; NULL: the QUIET_HOURS
setting) and `chats.paused_until` the end of a /pause. A broadcast may be `urgent` (it rings even
in quiet hours), counts what went silently and what a pause held (`silent_count`,
`paused_count`), says who approved it (`approved_by`, a Telegram user id like `created_by`), and a
notice to an organiser may carry inline `buttons` (JSON). The new statuses, "overdue" and
"for_approval", need no change to the schema.

Revision ID: 0010_quiet_pause_approval
Revises: 0009_durable_notices
"""

import sqlalchemy as sa
from alembic import op

from storage.db import UTCDateTime

revision = "0010_quiet_pause_approval"
down_revision = "0009_durable_notices"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("chats") as batch:
        batch.add_column(sa.Column("quiet_hours", sa.String(16), nullable=True))
        batch.add_column(sa.Column("paused_until", UTCDateTime(), nullable=True))
    with op.batch_alter_table("broadcasts") as batch:
        batch.add_column(sa.Column("urgent", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("silent_count", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("paused_count", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("approved_by", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("buttons", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("broadcasts") as batch:
        for column in ("buttons", "approved_by", "paused_count", "silent_count", "urgent"):
            batch.drop_column(column)
    with op.batch_alter_table("chats") as batch:
        batch.drop_column("paused_until")
        batch.drop_column("quiet_hours")
