"""An alert in several languages (issue 15): the versions of a broadcast, and on each delivery the
version it was sent in.

`broadcast_versions` holds one text per language besides the original; `deliveries.language` is
stamped when the delivery is queued (None: the original), so a resumed send picks the same
version, and `broadcast_versions.sent_count` keeps the per-language totals after the retention
sweep has deleted the delivery rows.

Revision ID: 0017_broadcast_versions
Revises: 0016_chat_language
"""

import sqlalchemy as sa
from alembic import op

revision = "0017_broadcast_versions"
down_revision = "0016_chat_language"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "broadcast_versions",
        sa.Column("broadcast_id", sa.Integer(), sa.ForeignKey("broadcasts.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("language", sa.String(8), primary_key=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("buttons", sa.Text(), nullable=True),
        sa.Column("sent_count", sa.Integer(), nullable=False, server_default="0"),
    )
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("language", sa.String(8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("language")
    op.drop_table("broadcast_versions")
