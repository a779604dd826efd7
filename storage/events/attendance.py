"""The attendance file an organiser gets: per date, the counts, and only the names their owners
chose to share."""

from __future__ import annotations

import csv
import dataclasses
import io
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from storage.events import cards
from storage.events.cards import Attendance
from storage.events.tables import Event

COLUMNS = ["start", "status", "going", "waiting", "cant_go", "booked_elsewhere", "places_left", "names_shared"]


@dataclasses.dataclass(frozen=True)
class AttendanceFile:
    event: Event
    filename: str
    content: bytes  # CSV, UTF-8


def attendance_csv(rows: list[Attendance], *, tz: ZoneInfo) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([row.starts_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"), row.status, row.going, row.waiting,
                         row.not_going, row.booked_elsewhere, "" if row.places_left is None else row.places_left,
                         "; ".join(row.shared_names)])
    return out.getvalue()


async def attendance_file(session: AsyncSession, *, event_id: int, tz: ZoneInfo) -> AttendanceFile | None:
    """The event's attendance as a CSV file; None if there is no such event."""
    event = await session.get(Event, event_id)
    if event is None:
        return None
    rows = await cards.attendance(session, event_id=event_id)
    return AttendanceFile(event, f"{event.key}-attendance.csv", attendance_csv(rows, tz=tz).encode("utf-8"))
