"""An event being put together in /newevent, before it is published: what its summary shows."""

from __future__ import annotations

import dataclasses
import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from storage.events.drafts import DateDraft, EventDraft
from storage.lists.mailing_lists import get_list_by_id


@dataclasses.dataclass(frozen=True)
class DraftSummary:
    list_title: str
    dates: list[DateDraft]  # in order
    first_due: list[dt.datetime]  # when each reminder of the first date goes out


async def summarise_draft(session: AsyncSession, *, draft: EventDraft, tz: ZoneInfo) -> DraftSummary:
    mailing_list = await get_list_by_id(session, list_id=draft.list_id)
    dates = sorted(draft.dates, key=lambda item: item.starts_at)
    first_due = [rule.due_at(dates[0].starts_at, tz) for rule in draft.rules]
    return DraftSummary(mailing_list.title if mailing_list is not None else "", dates, first_due)
