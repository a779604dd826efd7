"""The sample data of `campaign-bot try`, made only there: the two sample lists, and an event on
the protests list that starts minutes after the try-out does, with a reminder due a few minutes
in, so that a newcomer sees an event card with its map pin, says they are going, gets the .ics
file and receives a reminder within the first five minutes.

The event is imported as `campaign-bot events import` would (messages/try_sample_events.txt), by
its key: each try-out adds a date a few minutes ahead to the same sample event.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from zoneinfo import ZoneInfo

from messages import render
from storage.db import Database
from storage.events import catalogue, yaml_files
from storage.lists.mailing_lists import create_list, public_lists

DEMO_LISTS = (
    ("protests", "Protests and demos", "Alerts about demonstrations and vigils"),
    ("encounter-groups", "Free encounter groups", "Dates and places of free encounter groups"),
)
SAMPLE_EVENT_KEY = "try-out-sample-event"
# The event starts this long after the try-out does; its reminder is due REMINDER_MINUTES before.
MINUTES_AHEAD = 34
REMINDER_MINUTES = 30
EVENT_MINUTES = 60


@dataclasses.dataclass(frozen=True)
class SampleEvent:
    event_id: int
    starts_at: dt.datetime
    reminder_due_at: dt.datetime


async def seed_demo_lists(db: Database) -> None:
    async with db.transaction() as session:
        if await public_lists(session):
            return
        for slug, title, description in DEMO_LISTS:
            await create_list(session, slug=slug, title=title, description=description)


async def seed_sample_event(db: Database, *, now: dt.datetime, tz: ZoneInfo) -> SampleEvent | None:
    """The sample event with a date MINUTES_AHEAD from `now`; None when the try-out runs on a
    database whose lists are not the sample ones (no 'protests' list to put it on)."""
    local_start = (now + dt.timedelta(minutes=MINUTES_AHEAD)).astimezone(tz).replace(second=0, microsecond=0)
    local_end = local_start + dt.timedelta(minutes=EVENT_MINUTES)
    text = render("try_sample_events.txt", key=SAMPLE_EVENT_KEY, minutes_ahead=MINUTES_AHEAD,
                  reminder_minutes=REMINDER_MINUTES, start=local_start.strftime(yaml_files.LOCAL_FORMAT),
                  end=local_end.strftime(yaml_files.LOCAL_FORMAT))
    try:
        # Refused only on the night the clocks change, at a time that happens twice.
        items = yaml_files.read_events_file(text, tz=tz, now=now, default_rules=[])
        async with db.transaction() as session:
            await yaml_files.import_events(session, items=items, now=now, tz=tz)
            event = await catalogue.get_event_by_key(session, key=SAMPLE_EVENT_KEY)
    except yaml_files.EventsFileError:
        return None
    assert event is not None and event.id is not None
    starts_at = local_start.astimezone(dt.UTC)
    return SampleEvent(event.id, starts_at, starts_at - dt.timedelta(minutes=REMINDER_MINUTES))
