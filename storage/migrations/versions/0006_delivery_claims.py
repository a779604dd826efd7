"""Which process claimed a delivery, so a surviving process requeues only the dead one's claims.

Revision ID: 0006_delivery_claims
Revises: 0005_leases
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_delivery_claims"
down_revision = "0005_leases"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String(128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("claimed_by")
