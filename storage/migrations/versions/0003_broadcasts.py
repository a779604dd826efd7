"""Broadcasts and deliveries (issue 4). Placeholder in the chain until that issue's tables land.

Revision ID: 0003_broadcasts
Revises: 0002_iapt
"""

revision = "0003_broadcasts"
down_revision = "0002_iapt"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
