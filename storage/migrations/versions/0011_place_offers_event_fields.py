"""What people need to know about an event, and places offered from a waiting list (issue 13).

`events.accessibility`, `refreshments` and `cost` are optional texts shown on the card and in the
calendar file (empty by default, so existing events are unchanged). `details` keeps its TEXT
column: its bound (now 1,600 UTF-16 units, to leave room for the new fields on the card) is
checked in code, as before.

`place_offers`: a place freed on a full date is offered to the first on the waiting list until a
deadline, then to the next; within the last two hours, to everyone waiting at once. Each offer
is a row, so its expiry survives a restart. The notice that tells them carries its "Take the
place" button in `broadcasts.buttons` (added by 0010).

Revision ID: 0011_place_offers_event_fields
Revises: 0010_quiet_pause_approval
"""

import sqlalchemy as sa
from alembic import op

from storage.db import UTCDateTime

revision = "0011_place_offers_event_fields"
down_revision = "0010_quiet_pause_approval"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("accessibility", sa.String(200), nullable=False, server_default=""))
        batch.add_column(sa.Column("refreshments", sa.String(150), nullable=False, server_default=""))
        batch.add_column(sa.Column("cost", sa.String(100), nullable=False, server_default=""))
    op.create_table(
        "place_offers",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("event_date_id", sa.Integer(), sa.ForeignKey("event_dates.id", ondelete="CASCADE"), nullable=False),
        sa.Column("chat_id", sa.Integer(), sa.ForeignKey("chats.id", ondelete="CASCADE"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("open_to_all", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("offered_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("settled_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_place_offers_event_date_id", "place_offers", ["event_date_id"])
    op.create_index("ix_place_offers_chat_id", "place_offers", ["chat_id"])
    op.create_index("ix_place_offers_status_expires_at", "place_offers", ["status", "expires_at"])


def downgrade() -> None:
    op.drop_table("place_offers")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("cost")
        batch.drop_column("refreshments")
        batch.drop_column("accessibility")
