"""The one reader of the environment: every setting the bot has, from env vars and `.env`."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from storage.lists.alert_settings import QuietPolicy, parse_setting

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///campaign-bot.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # repr=False: a printed or logged Settings must not show the secrets.
    telegram_bot_token: str | None = Field(default=None, repr=False)
    telegram_api_url: str = "https://api.telegram.org"
    database_url: str = DEFAULT_DATABASE_URL
    # PostgreSQL only: keep the tables in this schema (several campaigns can share one database).
    database_schema: str | None = None
    # NoDecode: the value is "1,2,3", not JSON, so we split it ourselves.
    organiser_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    timezone: str = "Europe/London"
    broadcast_rate: float = Field(default=25.0, gt=0, le=1000)
    paid_broadcast: bool = False
    stats_per_user_per_minute: int = Field(default=10, ge=1)
    # Load the figures bundled with the bot at start-up when the database has none (once, a few seconds).
    stats_load_bundle: bool = True
    # Each new event's reminders unless its organiser changes them (syntax: storage/dates.py).
    reminder_rules: str = "1 day before at 19:00 to everyone; 90 minutes before to going"
    # How long the first on a waiting list has to take a freed place before it is offered to the
    # next (never later than 2 hours before the start: then everyone waiting is told at once).
    place_offer_hours: float = Field(default=12.0, gt=0, le=24 * 14)
    webhook_secret: str | None = Field(default=None, repr=False)
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = Field(default=8443, gt=0, lt=65536)
    # A chat sending more than flood_limit messages and button presses within flood_window_seconds
    # is told once to slow down, and the rest it sends within the window are dropped.
    flood_limit: int = Field(default=20, ge=1)
    flood_window_seconds: float = Field(default=10.0, gt=0, le=3600)
    # The bundle STATS_LOAD_BUNDLE loads (one built with `campaign-bot stats build-bundle`); unset: the shipped one.
    stats_bundle_path: Path | None = None
    # Days a finished broadcast keeps its per-chat delivery rows (then only counts), and a chat on
    # no list is kept before it is erased (storage/retention.py); /privacy states this number.
    retention_days: int = Field(default=30, ge=1, le=3650)
    # When alerts and reminders arrive silently, in TIMEZONE, for chats that chose no quiet hours
    # of their own ("off": none); storage/lists/alert_settings.py reads it.
    quiet_hours: str = "22:00-07:30"
    # A scheduled broadcast the bot could only start more than this many minutes late (it was
    # down) is not sent by itself: it waits as "overdue" for an organiser's Send now or Drop.
    overdue_after_minutes: int = Field(default=30, ge=1, le=7 * 24 * 60)
    # A broadcast to more recipients than this waits for a second organiser's approval; 0: never.
    # Off unless set: a campaign run by one organiser could otherwise not send to a big list at all.
    approval_above: int = Field(default=0, ge=0)
    # A line under every alert pointing to /support (where to get urgent help); counted in its length.
    support_pointer_under_alerts: bool = False

    @field_validator("organiser_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(int(part) for part in value.replace(" ", "").split(",") if part)
        return value

    @field_validator("stats_bundle_path", mode="before")
    @classmethod
    def _empty_path_is_unset(cls, value: object) -> object:
        # `STATS_BUNDLE_PATH=` as .env.example has it: the shipped bundle, not the current directory.
        return None if value == "" else value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("reminder_rules")
    @classmethod
    def _readable_rules(cls, value: str) -> str:
        from storage.dates import parse_reminder_rules

        parse_reminder_rules(value)
        return value

    @field_validator("quiet_hours")
    @classmethod
    def _readable_quiet_hours(cls, value: str) -> str:
        parse_setting(value)
        return value.strip()

    @field_validator("telegram_api_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("database_schema")
    @classmethod
    def _plain_schema_name(cls, value: str | None) -> str | None:
        if value and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", value):
            raise ValueError("a schema name is letters, digits and underscores, not starting with a digit")
        return value or None

    @model_validator(mode="after")
    def _schema_needs_postgresql(self) -> Settings:
        if self.database_schema and not self.database_url.startswith("postgres"):
            raise ValueError("DATABASE_SCHEMA applies to PostgreSQL only; DATABASE_URL is not a PostgreSQL URL")
        return self

    @field_validator("telegram_bot_token", "webhook_secret")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value or None

    @property
    def retention_period(self) -> dt.timedelta:
        return dt.timedelta(days=self.retention_days)

    @property
    def place_offer_hold(self) -> dt.timedelta:
        return dt.timedelta(hours=self.place_offer_hours)

    @property
    def quiet_policy(self) -> QuietPolicy:
        """Whose sends are silent when: each chat's own quiet hours, or QUIET_HOURS, in TIMEZONE."""
        return QuietPolicy(self.tz, parse_setting(self.quiet_hours))

    @property
    def overdue_after(self) -> dt.timedelta:
        return dt.timedelta(minutes=self.overdue_after_minutes)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def sending_rate(self) -> float:
        """Messages per second the broadcaster may send overall."""
        if self.paid_broadcast:
            return self.broadcast_rate
        # Without paid broadcasts Telegram tolerates about 30/s; never configure above it.
        return min(self.broadcast_rate, 30.0)
