"""Events, their dates, RSVPs, reminder rules and reminders (issue 5).

Revision ID: 0004_events
Revises: 0003_broadcasts
"""

import sqlalchemy as sa
from alembic import op

from storage.db import UTCDateTime

revision = "0004_events"
down_revision = "0003_broadcasts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key", sa.String(60), nullable=False, unique=True),
        sa.Column("list_id", sa.Integer(), sa.ForeignKey("mailing_lists.id", ondelete="CASCADE"), nullable=False),
        sa.Column("title", sa.String(120), nullable=False),
        sa.Column("venue_name", sa.String(200), nullable=False),
        sa.Column("address", sa.String(300), nullable=False),
        sa.Column("postcode", sa.String(10), nullable=False),
        sa.Column("meeting_point", sa.String(200), nullable=False, server_default=""),
        sa.Column("nearest_station", sa.String(100), nullable=False, server_default=""),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("details", sa.Text(), nullable=False, server_default=""),
        sa.Column("contact", sa.String(200), nullable=False, server_default=""),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_events_list_id", "events", ["list_id"])
    op.create_table(
        "event_dates",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("event_id", sa.Integer(), sa.ForeignKey("events.id", ondelete="CASCADE"), nullable=False),
        sa.Column("starts_at", UTCDateTime(), nullable=False),
        sa.Column("ends_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("booked_elsewhere", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("sequence", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("rsvp_revision", sa.Integer(), nullable=False, server_default="0"),
    )
    op.create_index("ix_event_dates_event_id", "event_dates", ["event_id"])
    op.create_index("ix_event_dates_starts_at", "event_dates", ["starts_at"])
    op.create_table(
        "reminder_rules",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("event_id", sa.Integer(), sa.ForeignKey("events.id", ondelete="CASCADE"), nullable=False),
        sa.Column("audience", sa.String(8), nullable=False),
        sa.Column("days_before", sa.Integer(), nullable=True),
        sa.Column("at_local", sa.String(5), nullable=True),
        sa.Column("minutes_before", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_reminder_rules_event_id", "reminder_rules", ["event_id"])
    op.create_table(
        "reminders",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("event_date_id", sa.Integer(), sa.ForeignKey("event_dates.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("rule_id", sa.Integer(), sa.ForeignKey("reminder_rules.id", ondelete="CASCADE"), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("settled_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("event_date_id", "rule_id", name="uq_reminders_event_date_rule"),
    )
    op.create_index("ix_reminders_status_due_at", "reminders", ["status", "due_at"])
    op.create_table(
        "rsvps",
        sa.Column("event_date_id", sa.Integer(), sa.ForeignKey("event_dates.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("chat_id", sa.Integer(), sa.ForeignKey("chats.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("answered_at", UTCDateTime(), nullable=False),
        sa.Column("shared_name", sa.String(64), nullable=True),
    )
    op.create_index("ix_rsvps_chat_id", "rsvps", ["chat_id"])


def downgrade() -> None:
    op.drop_index("ix_rsvps_chat_id", table_name="rsvps")
    op.drop_table("rsvps")
    op.drop_index("ix_reminders_status_due_at", table_name="reminders")
    op.drop_table("reminders")
    op.drop_index("ix_reminder_rules_event_id", table_name="reminder_rules")
    op.drop_table("reminder_rules")
    op.drop_index("ix_event_dates_starts_at", table_name="event_dates")
    op.drop_index("ix_event_dates_event_id", table_name="event_dates")
    op.drop_table("event_dates")
    op.drop_index("ix_events_list_id", table_name="events")
    op.drop_table("events")
