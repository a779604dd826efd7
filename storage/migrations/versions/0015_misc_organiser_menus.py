"""Who was given the organisers' command menu (issue 13, "organisers see their own commands").

Telegram cannot be asked which chats have a menu of their own, so the bot keeps the organisers
it gave one: an organiser taken off ORGANISER_IDS while the bot was stopped then loses it at the
next start-up.

Revision ID: 0015_misc_organiser_menus
Revises: 0011_place_offers_event_fields
"""

import sqlalchemy as sa
from alembic import op

from storage.db import UTCDateTime

revision = "0015_misc_organiser_menus"
down_revision = "0011_place_offers_event_fields"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "organiser_menus",
        sa.Column("user_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("given_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("organiser_menus")
