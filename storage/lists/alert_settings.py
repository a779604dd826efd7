"""What a chat chose about its alerts: quiet hours (alerts and reminders arrive silently) and a
pause (ordinary alerts are held for some days).

Quiet hours are a wall-clock span in the bot's time zone ("22:00-07:30" spans midnight), read
against the local time of each send, so summer time moves nothing. A chat that chose nothing has
the QUIET_HOURS setting; one that chose "off" has none. Nothing here delays or drops a message:
the engine only sends it with the notification switched off. A pause holds ordinary alerts (a
broadcast to everyone on a list) until `paused_until`; reminders of dates the chat is going to
still arrive (`storage/events/reminders.py`).

Both live on the chat's row, so /forget and the retention sweep erase them with it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import re
from zoneinfo import ZoneInfo

from storage.lists.chats import get_chat, record_chat
from storage.lists.models import Chat, ChatKind

OFF = "off"
# "22:00-07:30", "22.00 - 7.30", "2200-0730"; the minutes may be left out ("22-7").
_SPAN = re.compile(r"^\s*(\d{1,2})(?:[:.h]?(\d{2}))?\s*(?:-|–|to)\s*(\d{1,2})(?:[:.h]?(\d{2}))?\s*$")
MAX_PAUSE_DAYS = 365


class QuietHoursProblem(ValueError):
    """Quiet hours that cannot be read: `kind` is "form", "range" or "empty" (start equals end);
    messages/quiet_bad.html words it."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


@dataclasses.dataclass(frozen=True)
class QuietHours:
    start: dt.time
    end: dt.time

    @classmethod
    def parse(cls, text: str) -> QuietHours:
        """"22:00-07:30" and the like; raises QuietHoursProblem."""
        match = _SPAN.match(text)
        if match is None:
            raise QuietHoursProblem("form")
        start_h, start_m, end_h, end_m = (int(part or 0) for part in match.groups())
        if start_h > 23 or end_h > 23 or start_m > 59 or end_m > 59:
            raise QuietHoursProblem("range")
        hours = cls(dt.time(start_h, start_m), dt.time(end_h, end_m))
        if hours.start == hours.end:
            raise QuietHoursProblem("empty")
        return hours

    def contains(self, moment: dt.time) -> bool:
        if self.start < self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end  # spans midnight

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"

    @property
    def code(self) -> str:
        """Digits only ("2200-0730"), for button data."""
        return f"{self.start:%H%M}-{self.end:%H%M}"


def quiet_choice(text: str) -> QuietHours | None | str:
    """What a chat chose, typed after /quiet or pressed under it, as `set_quiet_hours` takes it:
    "off" is None (no quiet hours), "default" stays "default", anything else is a span (raises
    QuietHoursProblem)."""
    word = text.strip().lower()
    if word == OFF:
        return None
    if word == "default":
        return "default"
    return QuietHours.parse(text)


@functools.lru_cache(maxsize=256)
def _stored(value: str) -> QuietHours | None:
    return None if value == OFF else QuietHours.parse(value)


@dataclasses.dataclass(frozen=True)
class QuietPolicy:
    """Whether a send is silent: the chat's own quiet hours, or else `default`, in `tz`."""

    tz: ZoneInfo
    default: QuietHours | None

    def hours_of(self, stored: str | None) -> QuietHours | None:
        if stored is None:
            return self.default
        try:
            return _stored(stored)
        except QuietHoursProblem:
            return self.default  # written straight into the database: the default is the safe reading

    def local_time(self, moment: dt.datetime) -> dt.time:
        return moment.astimezone(self.tz).time()

    def silent(self, stored: str | None, local_time: dt.time) -> bool:
        hours = self.hours_of(stored)
        return hours is not None and hours.contains(local_time)


def parse_setting(value: str) -> QuietHours | None:
    """The QUIET_HOURS setting: a span, or "off"."""
    return None if value.strip().lower() == OFF else QuietHours.parse(value)


# ------------------------------------------------------------------ the chat's choices


@dataclasses.dataclass(frozen=True)
class AlertSettings:
    """What a chat chose: `quiet_hours` as stored (None: the default; "off"), and its pause."""

    quiet_hours: str | None
    paused_until: dt.datetime | None

    def paused_at(self, now: dt.datetime) -> bool:
        return self.paused_until is not None and self.paused_until > now


async def alert_settings(session, *, telegram_id: int) -> AlertSettings:
    chat = await get_chat(session, telegram_id=telegram_id)
    if chat is None:
        return AlertSettings(None, None)
    return AlertSettings(chat.quiet_hours, chat.paused_until)


async def _chat(session, telegram_id: int, kind: ChatKind, now: dt.datetime) -> Chat:
    return await record_chat(session, telegram_id=telegram_id, kind=kind, now=now)


async def set_quiet_hours(session, *, telegram_id: int, kind: ChatKind, hours: QuietHours | None | str,
                          now: dt.datetime) -> AlertSettings:
    """The chat's quiet hours become `hours` (None: none at all; "default": the setting's)."""
    chat = await _chat(session, telegram_id, kind, now)
    chat.quiet_hours = None if hours == "default" else OFF if hours is None else str(hours)
    await session.flush()
    return AlertSettings(chat.quiet_hours, chat.paused_until)


async def pause_alerts(session, *, telegram_id: int, kind: ChatKind, days: int | None,
                       now: dt.datetime) -> AlertSettings:
    """Holds ordinary alerts for `days` from now (None: the pause ends now)."""
    if days is not None and not 1 <= days <= MAX_PAUSE_DAYS:
        raise ValueError(f"a pause is 1 to {MAX_PAUSE_DAYS} days")
    chat = await _chat(session, telegram_id, kind, now)
    chat.paused_until = None if days is None else now + dt.timedelta(days=days)
    await session.flush()
    return AlertSettings(chat.quiet_hours, chat.paused_until)
