"""Events, RSVPs and reminders (issue 5). Placeholder in the chain until that issue's tables land.

Revision ID: 0004_events
Revises: 0003_broadcasts
"""

revision = "0004_events"
down_revision = "0003_broadcasts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
