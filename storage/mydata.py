"""What /mydata shows: everything stored about one chat, gathered from each subject in one place.

Each subject answers for its own rows (lists, broadcasts, events); this module names them all,
so a reader sees the whole of /mydata here, and a new table that names a chat is added here too
(erasure needs no such list: storage/retention.py finds those tables by their foreign keys to
`chats`). The words are in messages/mydata.html.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.broadcasts.deliveries import messages_received
from storage.broadcasts.tables import BroadcastKind
from storage.events.offers import offers_of_chat
from storage.events.rsvps import answers_of_chat
from storage.events.tables import EventDate, Rsvp
from storage.lists.chats import get_chat
from storage.lists.models import ChatKind, MailingList, Subscription
from storage.lists.organisers import has_organiser_menu


@dataclasses.dataclass(frozen=True)
class EventAnswer:
    title: str
    starts_at: dt.datetime
    status: str  # an RsvpStatus value
    shared_name: str | None


@dataclasses.dataclass(frozen=True)
class PlaceOffered:
    title: str
    starts_at: dt.datetime
    status: str  # an OfferStatus value
    expires_at: dt.datetime


@dataclasses.dataclass(frozen=True)
class ChatData:
    """Everything stored about one chat, for /mydata."""

    telegram_id: int
    kind: str
    active: bool
    first_seen_at: dt.datetime
    subscriptions: list[tuple[MailingList, dt.datetime]]
    alerts_received: int
    reports_received: int
    event_answers: list[EventAnswer]
    places_offered: list[PlaceOffered]
    # What the chat chose about its alerts (storage/lists/alert_settings.py): quiet hours as
    # stored (None: the bot's default; "off"), and the end of a pause.
    quiet_hours: str | None
    paused_until: dt.datetime | None
    # When the retention period began, if the chat is on no list: the later of leaving and the end
    # of the last date it answered (see storage/retention.py); None while it is on a list.
    idle_since: dt.datetime | None = None
    # A private chat the bot gave the organisers' command menu (storage/lists/organisers.py).
    organiser_menu: bool = False
    # The language chosen with /language, or adopted from the Telegram app on joining a list or
    # answering an event (storage/lists/languages.py); None: none stored.
    language: str | None = None

    def erased_after(self, days: int) -> dt.datetime | None:
        """When the retention sweep will erase this chat unless it joins a list or answers an event."""
        return self.idle_since + dt.timedelta(days=days) if self.idle_since is not None else None


async def chat_data(session: AsyncSession, *, telegram_id: int) -> ChatData | None:
    chat = await get_chat(session, telegram_id=telegram_id)
    if chat is None:
        return None
    subscriptions = [
        (mailing_list, since) for mailing_list, since in (await session.execute(
            select(MailingList, Subscription.subscribed_at)
            .join(Subscription, Subscription.list_id == MailingList.id)
            .where(Subscription.chat_id == chat.id).order_by(MailingList.title)
        )).all()
    ]
    received = await messages_received(session, chat_id=chat.id)
    answers = [EventAnswer(*row) for row in await answers_of_chat(session, chat_id=chat.id)]
    offered = [PlaceOffered(*row) for row in await offers_of_chat(session, chat_id=chat.id)]
    idle_since = None
    if not subscriptions and chat.left_at is not None:
        last_answered_end = await session.scalar(
            select(func.max(EventDate.ends_at)).join(Rsvp, Rsvp.event_date_id == EventDate.id)
            .where(Rsvp.chat_id == chat.id)
        )
        idle_since = max(chat.left_at, last_answered_end) if last_answered_end else chat.left_at
    return ChatData(chat.telegram_id, chat.kind, chat.active, chat.first_seen_at, subscriptions,
                    alerts_received=received.get(BroadcastKind.ALERT.value, 0),
                    reports_received=received.get(BroadcastKind.REPORT.value, 0),
                    event_answers=answers, places_offered=offered, quiet_hours=chat.quiet_hours,
                    paused_until=chat.paused_until, idle_since=idle_since,
                    organiser_menu=chat.kind == ChatKind.PRIVATE.value
                    and await has_organiser_menu(session, user_id=chat.telegram_id),
                    language=chat.language)
