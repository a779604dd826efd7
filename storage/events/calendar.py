"""A date of an event as an iCalendar file, for 'Add to calendar'.

Times are written in UTC, which every calendar application converts to the reader's own zone.
The UID stays the same for a date however often it changes, and SEQUENCE counts the changes,
so a calendar that imported the file earlier updates the entry rather than adding another.
"""

from __future__ import annotations

import datetime as dt

from icalendar import Calendar, vGeo
from icalendar import Event as CalendarEvent

from storage.events.tables import DateStatus, Event, EventDate

PRODUCT_ID = "-//campaign-bot//events//EN"


def event_date_ics(event: Event, event_date: EventDate, *, stamp: dt.datetime, domain: str = "campaign-bot") -> bytes:
    calendar = Calendar()
    calendar.add("prodid", PRODUCT_ID)
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    entry = CalendarEvent()
    entry.add("uid", f"event-date-{event_date.id}@{domain}")
    entry.add("dtstamp", stamp.astimezone(dt.UTC))
    entry.add("dtstart", event_date.starts_at.astimezone(dt.UTC))
    entry.add("dtend", event_date.ends_at.astimezone(dt.UTC))
    entry.add("summary", event.title)
    entry.add("location", f"{event.venue_name}, {event.full_address}")
    entry.add("description", _description(event))
    entry.add("sequence", event_date.sequence)
    cancelled = event_date.status == DateStatus.CANCELLED.value
    entry.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    if event.has_map_pin:
        entry.add("geo", vGeo((event.latitude, event.longitude)))
    calendar.add_component(entry)
    return calendar.to_ical()


def _description(event: Event) -> str:
    lines = []
    if event.meeting_point:
        lines.append(f"Meeting point: {event.meeting_point}")
    if event.nearest_station:
        lines.append(f"Nearest station: {event.nearest_station}")
    if event.details:
        lines.append(event.details)
    if event.accessibility:
        lines.append(f"Access: {event.accessibility}")
    if event.refreshments:
        lines.append(f"Food and drink: {event.refreshments}")
    if event.cost:
        lines.append(f"Cost: {event.cost}")
    if event.contact:
        lines.append(f"Contact: {event.contact}")
    return "\n".join(lines)


def ics_filename(event: Event, event_date: EventDate) -> str:
    return f"{event.key}-{event_date.id}.ics"
