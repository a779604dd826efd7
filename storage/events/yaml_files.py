"""Events in and out as YAML: `campaign-bot events import FILE.yaml` and `events export`.

The file is a list of events under `events:`; times are local to the campaign's time zone and
read by the same parser as /newevent (past dates are allowed here: a file may carry history).
Every problem in a file is reported at once, and a file with any problem changes nothing.

Importing is safe to repeat: an event is matched by its `key`; a known event has its details
updated and any new dates added, and a date already there is left as it is (with its answers
and sent reminders). See examples/events.yaml.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from sqlalchemy.ext.asyncio import AsyncSession

from storage.dates import DateProblem, ReminderRule, ReminderRuleProblem, parse_end, parse_moment, parse_reminder_rules
from storage.events import catalogue, drafts, reminders
from storage.events.drafts import DateDraft, EventDraft
from storage.events.problems import EventProblemKind, InvalidEventError
from storage.events.tables import DateStatus
from storage.lists.mailing_lists import get_list_by_id, get_list_by_slug

# What people need to know before coming, each an optional text field of the same name.
NEED_TO_KNOW = ("accessibility", "refreshments", "cost")
FIELDS = ("key", "list", "title", "venue", "address", "postcode", "meeting_point", "nearest_station", "map",
          "details", *NEED_TO_KNOW, "contact", "capacity", "reminders", "dates")
DATE_FIELDS = ("start", "end", "booked_elsewhere", "cancelled")
LOCAL_FORMAT = "%Y-%m-%d %H:%M"


@dataclasses.dataclass(frozen=True)
class FileProblem:
    """One problem of an events file and where it is: the event's number in the file and its key
    (neither for the file as a whole), and the date's number within the event if it is one date's.
    messages/_event_problem.txt words both."""

    problem: InvalidEventError
    event: int | None = None
    key: str | None = None
    date: int | None = None


class EventsFileError(ValueError):
    def __init__(self, problems: list[FileProblem]) -> None:
        super().__init__(f"{len(problems)} problem(s): " + ", ".join(p.problem.kind.value for p in problems))
        self.problems = problems


def _at(where: FileProblem, kind: EventProblemKind, **details: Any) -> FileProblem:
    return dataclasses.replace(where, problem=InvalidEventError(kind, **details))


def _file_problem(kind: EventProblemKind, **details: Any) -> EventsFileError:
    return EventsFileError([FileProblem(InvalidEventError(kind, **details))])


@dataclasses.dataclass
class EventInFile:
    list_slug: str
    draft: EventDraft
    rules_given: bool
    cancelled_starts: set[dt.datetime]


@dataclasses.dataclass(frozen=True)
class ImportSummary:
    created: int
    updated: int
    dates_added: int


# ------------------------------------------------------------------ reading


class _EventsFileLoader(yaml.SafeLoader):
    """PyYAML's safe loader without anchors and aliases (`&name`, `*name`): an events file has
    no use for them, and a few nested aliases expand to billions of items once the events are
    printed or joined ("billion laughs")."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            raise yaml.composer.ComposerError(None, None, "aliases (*name) are not allowed in an events file",
                                              self.peek_event().start_mark)
        return super().compose_node(parent, index)


def read_events_file(text: str, *, tz: ZoneInfo, now: dt.datetime, default_rules: list[ReminderRule]) -> (
        list[EventInFile]):
    """Every event in the file, checked; raises EventsFileError, and only that, listing every problem."""
    try:
        document = yaml.load(text, Loader=_EventsFileLoader)  # a SafeLoader, see above
    except yaml.YAMLError as error:
        raise _file_problem(EventProblemKind.NOT_YAML, detail=str(error)) from None
    except RecursionError:
        # PyYAML composes nested lists by recursion: '[[[[...' thousands deep exhausts the stack.
        raise _file_problem(EventProblemKind.TOO_DEEP) from None
    if not isinstance(document, dict) or not isinstance(document.get("events"), list):
        raise _file_problem(EventProblemKind.NO_EVENTS_LIST)
    problems: list[FileProblem] = []
    found: list[EventInFile] = []
    keys: set[str] = set()
    for index, entry in enumerate(document["events"], start=1):
        if not isinstance(entry, dict):
            problems.append(FileProblem(InvalidEventError(EventProblemKind.NOT_AN_EVENT), event=index))
            continue
        # Where this event's problems are: each one found replaces the placeholder problem.
        where = FileProblem(InvalidEventError(EventProblemKind.NOT_AN_EVENT), event=index,
                            key=str(entry["key"])[:60] if entry.get("key") else None)
        try:
            item = _read_event(entry, where, tz=tz, now=now, default_rules=default_rules, problems=problems)
        except InvalidEventError as error:
            problems.append(dataclasses.replace(where, problem=error))
            continue
        if item is None:
            continue
        if item.draft.key in keys:
            problems.append(_at(where, EventProblemKind.KEY_TWICE, key=item.draft.key))
        keys.add(item.draft.key)
        found.append(item)
    if problems:
        raise EventsFileError(problems)
    return found


def _text(entry: dict[str, Any], name: str, *, required: bool = False) -> str:
    value = entry.get(name)
    if value is None:
        if required:
            raise InvalidEventError(EventProblemKind.FIELD_MISSING, field=name)
        return ""
    if not isinstance(value, str | int | float):
        raise InvalidEventError(EventProblemKind.FIELD_NOT_TEXT, field=name)
    return str(value).strip()


def _read_event(entry: dict[str, Any], where: FileProblem, *, tz: ZoneInfo, now: dt.datetime,
                default_rules: list[ReminderRule], problems: list[FileProblem]) -> EventInFile | None:
    unknown = set(entry) - set(FIELDS)
    if unknown:
        raise InvalidEventError(EventProblemKind.UNKNOWN_FIELDS, fields=sorted(map(str, unknown)))
    key = _text(entry, "key", required=True)
    latitude = longitude = None
    if entry.get("map") is not None:
        pin = entry["map"]
        if not (isinstance(pin, dict) and set(pin) == {"latitude", "longitude"}):
            raise InvalidEventError(EventProblemKind.MAP_NEEDS_BOTH)
        try:
            latitude, longitude = float(pin["latitude"]), float(pin["longitude"])
        except (TypeError, ValueError, OverflowError):  # float() of a 400-digit integer overflows
            raise InvalidEventError(EventProblemKind.MAP_NEEDS_NUMBERS) from None
    capacity = entry.get("capacity")
    if capacity is not None and (not isinstance(capacity, int) or isinstance(capacity, bool)):
        raise InvalidEventError(EventProblemKind.CAPACITY_NOT_WHOLE)
    rules = default_rules
    rules_given = "reminders" in entry
    if rules_given:
        given = entry["reminders"] or []
        if not isinstance(given, list):  # one rule written without a list, or a number by mistake
            given = [given]
        try:
            rules = parse_reminder_rules("\n".join(str(rule) for rule in given))
        except ReminderRuleProblem as error:
            raise InvalidEventError(EventProblemKind.REMINDER_RULE, rule=error.rule) from None
    dates, cancelled = _read_dates(entry.get("dates"), where, tz=tz, now=now, problems=problems)
    if dates is None:
        return None
    draft = EventDraft(
        list_id=0, title=_text(entry, "title", required=True), venue_name=_text(entry, "venue", required=True),
        address=_text(entry, "address", required=True), postcode=_text(entry, "postcode", required=True),
        meeting_point=_text(entry, "meeting_point"), nearest_station=_text(entry, "nearest_station"),
        latitude=latitude, longitude=longitude, details=_text(entry, "details"), contact=_text(entry, "contact"),
        capacity=capacity, key=key, rules=rules, dates=dates, **{name: _text(entry, name) for name in NEED_TO_KNOW},
    )
    drafts.check_draft(draft)
    return EventInFile(_text(entry, "list", required=True), draft, rules_given, cancelled)


def _read_dates(value: Any, where: FileProblem, *, tz: ZoneInfo, now: dt.datetime,
                problems: list[FileProblem]) -> tuple[list[DateDraft] | None, set[dt.datetime]]:
    if not isinstance(value, list) or not value:
        problems.append(_at(where, EventProblemKind.DATES_MISSING))
        return None, set()
    dates: list[DateDraft] = []
    cancelled: set[dt.datetime] = set()
    ok = True
    for number, item in enumerate(value, start=1):
        place = dataclasses.replace(where, date=number)
        if not isinstance(item, dict) or "start" not in item or "end" not in item:
            problems.append(_at(place, EventProblemKind.DATE_NEEDS_START_AND_END))
            ok = False
            continue
        unknown = set(item) - set(DATE_FIELDS)
        if unknown:
            problems.append(_at(place, EventProblemKind.UNKNOWN_FIELDS, fields=sorted(map(str, unknown))))
            ok = False
            continue
        try:
            starts_at = parse_moment(_moment_text(item["start"]), now=now, tz=tz, allow_past=True)
            ends_at = parse_end(_moment_text(item["end"]), start=starts_at, tz=tz)
        except DateProblem as problem:
            problems.append(_at(place, EventProblemKind.TIME_UNREADABLE, text=problem.text, why=problem.kind.value))
            ok = False
            continue
        except InvalidEventError as error:
            problems.append(dataclasses.replace(place, problem=error))
            ok = False
            continue
        booked = item.get("booked_elsewhere", 0)
        if not isinstance(booked, int) or isinstance(booked, bool) or booked < 0:
            problems.append(_at(place, EventProblemKind.BOOKED_ELSEWHERE_NOT_WHOLE))
            ok = False
            continue
        dates.append(DateDraft(starts_at, ends_at, booked))
        if item.get("cancelled") is True:
            cancelled.add(starts_at)
    return (dates if ok else None), cancelled


def _moment_text(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.strftime(LOCAL_FORMAT)
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML reads an unquoted 14:00 as a number of minutes (sexagesimal); it cannot be trusted.
        raise InvalidEventError(EventProblemKind.TIME_AS_NUMBER)
    if isinstance(value, dt.date):
        raise InvalidEventError(EventProblemKind.DATE_WITHOUT_TIME, value=str(value))
    return str(value)


# ------------------------------------------------------------------ storing


async def import_events(session: AsyncSession, *, items: list[EventInFile], now: dt.datetime,
                        tz: ZoneInfo) -> ImportSummary:
    """Creates new events and updates known ones (by key). Raises EventsFileError, changing
    nothing, if an event names a list that does not exist."""
    missing = []
    for item in items:
        mailing_list = await get_list_by_slug(session, slug=item.list_slug)
        if mailing_list is None:
            missing.append(FileProblem(InvalidEventError(EventProblemKind.NO_SUCH_LIST, slug=item.list_slug),
                                       key=item.draft.key))
        else:
            item.draft.list_id = mailing_list.id
    if missing:
        raise EventsFileError(missing)
    created = updated = added = 0
    for item in items:
        existing = await catalogue.get_event_by_key(session, key=item.draft.key)
        if existing is None:
            event = await catalogue.create_event(session, draft=item.draft, now=now, tz=tz)
            created += 1
        else:
            event = existing
            changes = catalogue.event_fields(item.draft)
            await catalogue.update_event(session, event_id=event.id, changes=changes)
            known = {date.starts_at for date in await catalogue.dates_of(session, event_id=event.id)}
            for date in item.draft.dates:
                if date.starts_at not in known:
                    await catalogue.add_event_date(session, event_id=event.id, date=date, now=now, tz=tz)
                    added += 1
            if item.rules_given:
                await reminders.replace_reminder_rules(session, event_id=event.id, rules=item.draft.rules,
                                                       now=now, tz=tz)
            updated += 1
        if item.cancelled_starts:
            await _cancel_quietly(session, event_id=event.id, starts=item.cancelled_starts, now=now, tz=tz)
    return ImportSummary(created, updated, added)


async def _cancel_quietly(session: AsyncSession, *, event_id: int, starts: set[dt.datetime], now: dt.datetime,
                          tz: ZoneInfo) -> None:
    """Dates marked cancelled in a file: stored as cancelled, nobody told (the file is a record)."""
    for date in await catalogue.dates_of(session, event_id=event_id):
        if date.starts_at in starts and date.status != DateStatus.CANCELLED.value:
            date.status = DateStatus.CANCELLED.value
    await session.flush()
    await reminders.plan_reminders(session, event_id=event_id, now=now, tz=tz)


# ------------------------------------------------------------------ writing


async def export_events(session: AsyncSession, *, tz: ZoneInfo) -> str:
    """Every event as the YAML `import` reads: no RSVPs, no names, nothing about people."""
    out = []
    for event in await catalogue.all_events(session):
        mailing_list = await get_list_by_id(session, list_id=event.list_id)
        entry: dict[str, Any] = {"key": event.key, "list": mailing_list.slug, "title": event.title,
                                 "venue": event.venue_name, "address": event.address, "postcode": event.postcode}
        for name in ("meeting_point", "nearest_station"):
            if getattr(event, name):
                entry[name] = getattr(event, name)
        if event.has_map_pin:
            entry["map"] = {"latitude": event.latitude, "longitude": event.longitude}
        if event.details:
            entry["details"] = event.details
        for name in NEED_TO_KNOW:
            if getattr(event, name):
                entry[name] = getattr(event, name)
        if event.contact:
            entry["contact"] = event.contact
        if event.capacity is not None:
            entry["capacity"] = event.capacity
        entry["reminders"] = [rule.describe() for rule in await catalogue.rules_of(session, event_id=event.id)]
        entry["dates"] = []
        for date in await catalogue.dates_of(session, event_id=event.id):
            item: dict[str, Any] = {"start": date.starts_at.astimezone(tz).strftime(LOCAL_FORMAT),
                                    "end": date.ends_at.astimezone(tz).strftime(LOCAL_FORMAT)}
            if date.booked_elsewhere:
                item["booked_elsewhere"] = date.booked_elsewhere
            if date.status == DateStatus.CANCELLED.value:
                item["cancelled"] = True
            entry["dates"].append(item)
        out.append(entry)
    header = f"# campaign-bot events, times in {tz.key}. Import with: campaign-bot events import FILE.yaml\n"
    return header + yaml.safe_dump({"events": out}, sort_keys=False, allow_unicode=True, width=100)
