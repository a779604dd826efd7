"""The foundation's tables: chats, mailing lists, subscriptions and organisers.

A chat row holds the minimum needed to message someone: the Telegram chat id and whether
we may write to it. No names, usernames or message texts are stored.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import BigInteger, Column, ForeignKey, String
from sqlmodel import Field, SQLModel

from storage.db import UTCDateTime, utcnow


class ChatKind(enum.StrEnum):
    PRIVATE = "private"
    GROUP = "group"
    SUPERGROUP = "supergroup"
    CHANNEL = "channel"

    @property
    def is_group(self) -> bool:
        return self in (ChatKind.GROUP, ChatKind.SUPERGROUP)


class Chat(SQLModel, table=True):
    __tablename__ = "chats"

    id: int | None = Field(default=None, primary_key=True)
    telegram_id: int = Field(sa_column=Column(BigInteger, unique=True, nullable=False))
    kind: str = Field(sa_column=Column(String(16), nullable=False))
    # False once the chat blocked the bot or vanished: we never write to it then.
    active: bool = Field(default=True, nullable=False)
    first_seen_at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    # When the chat came to be on no list (left its last one, blocked us, or came without joining);
    # None while it is on a list. The retention sweep (storage/retention.py) erases a chat some
    # time after this moment, so it is set and cleared wherever subscriptions end and begin.
    left_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True, index=True))
    # What the chat chose about its alerts (storage/lists/alert_settings.py): its quiet hours
    # ("22:00-07:30" or "off"; None: the QUIET_HOURS setting), and until when alerts are held.
    quiet_hours: str | None = Field(default=None, sa_column=Column(String(16), nullable=True))
    paused_until: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    # The language the chat chose with /language ("bn"); None: the Telegram app's language when the
    # bot has a catalogue for it, else English (messages/i18n.py choose_language).
    language: str | None = Field(default=None, sa_column=Column(String(8), nullable=True))


class MailingList(SQLModel, table=True):
    __tablename__ = "mailing_lists"

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(sa_column=Column(String(40), unique=True, nullable=False))
    title: str = Field(sa_column=Column(String(100), nullable=False))
    description: str = Field(default="", sa_column=Column(String(500), nullable=False, server_default=""))
    public: bool = Field(default=True, nullable=False)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


class Subscription(SQLModel, table=True):
    __tablename__ = "subscriptions"

    chat_id: int = Field(sa_column=Column(ForeignKey("chats.id", ondelete="CASCADE"), primary_key=True))
    list_id: int = Field(sa_column=Column(ForeignKey("mailing_lists.id", ondelete="CASCADE"), primary_key=True,
                                          index=True))
    subscribed_at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


class Organiser(SQLModel, table=True):
    """Organisers added in Telegram; those named in ORGANISER_IDS are not stored here."""

    __tablename__ = "organisers"

    user_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    added_by: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    added_at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


class OrganiserMenu(SQLModel, table=True):
    """The organisers who were given the organisers' command menu in their private chat, so that
    one taken off ORGANISER_IDS while the bot was stopped loses it at the next start-up."""

    __tablename__ = "organiser_menus"

    user_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    given_at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
