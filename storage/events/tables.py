"""The tables of events: an event, its dates, its reminder rules, the reminders planned from them,
and the answers (RSVPs) people give per date; with the statuses each row moves through.

An event (the demo, the encounter groups) is entered once and happens on one or more dates;
people answer per date, and reminders are planned per date from the event's rules. Every time is
aware UTC here; the campaign's time zone is only used to plan 'the day before at 19:00'.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import Boolean, Column, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, false
from sqlmodel import Field, SQLModel

from storage.dates import Audience, ReminderRule
from storage.db import UTCDateTime, utcnow

# The longest value of each text field, counted in UTF-16 code units as Telegram counts a message
# (an emoji is two), so that a card, reminder or notice with every field at its longest still fits
# in one message of 4096 (tests/test_bad_rows.py renders them all at these bounds). The columns
# are as wide in characters; a value within its bound in UTF-16 units never has more characters.
MAX_KEY_LENGTH = 60
MAX_TITLE_LENGTH = 120
MAX_VENUE_LENGTH = 200
MAX_ADDRESS_LENGTH = 300
MAX_POSTCODE_LENGTH = 10
MAX_MEETING_POINT_LENGTH = 200
MAX_STATION_LENGTH = 100
# Lowered from 2000 when accessibility, refreshments and cost joined the card (issue 13): the
# card with every field at its longest must still be one message.
MAX_DETAILS_LENGTH = 1600
MAX_CONTACT_LENGTH = 200
MAX_ACCESSIBILITY_LENGTH = 200
MAX_REFRESHMENTS_LENGTH = 150
MAX_COST_LENGTH = 100
# The longest reason kept for a FAILED reminder (`Reminder.failure`).
MAX_FAILURE_LENGTH = 300


class DateStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    CHANGED = "changed"  # its time was changed after it was published
    CANCELLED = "cancelled"


class RsvpStatus(enum.StrEnum):
    GOING = "going"
    WAITING = "waiting"  # said 'Going' when it was fully booked
    NOT_GOING = "not_going"


class OfferStatus(enum.StrEnum):
    OPEN = "open"  # the place is held for the chat (or, open to all, for whoever presses first)
    TAKEN = "taken"
    EXPIRED = "expired"  # its deadline passed unclaimed
    WITHDRAWN = "withdrawn"  # the chat said it can't go, or (open to all) someone else took the place


class ReminderStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    MISSED = "missed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"
    FAILED = "failed"  # it could not be composed or handed on, for a reason of its own (kept in `failure`)


class Event(SQLModel, table=True):
    __tablename__ = "events"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(sa_column=Column(String(MAX_KEY_LENGTH), unique=True, nullable=False))
    list_id: int = Field(sa_column=Column(ForeignKey("mailing_lists.id", ondelete="CASCADE"), nullable=False,
                                          index=True))
    title: str = Field(sa_column=Column(String(MAX_TITLE_LENGTH), nullable=False))
    venue_name: str = Field(sa_column=Column(String(MAX_VENUE_LENGTH), nullable=False))
    address: str = Field(sa_column=Column(String(MAX_ADDRESS_LENGTH), nullable=False))
    postcode: str = Field(sa_column=Column(String(MAX_POSTCODE_LENGTH), nullable=False))
    meeting_point: str = Field(default="", sa_column=Column(String(MAX_MEETING_POINT_LENGTH), nullable=False,
                                                            server_default=""))
    nearest_station: str = Field(default="", sa_column=Column(String(MAX_STATION_LENGTH), nullable=False,
                                                              server_default=""))
    latitude: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    longitude: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    details: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    contact: str = Field(default="", sa_column=Column(String(MAX_CONTACT_LENGTH), nullable=False,
                                                      server_default=""))
    # What people need to know before coming: step-free access, toilets, hearing loop, BSL;
    # food and drink on site and whether to bring your own; what it costs.
    accessibility: str = Field(default="", sa_column=Column(String(MAX_ACCESSIBILITY_LENGTH), nullable=False,
                                                            server_default=""))
    refreshments: str = Field(default="", sa_column=Column(String(MAX_REFRESHMENTS_LENGTH), nullable=False,
                                                           server_default=""))
    cost: str = Field(default="", sa_column=Column(String(MAX_COST_LENGTH), nullable=False, server_default=""))
    capacity: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))

    @property
    def full_address(self) -> str:
        return f"{self.address} {self.postcode}".strip()

    @property
    def has_map_pin(self) -> bool:
        return self.latitude is not None and self.longitude is not None


class EventDate(SQLModel, table=True):
    __tablename__ = "event_dates"

    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(sa_column=Column(ForeignKey("events.id", ondelete="CASCADE"), nullable=False, index=True))
    starts_at: dt.datetime = Field(sa_column=Column(UTCDateTime, nullable=False, index=True))
    ends_at: dt.datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    status: str = Field(default=DateStatus.SCHEDULED.value, sa_column=Column(String(16), nullable=False))
    # Places taken outside the bot (by phone, on paper); they count against the capacity.
    booked_elsewhere: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    # Bumped by every change people must hear about; the calendar file's SEQUENCE.
    sequence: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    # Bumped first thing by every RSVP, so answers to one date queue behind each other.
    rsvp_revision: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))


class ReminderRuleRow(SQLModel, table=True):
    """One of an event's reminder rules. Never deleted while the event lives (a dropped rule
    is made inactive), so a sent reminder keeps its record and is never sent again."""

    __tablename__ = "reminder_rules"

    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(sa_column=Column(ForeignKey("events.id", ondelete="CASCADE"), nullable=False, index=True))
    audience: str = Field(sa_column=Column(String(8), nullable=False))
    days_before: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    at_local: str | None = Field(default=None, sa_column=Column(String(5), nullable=True))
    minutes_before: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    active: bool = Field(default=True, nullable=False)

    def as_rule(self) -> ReminderRule:
        at = dt.time.fromisoformat(self.at_local) if self.at_local else None
        return ReminderRule(Audience(self.audience), days_before=self.days_before, at=at,
                            minutes_before=self.minutes_before)

    @classmethod
    def from_rule(cls, rule: ReminderRule, *, event_id: int) -> ReminderRuleRow:
        return cls(event_id=event_id, audience=rule.audience.value, days_before=rule.days_before,
                   at_local=rule.at.strftime("%H:%M") if rule.at else None, minutes_before=rule.minutes_before)


class Reminder(SQLModel, table=True):
    __tablename__ = "reminders"
    __table_args__ = (
        UniqueConstraint("event_date_id", "rule_id", name="uq_reminders_event_date_rule"),
        Index("ix_reminders_status_due_at", "status", "due_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    event_date_id: int = Field(sa_column=Column(ForeignKey("event_dates.id", ondelete="CASCADE"), nullable=False))
    rule_id: int = Field(sa_column=Column(ForeignKey("reminder_rules.id", ondelete="CASCADE"), nullable=False))
    due_at: dt.datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    status: str = Field(default=ReminderStatus.PENDING.value, sa_column=Column(String(16), nullable=False))
    settled_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    # Why a FAILED reminder could not go out, for organisers and the log.
    failure: str | None = Field(default=None, sa_column=Column(String(MAX_FAILURE_LENGTH), nullable=True))

    @property
    def origin_key(self) -> str:
        return reminder_origin_key(self.id)


class Rsvp(SQLModel, table=True):
    __tablename__ = "rsvps"

    event_date_id: int = Field(sa_column=Column(ForeignKey("event_dates.id", ondelete="CASCADE"), primary_key=True))
    chat_id: int = Field(sa_column=Column(ForeignKey("chats.id", ondelete="CASCADE"), primary_key=True, index=True))
    status: str = Field(sa_column=Column(String(16), nullable=False))
    answered_at: dt.datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    # Only when the person pressed 'Share my name'; otherwise organisers see counts alone.
    shared_name: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))


class PlaceOffer(SQLModel, table=True):
    """A freed place offered to one chat on the waiting list until `expires_at`; or, within the
    last hours before the start, to everyone waiting at once (`open_to_all`: the first to take
    it gets it). Only OPEN offers held for one chat keep the place from others."""

    __tablename__ = "place_offers"
    __table_args__ = (Index("ix_place_offers_status_expires_at", "status", "expires_at"),)

    id: int | None = Field(default=None, primary_key=True)
    event_date_id: int = Field(sa_column=Column(ForeignKey("event_dates.id", ondelete="CASCADE"), nullable=False,
                                                index=True))
    chat_id: int = Field(sa_column=Column(ForeignKey("chats.id", ondelete="CASCADE"), nullable=False, index=True))
    status: str = Field(default=OfferStatus.OPEN.value, sa_column=Column(String(16), nullable=False))
    open_to_all: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, server_default=false()))
    offered_at: dt.datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    expires_at: dt.datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    settled_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))


def reminder_origin_key(reminder_id: int | None) -> str:
    return f"reminder:{reminder_id}"
