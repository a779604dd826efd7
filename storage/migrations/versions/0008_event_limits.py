"""Why a reminder failed: `reminders.failure`.

A reminder that cannot be composed or handed on for a reason of its own (an over-long field
written before the bounds, or straight into the database) is marked `failed` with the reason
here, instead of stopping every other reminder.

The event columns keep the widths 0004_events gave them, on both databases: they are the bounds
`storage.events.drafts.FIELD_LIMITS` now checks on every way in (SQLite ignores a VARCHAR's length, so
there the check in code is the only bound). `details` stays TEXT on both, bounded in code:
giving it a width on SQLite means rebuilding the events table, and dropping the old table with
foreign keys on would cascade to every date, answer and reminder; and narrowing a PostgreSQL
column that holds a longer value would make the start-up's upgrade fail.

Revision ID: 0008_event_limits
Revises: 0006_delivery_claims
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_event_limits"
down_revision = "0007_retention"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reminders") as batch:
        batch.add_column(sa.Column("failure", sa.String(300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("reminders") as batch:
        batch.drop_column("failure")
