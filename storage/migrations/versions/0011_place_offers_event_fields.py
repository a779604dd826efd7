"""What people need to know about an event, and places offered from a waiting list (issue 13).

`events.accessibility`, `refreshments` and `cost` are optional texts shown on the card and in the
calendar file (empty by default, so existing events are unchanged). `details` keeps its TEXT
column: its bound (now 1,600 UTF-16 units, to leave room for the new fields on the card) is
checked in code, as before.

Revision ID: 0011_place_offers_event_fields
Revises: 0009_durable_notices
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_place_offers_event_fields"
down_revision = "0009_durable_notices"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("accessibility", sa.String(200), nullable=False, server_default=""))
        batch.add_column(sa.Column("refreshments", sa.String(150), nullable=False, server_default=""))
        batch.add_column(sa.Column("cost", sa.String(100), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.drop_column("cost")
        batch.drop_column("refreshments")
        batch.drop_column("accessibility")
