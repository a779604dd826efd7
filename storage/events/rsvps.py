"""Answers per date ('Going', 'Can't go') and the waiting list: a full date puts 'Going' on the
waiting list, and a freed place is offered to the first waiting (`storage.events.offers`), who is
told in the same transaction. Without offering terms (and always for a date with no limit), the
first waiting are let in at once instead."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Callable

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.broadcasts.status import create_broadcast
from storage.broadcasts.versions import LocalisedText
from storage.events import offers
from storage.events.catalogue import dates_of, get_event_date
from storage.events.offers import Offering, lock_date
from storage.events.problems import EventProblemKind, InvalidEventError
from storage.events.tables import DateStatus, Event, EventDate, Rsvp, RsvpStatus
from storage.lists import chats
from storage.lists.languages import adopt_app_language
from storage.lists.models import Chat, ChatKind


class RsvpOutcome(enum.StrEnum):
    GOING = "going"
    WAITING = "waiting"
    NOT_GOING = "not_going"
    CLOSED = "closed"  # cancelled, started or gone: no answers taken


@dataclasses.dataclass(frozen=True)
class RsvpResult:
    outcome: RsvpOutcome
    # Telegram chat ids moved from the waiting list to going, or offered a place (a notice queued for each)
    promoted: list[int]


# Renders the notice to those let in from the waiting list: (event, date) -> Telegram HTML.
PromotionComposer = Callable[[Event, EventDate], str | LocalisedText]


_lock_date = lock_date


async def answer_rsvp(session: AsyncSession, *, event_date_id: int, telegram_id: int, kind: ChatKind,
                      going: bool, now: dt.datetime, compose_promoted: PromotionComposer,
                      offering: Offering | None = None, app_language: str | None = None) -> RsvpResult:
    """'Going' takes a place, or a place on the waiting list when none is free or others wait
    already ('Going' from someone offered a place takes it); 'Can't go' frees the place (or the
    place offered), and it is offered to the next waiting (`offering`) or the first waiting take
    it; their notice is queued in this transaction: the caller wakes the broadcast engine after
    committing. `app_language` is stored with a chat that has no language (storage/lists/languages.py
    `adopt_app_language`)."""
    if not await _lock_date(session, event_date_id):
        return RsvpResult(RsvpOutcome.CLOSED, [])
    found = await get_event_date(session, event_date_id=event_date_id)
    assert found is not None
    event, event_date = found
    if event_date.status == DateStatus.CANCELLED.value or event_date.starts_at <= now:
        return RsvpResult(RsvpOutcome.CLOSED, [])
    chat = await chats.record_chat(session, telegram_id=telegram_id, kind=kind, now=now)
    adopt_app_language(chat, app_language)
    answer = await session.get(Rsvp, (event_date_id, chat.id))
    previous = answer.status if answer is not None else None
    if going:
        if previous == RsvpStatus.WAITING.value and offering is not None:
            taken = await offers.take_offer(session, event_date_id=event_date_id, telegram_id=telegram_id, now=now)
            return RsvpResult(RsvpOutcome.GOING if taken is offers.TakeOutcome.TAKEN else RsvpOutcome.WAITING, [])
        if previous in (RsvpStatus.GOING.value, RsvpStatus.WAITING.value):
            return RsvpResult(RsvpOutcome(previous), [])
        places = await _places_left(session, event, event_date)
        free = places is None or (places > 0 and not await offers.anyone_waiting(session, event_date_id))
        status = RsvpStatus.GOING if free else RsvpStatus.WAITING
    else:
        status = RsvpStatus.NOT_GOING
        if previous == status.value:
            return RsvpResult(RsvpOutcome.NOT_GOING, [])
    if answer is None:
        answer = Rsvp(event_date_id=event_date_id, chat_id=chat.id, status=status.value, answered_at=now)
        session.add(answer)
    else:
        answer.status = status.value
        answer.answered_at = now
    await session.flush()
    promoted = []
    if not going:
        await offers.withdraw_offers_of(session, event_date_id=event_date_id, chat_id=chat.id, now=now)
    if not going or (status is RsvpStatus.WAITING and offering is not None):
        # A place freed is offered on; one joining the list in the last hours hears of any free place.
        promoted = await fill_free_places(session, event=event, event_date=event_date, now=now,
                                          compose_promoted=compose_promoted, offering=offering)
    return RsvpResult(RsvpOutcome(status.value), promoted)


# Places left counting those held for someone offered one.
_places_left = offers.places_free


async def fill_free_places(session: AsyncSession, *, event: Event, event_date: EventDate, now: dt.datetime,
                           compose_promoted: PromotionComposer, offering: Offering | None) -> list[int]:
    """Free places go to the waiting list: offered in turn with `offering` when the date has a
    limit, let in at once otherwise. The caller holds the date's lock."""
    if offering is not None and event.capacity is not None:
        return await offers.offer_free_places(session, event=event, event_date=event_date, now=now,
                                              offering=offering)
    return await promote_waiting(session, event=event, event_date=event_date, now=now, compose=compose_promoted)


async def promote_waiting(session: AsyncSession, *, event: Event, event_date: EventDate, now: dt.datetime,
                          compose: PromotionComposer) -> list[int]:
    """Fills free places from the waiting list, first come first served, and queues their notice
    in the same transaction (so a crash cannot leave someone promoted and never told); returns
    their Telegram chat ids. The caller must hold the date's lock (`_lock_date`)."""
    places = await _places_left(session, event, event_date)
    if places is None:
        query = select(Rsvp).where(Rsvp.event_date_id == event_date.id, Rsvp.status == RsvpStatus.WAITING.value)
    elif places <= 0:
        return []
    else:
        query = (select(Rsvp)
                 .where(Rsvp.event_date_id == event_date.id, Rsvp.status == RsvpStatus.WAITING.value)
                 .order_by(Rsvp.answered_at, Rsvp.chat_id).limit(places))
    promoted = list(await session.scalars(query))
    for answer in promoted:
        answer.status = RsvpStatus.GOING.value
    await session.flush()
    if not promoted:
        return []
    chat_ids = [answer.chat_id for answer in promoted]
    # The lock bumped the revision in this transaction, so the key is this promotion's alone.
    revision = await session.scalar(select(EventDate.rsvp_revision).where(EventDate.id == event_date.id))
    # Never refused for its length here (that would undo the answer that freed the place); the
    # engine checks it when sending and reports it if it cannot go.
    await create_broadcast(session, list_id=event.list_id, text=compose(event, event_date),
                                      created_by=None, origin_key=f"promoted:{event_date.id}:{revision}",
                                      recipient_chat_rows=select(Chat.id).where(Chat.id.in_(chat_ids)), now=now,
                                      check_text=False)
    ids = await session.scalars(select(Chat.telegram_id).where(Chat.id.in_(chat_ids), Chat.active.is_(True)))
    return list(ids)


async def set_booked_elsewhere(session: AsyncSession, *, event_date_id: int, places: int, now: dt.datetime,
                               compose_promoted: PromotionComposer, offering: Offering | None = None) -> list[int]:
    """Places of a date taken outside the bot; fewer of them may let the waiting list in
    (returns the chat ids promoted, whose notice is queued in this transaction)."""
    if places < 0:
        raise InvalidEventError(EventProblemKind.BOOKED_ELSEWHERE_NEGATIVE)
    await _lock_date(session, event_date_id)
    found = await get_event_date(session, event_date_id=event_date_id)
    if found is None:
        raise InvalidEventError(EventProblemKind.NO_SUCH_DATE)
    event, event_date = found
    event_date.booked_elsewhere = places
    await session.flush()
    return await fill_free_places(session, event=event, event_date=event_date, now=now,
                                  compose_promoted=compose_promoted, offering=offering)


async def promote_waiting_everywhere(session: AsyncSession, *, event_id: int, now: dt.datetime,
                                     compose_promoted: PromotionComposer,
                                     offering: Offering | None = None) -> list[tuple[EventDate, list[int]]]:
    """After the capacity changed: each coming date lets in as many waiting people as it now can
    (their notices queued in this transaction)."""
    event = await session.get(Event, event_id)
    promoted = []
    for event_date in await dates_of(session, event_id=event_id):
        if event_date.starts_at <= now or event_date.status == DateStatus.CANCELLED.value:
            continue
        await _lock_date(session, event_date.id)
        chats = await fill_free_places(session, event=event, event_date=event_date, now=now,
                                       compose_promoted=compose_promoted, offering=offering)
        if chats:
            promoted.append((event_date, chats))
    return promoted


async def share_name(session: AsyncSession, *, event_date_id: int, telegram_id: int, name: str) -> bool:
    """The person chose to let organisers see their name on this date's attendance list."""
    chat = await chats.get_chat(session, telegram_id=telegram_id)
    if chat is None:
        return False
    answer = await session.get(Rsvp, (event_date_id, chat.id))
    if answer is None or answer.status == RsvpStatus.NOT_GOING.value:
        return False
    answer.shared_name = name.strip()[:64] or None
    return True


async def waiting_position(session: AsyncSession, *, answer: Rsvp) -> int:
    ahead = await session.scalar(
        select(func.count()).select_from(Rsvp).where(
            Rsvp.event_date_id == answer.event_date_id,
            Rsvp.status == RsvpStatus.WAITING.value,
            or_(Rsvp.answered_at < answer.answered_at,
                and_(Rsvp.answered_at == answer.answered_at, Rsvp.chat_id < answer.chat_id)),
        )
    )
    return (ahead or 0) + 1


async def answers_of_chat(session: AsyncSession, *, chat_id: int) -> list[tuple[str, dt.datetime, str, str | None]]:
    """For /mydata: (event title, date's start, RSVP status, name shared or None) of every answer
    the chat gave, earliest date first."""
    query = (select(Event.title, EventDate.starts_at, Rsvp.status, Rsvp.shared_name)
             .join(EventDate, EventDate.id == Rsvp.event_date_id)
             .join(Event, Event.id == EventDate.event_id)
             .where(Rsvp.chat_id == chat_id).order_by(EventDate.starts_at))
    return [tuple(row) for row in (await session.execute(query)).all()]
