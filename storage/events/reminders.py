"""Reminders: planned per date from the event's rules, then fired when due.

A reminder is a row with a status: PENDING until its moment, then SENT (its broadcast created in
the same transaction, under a unique origin key), MISSED (the event had started by the time the
bot could send it), SKIPPED (its moment had already passed when it was planned) or CANCELLED.
Nothing else decides whether a reminder goes out, so a scheduler may run the firing as often as
it likes: only a PENDING row that is due can become SENT, and only once. One that cannot be
composed or handed on for a reason of its own becomes FAILED, with the reason kept.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Sequence
from zoneinfo import ZoneInfo

from sqlalchemy import Select, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.broadcasts.status import TextTooLong, create_broadcast
from storage.broadcasts.versions import LocalisedText
from storage.dates import Audience, ReminderRule
from storage.events.drafts import overlong_fields
from storage.events.problems import InvalidEventError
from storage.events.tables import (
    MAX_FAILURE_LENGTH,
    DateStatus,
    Event,
    EventDate,
    Reminder,
    ReminderRuleRow,
    ReminderStatus,
    Rsvp,
    RsvpStatus,
    reminder_origin_key,
)
from storage.lists.models import Chat, Subscription


async def plan_reminders(session: AsyncSession, *, event_id: int, now: dt.datetime, tz: ZoneInfo) -> None:
    """(Re)computes every unsent reminder of the event from its active rules and dates.

    SENT and MISSED reminders are history and stay as they are. A reminder whose moment is
    already past when it is planned is SKIPPED rather than sent late at a surprising time; one
    whose moment moves back into the future is PENDING again.
    """
    rules = list(await session.scalars(select(ReminderRuleRow).where(ReminderRuleRow.event_id == event_id)))
    dates = list(await session.scalars(select(EventDate).where(EventDate.event_id == event_id)))
    existing = {
        (item.event_date_id, item.rule_id): item
        for item in await session.scalars(
            select(Reminder).join(EventDate, EventDate.id == Reminder.event_date_id)
            .where(EventDate.event_id == event_id)
        )
    }
    settled = {ReminderStatus.SENT.value, ReminderStatus.MISSED.value}
    for event_date in dates:
        for rule_row in rules:
            reminder = existing.get((event_date.id, rule_row.id))
            if reminder is not None and reminder.status in settled:
                continue
            due = rule_row.as_rule().due_at(event_date.starts_at, tz)
            if not rule_row.active or event_date.status == DateStatus.CANCELLED.value:
                status = ReminderStatus.CANCELLED
            elif due <= now:
                status = ReminderStatus.SKIPPED
            else:
                status = ReminderStatus.PENDING
            if reminder is None:
                session.add(Reminder(event_date_id=event_date.id, rule_id=rule_row.id, due_at=due,
                                     status=status.value, settled_at=None if status is ReminderStatus.PENDING else now))
            else:
                reminder.due_at = due
                if reminder.status != status.value:
                    reminder.status = status.value
                    reminder.settled_at = None if status is ReminderStatus.PENDING else now
    await session.flush()


async def replace_reminder_rules(session: AsyncSession, *, event_id: int, rules: Sequence[ReminderRule],
                                 now: dt.datetime, tz: ZoneInfo) -> None:
    """The event's rules become `rules`: old ones not among them stop (their unsent reminders are
    cancelled), ones that come back keep their history, new ones are planned."""
    rows = list(await session.scalars(select(ReminderRuleRow).where(ReminderRuleRow.event_id == event_id)))
    by_rule = {row.as_rule(): row for row in rows}
    for rule, row in by_rule.items():
        row.active = rule in rules
    for rule in rules:
        if rule not in by_rule:
            session.add(ReminderRuleRow.from_rule(rule, event_id=event_id))
    await session.flush()
    await plan_reminders(session, event_id=event_id, now=now, tz=tz)


async def reminder_counts(session: AsyncSession, *, event_id: int) -> dict[str, int]:
    query = (select(Reminder.status, func.count()).join(EventDate, EventDate.id == Reminder.event_date_id)
             .where(EventDate.event_id == event_id).group_by(Reminder.status))
    return {row[0]: row[1] for row in (await session.execute(query)).all()}


@dataclasses.dataclass(frozen=True)
class DueReminder:
    reminder_id: int
    event: Event
    date: EventDate
    rule: ReminderRule


@dataclasses.dataclass(frozen=True)
class FailedReminder:
    due: DueReminder
    reason: str


@dataclasses.dataclass
class FiringReport:
    sent: list[DueReminder] = dataclasses.field(default_factory=list)
    missed: list[DueReminder] = dataclasses.field(default_factory=list)
    cancelled: int = 0
    failed: list[FailedReminder] = dataclasses.field(default_factory=list)

    @property
    def anything(self) -> bool:
        return bool(self.sent or self.missed or self.cancelled or self.failed)

    def add(self, other: FiringReport) -> None:
        self.sent += other.sent
        self.missed += other.missed
        self.cancelled += other.cancelled
        self.failed += other.failed


Composer = Callable[[DueReminder], str | LocalisedText]


def _pending_reminders_with_events() -> Select:
    return (
        select(Reminder, EventDate, Event, ReminderRuleRow)
        .join(EventDate, EventDate.id == Reminder.event_date_id)
        .join(Event, Event.id == EventDate.event_id)
        .join(ReminderRuleRow, ReminderRuleRow.id == Reminder.rule_id)
        .where(Reminder.status == ReminderStatus.PENDING.value)
    )


def _due_reminders(now: dt.datetime) -> Select:
    return _pending_reminders_with_events().where(Reminder.due_at <= now).order_by(Reminder.due_at, Reminder.id)


async def due_reminder_ids(session: AsyncSession, *, now: dt.datetime, limit: int = 200) -> list[int]:
    """Ids of up to `limit` PENDING reminders due by `now`, oldest first: exactly those
    `fire_due_reminders` would settle, so each can be settled in a transaction of its own."""
    query = _due_reminders(now).with_only_columns(Reminder.id).limit(limit)
    return list(await session.scalars(query))


async def fire_due_reminders(session: AsyncSession, *, now: dt.datetime, compose: Composer,
                             limit: int = 200, reminder_id: int | None = None) -> FiringReport:
    """Settles up to `limit` PENDING reminders due by `now`, oldest first (only `reminder_id`,
    if given).

    One whose event has not started is marked SENT and its broadcast created in this same
    transaction (the broadcast's unique origin key makes a second one impossible); one whose
    event has started is MISSED; one of a cancelled date is CANCELLED. Running it again, or
    twice at once, sends nothing twice: a row only leaves PENDING once. If composing a reminder
    or creating its broadcast raises, so does this, and the caller rolls back; the bot settles
    each reminder in its own transaction and marks that one FAILED (`mark_reminder_failed`).
    """
    report = FiringReport()
    query = _due_reminders(now).limit(limit)
    if reminder_id is not None:
        query = query.where(Reminder.id == reminder_id)
    for reminder, event_date, event, rule_row in (await session.execute(query)).all():
        due = DueReminder(reminder.id, event, event_date, rule_row.as_rule())
        if event_date.status == DateStatus.CANCELLED.value or not rule_row.active:
            outcome = ReminderStatus.CANCELLED
        elif event_date.starts_at <= now:
            outcome = ReminderStatus.MISSED
        else:
            outcome = ReminderStatus.SENT
        if not await _settle(session, reminder.id, outcome, now):
            continue  # another run settled it first
        if outcome is ReminderStatus.SENT:
            if due.rule.audience is Audience.GOING:
                recipients = going_chats(event_date.id)
            else:
                recipients = everyone_not_paused_or_going(event.list_id, event_date.id, now)
            await create_event_broadcast(session, list_id=event.list_id, text=compose(due),
                                         origin_key=reminder_origin_key(reminder.id), recipients=recipients,
                                         now=now)
            report.sent.append(due)
        elif outcome is ReminderStatus.MISSED:
            report.missed.append(due)
        else:
            report.cancelled += 1
    return report


@dataclasses.dataclass(frozen=True)
class ComposeFailure:
    """Why a reminder or notice of an event could not be composed: over Telegram's limit
    (`too_long`) or another error (`error`: its type and message, a diagnostic), with every field
    of the event over its bound, the likely cause. messages/_event_problem.txt words it."""

    too_long: TextTooLong | None
    error: str | None
    overlong: list[InvalidEventError]


def compose_failure(problem: Exception, event: Event) -> ComposeFailure:
    if isinstance(problem, TextTooLong):
        return ComposeFailure(problem, None, overlong_fields(event))
    return ComposeFailure(None, f"{type(problem).__name__}: {problem}", overlong_fields(event))


async def mark_reminder_failed(session: AsyncSession, *, reminder_id: int, problem: Exception,
                               describe: Callable[[ComposeFailure], str], now: dt.datetime) -> FailedReminder | None:
    """A PENDING reminder that could not be sent for a reason of its own becomes FAILED, with the
    reason (as `describe` words it for organisers) kept, cut to fit its column; None if it is not
    PENDING (nothing to report twice)."""
    row = (await session.execute(_pending_reminders_with_events().where(Reminder.id == reminder_id))).first()
    if row is None:
        return None
    reminder, event_date, event, rule_row = row
    reason = describe(compose_failure(problem, event))
    if len(reason) > MAX_FAILURE_LENGTH:
        reason = reason[:MAX_FAILURE_LENGTH - 1] + "…"
    result = await session.execute(
        update(Reminder)
        .where(Reminder.id == reminder_id, Reminder.status == ReminderStatus.PENDING.value)
        .values(status=ReminderStatus.FAILED.value, settled_at=now, failure=reason)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return None
    return FailedReminder(DueReminder(reminder.id, event, event_date, rule_row.as_rule()), reason)


async def _settle(session: AsyncSession, reminder_id: int, status: ReminderStatus, now: dt.datetime) -> bool:
    result = await session.execute(
        update(Reminder)
        .where(Reminder.id == reminder_id, Reminder.status == ReminderStatus.PENDING.value)
        .values(status=status.value, settled_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def pending_reminders(session: AsyncSession, *, after_id: int = 0, limit: int = 5000,
                            event_id: int | None = None) -> list[tuple[int, dt.datetime]]:
    """(id, due_at) of PENDING reminders in id order after `after_id`: a keyset page."""
    query = (select(Reminder.id, Reminder.due_at)
             .where(Reminder.status == ReminderStatus.PENDING.value, Reminder.id > after_id)
             .order_by(Reminder.id).limit(limit))
    if event_id is not None:
        query = query.join(EventDate, EventDate.id == Reminder.event_date_id).where(EventDate.event_id == event_id)
    return [(row[0], row[1]) for row in (await session.execute(query)).all()]


async def reminder_ids_of(session: AsyncSession, *, event_id: int) -> list[int]:
    query = (select(Reminder.id).join(EventDate, EventDate.id == Reminder.event_date_id)
             .where(EventDate.event_id == event_id))
    return list(await session.scalars(query))


async def reminder_statuses(session: AsyncSession, *, event_date_id: int) -> list[tuple[str, dt.datetime, str]]:
    """(rule described, due_at, status) of every reminder of a date, in due order."""
    query = (select(ReminderRuleRow, Reminder.due_at, Reminder.status)
             .join(Reminder, Reminder.rule_id == ReminderRuleRow.id)
             .where(Reminder.event_date_id == event_date_id).order_by(Reminder.due_at))
    return [(row[0].as_rule().describe(), row[1], row[2]) for row in (await session.execute(query)).all()]


def everyone_not_paused_or_going(list_id: int, event_date_id: int, now: dt.datetime) -> Select:
    """chats.id of a "to everyone" reminder: everyone on the list, except chats taking a break
    from alerts (/pause) that are not going to this date (a reminder of what one said one is
    going to always arrives)."""
    going = going_chats(event_date_id).where(Rsvp.chat_id == Subscription.chat_id)
    not_paused = or_(Chat.paused_until.is_(None), Chat.paused_until <= now)
    return (
        select(Subscription.chat_id)
        .join(Chat, Chat.id == Subscription.chat_id)
        .where(Subscription.list_id == list_id, or_(not_paused, exists(going)))
    )


def going_chats(event_date_id: int) -> Select:
    """chats.id of those going to a date (a reminder's 'going' audience)."""
    return select(Rsvp.chat_id).where(Rsvp.event_date_id == event_date_id, Rsvp.status == RsvpStatus.GOING.value)


async def create_event_broadcast(session: AsyncSession, *, list_id: int, text: str | LocalisedText, origin_key: str,
                                 recipients: Select | None, now: dt.datetime) -> bool:
    """Hands a reminder or a notice to the broadcast engine, in the caller's transaction; False if
    a broadcast with that origin key exists already (nothing is created twice)."""
    created = await create_broadcast(session, list_id=list_id, text=text, created_by=None,
                                                origin_key=origin_key, recipient_chat_rows=recipients, now=now)
    return created is not None
