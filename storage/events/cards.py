"""What people and organisers are shown of events: a date's card (with the counts that may be
shown and the chat's own answer), which dates a chat may see, and the attendance per date."""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.events.catalogue import dates_of
from storage.events.offers import held_places, open_offer
from storage.events.rsvps import waiting_position
from storage.events.tables import DateStatus, Event, EventDate, PlaceOffer, Reminder, Rsvp, RsvpStatus
from storage.lists import chats
from storage.lists.models import Chat, MailingList, Subscription


@dataclasses.dataclass(frozen=True)
class DateCard:
    """One date of an event as a person sees it, with the counts that may be shown."""

    event: Event
    date: EventDate
    list_title: str
    going: int
    waiting: int
    not_going: int
    my_status: str | None
    my_waiting_position: int | None
    reminders: dict[str, int]
    # Places held for someone on the waiting list who was offered one: not free for anyone else.
    held: int = 0
    # The place offered to this chat, while the offer is open.
    my_offer: PlaceOffer | None = None

    @property
    def places_left(self) -> int | None:
        if self.event.capacity is None:
            return None
        return max(0, self.event.capacity - self.date.booked_elsewhere - self.going - self.held)

    @property
    def fully_booked(self) -> bool:
        return self.places_left == 0

    @property
    def cancelled(self) -> bool:
        return self.date.status == DateStatus.CANCELLED.value

    @property
    def changed(self) -> bool:
        return self.date.status == DateStatus.CHANGED.value


async def upcoming_cards(session: AsyncSession, *, telegram_id: int, now: dt.datetime, everything: bool = False,
                         limit: int = 10) -> list[DateCard]:
    """The coming dates (not yet ended, not cancelled) of events on the chat's lists and those it
    answered; with `everything` (organisers) the coming dates of every event."""
    chat = await chats.get_chat(session, telegram_id=telegram_id)
    query = (
        select(Event, EventDate, MailingList.title)
        .join(EventDate, EventDate.event_id == Event.id)
        .join(MailingList, MailingList.id == Event.list_id)
        .where(EventDate.ends_at > now, EventDate.status != DateStatus.CANCELLED.value)
        .order_by(EventDate.starts_at, EventDate.id)
        .limit(limit)
    )
    if not everything:
        if chat is None:
            return []
        on_lists = select(Subscription.list_id).where(Subscription.chat_id == chat.id)
        answered = select(Rsvp.event_date_id).where(Rsvp.chat_id == chat.id)
        query = query.where(or_(Event.list_id.in_(on_lists), EventDate.id.in_(answered)))
    rows = (await session.execute(query)).all()
    return await _cards(session, rows, chat)


async def card_for(session: AsyncSession, *, event_date_id: int, telegram_id: int) -> DateCard | None:
    query = (
        select(Event, EventDate, MailingList.title)
        .join(EventDate, EventDate.event_id == Event.id)
        .join(MailingList, MailingList.id == Event.list_id)
        .where(EventDate.id == event_date_id)
    )
    rows = (await session.execute(query)).all()
    chat = await chats.get_chat(session, telegram_id=telegram_id)
    cards = await _cards(session, rows, chat)
    return cards[0] if cards else None


async def _cards(session: AsyncSession, rows, chat: Chat | None) -> list[DateCard]:
    date_ids = [row[1].id for row in rows]
    if not date_ids:
        return []
    counts: dict[int, dict[str, int]] = {date_id: {} for date_id in date_ids}
    for date_id, status, count in (await session.execute(
        select(Rsvp.event_date_id, Rsvp.status, func.count()).where(Rsvp.event_date_id.in_(date_ids))
        .group_by(Rsvp.event_date_id, Rsvp.status)
    )).all():
        counts[date_id][status] = count
    reminders: dict[int, dict[str, int]] = {date_id: {} for date_id in date_ids}
    for date_id, status, count in (await session.execute(
        select(Reminder.event_date_id, Reminder.status, func.count()).where(Reminder.event_date_id.in_(date_ids))
        .group_by(Reminder.event_date_id, Reminder.status)
    )).all():
        reminders[date_id][status] = count
    held = await held_places(session, event_date_ids=date_ids)
    mine: dict[int, Rsvp] = {}
    if chat is not None:
        answers = await session.scalars(select(Rsvp).where(Rsvp.chat_id == chat.id, Rsvp.event_date_id.in_(date_ids)))
        mine = {answer.event_date_id: answer for answer in answers}
    cards = []
    for event, event_date, list_title in rows:
        answer = mine.get(event_date.id)
        position = offer = None
        if answer is not None and answer.status == RsvpStatus.WAITING.value:
            position = await waiting_position(session, answer=answer)
            offer = await open_offer(session, event_date_id=event_date.id, chat_id=answer.chat_id)
        tally = counts[event_date.id]
        cards.append(DateCard(
            event=event, date=event_date, list_title=list_title,
            going=tally.get(RsvpStatus.GOING.value, 0), waiting=tally.get(RsvpStatus.WAITING.value, 0),
            not_going=tally.get(RsvpStatus.NOT_GOING.value, 0), my_status=answer.status if answer else None,
            my_waiting_position=position, reminders=reminders[event_date.id], held=held.get(event_date.id, 0),
            my_offer=offer,
        ))
    return cards


async def chat_may_see_event_date(session: AsyncSession, *, event_date_id: int, telegram_id: int) -> bool:
    """Whether the chat may be shown the date (and answer it): its event is on a public list or on
    a list the chat is on, or the chat answered the date already (so that someone who has left
    the list can still free their place). False for a date that does not exist."""
    chat = await chats.get_chat(session, telegram_id=telegram_id)
    conditions = [MailingList.public.is_(True)]
    if chat is not None:
        conditions.append(Event.list_id.in_(select(Subscription.list_id).where(Subscription.chat_id == chat.id)))
        conditions.append(EventDate.id.in_(select(Rsvp.event_date_id).where(Rsvp.chat_id == chat.id)))
    query = (
        select(EventDate.id)
        .join(Event, Event.id == EventDate.event_id)
        .join(MailingList, MailingList.id == Event.list_id)
        .where(EventDate.id == event_date_id, or_(*conditions))
    )
    return await session.scalar(query) is not None


@dataclasses.dataclass(frozen=True)
class Attendance:
    starts_at: dt.datetime
    status: str
    going: int
    waiting: int
    not_going: int
    booked_elsewhere: int
    places_left: int | None
    shared_names: list[str]


async def attendance(session: AsyncSession, *, event_id: int) -> list[Attendance]:
    """Per date: counts, and the names of those who chose to share theirs. Nothing else."""
    event = await session.get(Event, event_id)
    rows = []
    for event_date in await dates_of(session, event_id=event_id):
        tally = dict((await session.execute(
            select(Rsvp.status, func.count()).where(Rsvp.event_date_id == event_date.id).group_by(Rsvp.status)
        )).all())
        names = list(await session.scalars(
            select(Rsvp.shared_name).where(Rsvp.event_date_id == event_date.id, Rsvp.shared_name.is_not(None),
                                           Rsvp.status == RsvpStatus.GOING.value).order_by(Rsvp.shared_name)
        ))
        going = tally.get(RsvpStatus.GOING.value, 0)
        held = (await held_places(session, event_date_ids=[event_date.id])).get(event_date.id, 0)
        places = (None if event.capacity is None
                  else max(0, event.capacity - event_date.booked_elsewhere - going - held))
        rows.append(Attendance(event_date.starts_at, event_date.status, going, tally.get(RsvpStatus.WAITING.value, 0),
                               tally.get(RsvpStatus.NOT_GOING.value, 0), event_date.booked_elsewhere, places, names))
    return rows
