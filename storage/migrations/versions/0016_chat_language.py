"""The language a chat is spoken to in (issue 15, "the bot in the supporter's language").

A two-to-eight letter code ("bn", "en"), or None while the chat has chosen nothing: the bot then
follows the language of the person's Telegram app when it has a catalogue for it. Nothing else
about the person is stored with it.

Revision ID: 0016_chat_language
Revises: 0015_misc_organiser_menus
"""

import sqlalchemy as sa
from alembic import op

revision = "0016_chat_language"
down_revision = "0015_misc_organiser_menus"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("chats") as batch:
        batch.add_column(sa.Column("language", sa.String(8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("chats") as batch:
        batch.drop_column("language")
