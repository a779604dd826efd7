"""Reminder rules ('1 day before at 19:00 to everyone; 90 minutes before to going'): when each
reminder of an event goes out and to whom. Pure, no Telegram, no database."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import re
from zoneinfo import ZoneInfo


def _normalise(text: str) -> str:
    text = text.strip().lower().replace(",", " ")
    return re.sub(r"\s+", " ", text)


class ReminderRuleProblem(ValueError):
    """A reminder rule that was not understood; `rule` is the part as typed (messages word it)."""

    def __init__(self, rule: str) -> None:
        super().__init__(f"reminder rule not understood: {rule!r}")
        self.rule = rule


class Audience(enum.StrEnum):
    LIST = "list"  # everyone on the event's list
    GOING = "going"  # only those who said they are going


@dataclasses.dataclass(frozen=True)
class ReminderRule:
    """When a reminder goes out, relative to an event's start, and to whom.

    Either `days_before` with a local `at` time ('the day before at 19:00', on the calendar of
    the campaign's time zone), or `minutes_before` (real elapsed minutes, across clock changes).
    """

    audience: Audience
    days_before: int | None = None
    at: dt.time | None = None
    minutes_before: int | None = None

    def __post_init__(self) -> None:
        calendar_rule = self.days_before is not None and self.at is not None
        if calendar_rule == (self.minutes_before is not None):
            raise ValueError("a reminder rule is either days before at a time, or minutes before")

    def due_at(self, starts_at: dt.datetime, tz: ZoneInfo) -> dt.datetime:
        """When this rule reminds of an event starting at `starts_at` (aware), as aware UTC."""
        if self.minutes_before is not None:
            return starts_at.astimezone(dt.UTC) - dt.timedelta(minutes=self.minutes_before)
        assert self.days_before is not None and self.at is not None
        local_day = starts_at.astimezone(tz).date() - dt.timedelta(days=self.days_before)
        # fold=0 and the round trip settle a clock-change hour the same way every time.
        return dt.datetime.combine(local_day, self.at).replace(tzinfo=tz).astimezone(dt.UTC)

    def describe(self) -> str:
        to = "everyone" if self.audience is Audience.LIST else "going"
        if self.minutes_before is not None:
            hours, minutes = divmod(self.minutes_before, 60)
            if minutes == 0 and hours:
                amount = f"{hours} hour{'s' if hours != 1 else ''}"
            else:
                amount = f"{self.minutes_before} minutes"
            return f"{amount} before to {to}"
        assert self.days_before is not None and self.at is not None
        days = "1 day" if self.days_before == 1 else f"{self.days_before} days"
        return f"{days} before at {self.at:%H:%M} to {to}"


# Numbers of at most six digits: more is a typo, and int() of thousands of digits is refused.
_CALENDAR_RULE = re.compile(
    r"^(?:(\d{1,6}|the|a)\s+)?days?\s+before\s+(?:at\s+)?(\d{1,2})[:.](\d{2})\s+(?:to\s+)?(everyone|list|going)$"
)
_ELAPSED_RULE = re.compile(
    r"^(\d{1,6})\s*(minutes?|mins?|m|hours?|hrs?|h)\s+before\s+(?:to\s+)?(everyone|list|going)$"
)


def parse_reminder_rules(text: str) -> list[ReminderRule]:
    """Rules separated by ';' or new lines, e.g. '1 day before at 19:00 to everyone; 90 minutes
    before to going'. 'none' means no reminders. Raises ReminderRuleProblem (a ValueError, and
    only that) naming the rule not understood."""
    rules: list[ReminderRule] = []
    for part in re.split(r"[;\n]", text):
        words = _normalise(part)
        if not words or words == "none":
            continue
        calendar_rule = _CALENDAR_RULE.match(words)
        elapsed_rule = _ELAPSED_RULE.match(words)
        if calendar_rule:
            count = calendar_rule[1]
            days = int(count) if count and count.isdigit() else 1
            hour, minute = int(calendar_rule[2]), int(calendar_rule[3])
            if hour > 23 or minute > 59 or not 1 <= days <= 30:
                raise ReminderRuleProblem(part.strip())
            rule = ReminderRule(_audience(calendar_rule[4]), days_before=days, at=dt.time(hour, minute))
        elif elapsed_rule:
            amount = int(elapsed_rule[1])
            minutes = amount * 60 if elapsed_rule[2].startswith("h") else amount
            if not 1 <= minutes <= 30 * 24 * 60:
                raise ReminderRuleProblem(part.strip())
            rule = ReminderRule(_audience(elapsed_rule[3]), minutes_before=minutes)
        else:
            raise ReminderRuleProblem(part.strip())
        if rule not in rules:
            rules.append(rule)
    return rules


def _audience(word: str) -> Audience:
    return Audience.GOING if word == "going" else Audience.LIST
