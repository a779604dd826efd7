"""Published IAPT figures (issue 3). Placeholder in the chain until that issue's tables land.

Revision ID: 0002_iapt
Revises: 0001_foundation
"""

revision = "0002_iapt"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
