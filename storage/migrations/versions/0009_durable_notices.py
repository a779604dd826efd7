"""Why the engine stopped a broadcast, and which broadcasts are notices to an organiser (issue 11).

`kind` tells an organiser's alert (sent with the list's footer) from a notice the engine owes an
organiser (a final report, a broadcast that paused itself or could not be sent), which goes out
through the same deliveries but without a footer. `problem` is the reason the engine paused a
broadcast or marked it failed, shown in /broadcasts and `campaign-bot broadcast status`.

Revision ID: 0009_durable_notices
Revises: 0006_delivery_claims
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_durable_notices"
down_revision = "0008_event_limits"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("broadcasts") as batch:
        batch.add_column(sa.Column("kind", sa.String(16), nullable=False, server_default="alert"))
        batch.add_column(sa.Column("problem", sa.String(300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("broadcasts") as batch:
        batch.drop_column("problem")
        batch.drop_column("kind")
