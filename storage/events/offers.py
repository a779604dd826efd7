"""Places offered from a waiting list, not assigned: when a place comes free on a full date, the
first person waiting is offered it until a deadline (`Offering.hold` after the offer, never later
than `LAST_CALL` before the start); unclaimed by then, it goes to the next, and the one who let
it pass moves to the end of the waiting list. Within the last `LAST_CALL` everyone waiting is
told at once and the first to take it gets it.

Every offer is a `PlaceOffer` row. It leaves OPEN once, by a conditional UPDATE, under the date's
lock (`lock_date`), so a press, an expiry and another process's sweep cannot both settle it; the
notice that tells someone is a broadcast queued in the same transaction under an origin key of
its own, so it goes out once, and after a restart if a kill came first.

A place held for someone counts as taken (`places_free`), so nobody who presses 'Going' later
jumps the queue: while anyone is waiting, 'Going' joins the waiting list.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Callable

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.broadcasts.status import create_broadcast
from storage.broadcasts.versions import LocalisedText
from storage.events.tables import DateStatus, Event, EventDate, OfferStatus, PlaceOffer, Rsvp, RsvpStatus
from storage.lists import chats
from storage.lists.models import Chat

# Within this long before the start there is no time to offer a place to one person after another.
LAST_CALL = dt.timedelta(hours=2)


@dataclasses.dataclass(frozen=True)
class OfferNotice:
    """What the bot sends with an offer: Telegram HTML, and its button as `Broadcast.buttons`
    keeps them (JSON rows of [label, callback_data])."""

    text: str | LocalisedText  # with `LocalisedText.buttons`, the button in each version's language
    buttons: str


# (event, date, deadline, open to all) -> the notice; composed by the bot (messages/, buttons).
OfferComposer = Callable[[Event, EventDate, dt.datetime, bool], OfferNotice]


@dataclasses.dataclass(frozen=True)
class Offering:
    """How freed places are offered: how long one person has to take a place, and the notice."""

    hold: dt.timedelta
    compose: OfferComposer


class TakeOutcome(enum.StrEnum):
    TAKEN = "taken"
    GONE = "gone"  # no offer open to this chat: it expired, was withdrawn, or someone else was first
    CLOSED = "closed"  # the date was cancelled or has started


async def lock_date(session: AsyncSession, event_date_id: int) -> bool:
    """Takes the date's row lock (PostgreSQL) or the write lock (SQLite) before anything is
    counted, so two answers, presses or expiries about one date queue behind each other."""
    result = await session.execute(
        update(EventDate).where(EventDate.id == event_date_id)
        .values(rsvp_revision=EventDate.rsvp_revision + 1)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def places_free(session: AsyncSession, event: Event, event_date: EventDate) -> int | None:
    """Places nobody has or is being offered alone; None without a limit."""
    if event.capacity is None:
        return None
    going = await session.scalar(select(func.count()).select_from(Rsvp).where(
        Rsvp.event_date_id == event_date.id, Rsvp.status == RsvpStatus.GOING.value))
    held = await session.scalar(select(func.count()).select_from(PlaceOffer).where(
        PlaceOffer.event_date_id == event_date.id, PlaceOffer.status == OfferStatus.OPEN.value,
        PlaceOffer.open_to_all.is_(False)))
    return event.capacity - event_date.booked_elsewhere - (going or 0) - (held or 0)


async def held_places(session: AsyncSession, *, event_date_ids: list[int]) -> dict[int, int]:
    """Per date, the places held for one person each (for the cards' 'places left')."""
    if not event_date_ids:
        return {}
    rows = await session.execute(
        select(PlaceOffer.event_date_id, func.count())
        .where(PlaceOffer.event_date_id.in_(event_date_ids), PlaceOffer.status == OfferStatus.OPEN.value,
               PlaceOffer.open_to_all.is_(False))
        .group_by(PlaceOffer.event_date_id))
    return {row[0]: row[1] for row in rows.all()}


async def anyone_waiting(session: AsyncSession, event_date_id: int) -> bool:
    return await session.scalar(select(Rsvp.chat_id).where(
        Rsvp.event_date_id == event_date_id, Rsvp.status == RsvpStatus.WAITING.value).limit(1)) is not None


async def open_offer(session: AsyncSession, *, event_date_id: int, chat_id: int) -> PlaceOffer | None:
    return await session.scalar(select(PlaceOffer).where(
        PlaceOffer.event_date_id == event_date_id, PlaceOffer.chat_id == chat_id,
        PlaceOffer.status == OfferStatus.OPEN.value).limit(1))


async def _settle(session: AsyncSession, offer_ids: list[int], status: OfferStatus, now: dt.datetime) -> int:
    if not offer_ids:
        return 0
    result = await session.execute(
        update(PlaceOffer).where(PlaceOffer.id.in_(offer_ids), PlaceOffer.status == OfferStatus.OPEN.value)
        .values(status=status.value, settled_at=now).execution_options(synchronize_session=False))
    return result.rowcount or 0


async def withdraw_offers_of(session: AsyncSession, *, event_date_id: int, chat_id: int, now: dt.datetime) -> int:
    """The chat said it can't go: an offer open to it is withdrawn (and its place offered on)."""
    ids = list(await session.scalars(select(PlaceOffer.id).where(
        PlaceOffer.event_date_id == event_date_id, PlaceOffer.chat_id == chat_id,
        PlaceOffer.status == OfferStatus.OPEN.value)))
    return await _settle(session, ids, OfferStatus.WITHDRAWN, now)


async def offer_free_places(session: AsyncSession, *, event: Event, event_date: EventDate, now: dt.datetime,
                            offering: Offering) -> list[int]:
    """Offers every free place to the next on the waiting list (or, within `LAST_CALL` of the
    start, to everyone waiting at once), queueing their notice in this transaction; returns the
    Telegram chat ids told. The caller holds the date's lock (`lock_date`)."""
    if event_date.status == DateStatus.CANCELLED.value or event_date.starts_at <= now:
        return []
    free = await places_free(session, event, event_date)
    if free is not None and free <= 0:
        return []
    has_offer = select(PlaceOffer.chat_id).where(PlaceOffer.event_date_id == event_date.id,
                                                  PlaceOffer.status == OfferStatus.OPEN.value)
    waiting = (select(Rsvp.chat_id)
               .where(Rsvp.event_date_id == event_date.id, Rsvp.status == RsvpStatus.WAITING.value,
                      Rsvp.chat_id.not_in(has_offer))
               .order_by(Rsvp.answered_at, Rsvp.chat_id))
    last_call = event_date.starts_at - LAST_CALL
    open_to_all = now >= last_call
    if open_to_all:
        expires_at = event_date.starts_at
    else:
        expires_at = min(now + offering.hold, last_call)
        if free is not None:
            waiting = waiting.limit(free)
    chat_ids = list(await session.scalars(waiting))
    if not chat_ids:
        return []
    offers = [PlaceOffer(event_date_id=event_date.id, chat_id=chat_id, open_to_all=open_to_all, offered_at=now,
                         expires_at=expires_at) for chat_id in chat_ids]
    session.add_all(offers)
    await session.flush()
    notice = offering.compose(event, event_date, expires_at, open_to_all)
    # The lock bumped the revision in this transaction, so a key with it is this round's alone
    # (row ids are not: SQLite gives an erased offer's id to the next one).
    revision = await session.scalar(select(EventDate.rsvp_revision).where(EventDate.id == event_date.id))
    if open_to_all:
        await _queue_notice(session, event, notice, origin_key=f"offer-all:{event_date.id}:{revision}",
                            chat_ids=chat_ids, now=now)
    else:
        for offer in offers:
            await _queue_notice(session, event, notice, origin_key=f"offer:{event_date.id}:{revision}:{offer.chat_id}",
                                chat_ids=[offer.chat_id], now=now)
    return list(await session.scalars(select(Chat.telegram_id).where(Chat.id.in_(chat_ids), Chat.active.is_(True))))


async def _queue_notice(session: AsyncSession, event: Event, notice: OfferNotice, *, origin_key: str,
                        chat_ids: list[int], now: dt.datetime) -> None:
    # Never refused for its length here (that would undo the answer that freed the place); the
    # engine checks it when sending and reports it if it cannot go.
    broadcast = await create_broadcast(session, list_id=event.list_id, text=notice.text, created_by=None,
                                       origin_key=origin_key, recipient_chat_rows=select(Chat.id).where(
                                           Chat.id.in_(chat_ids)), now=now, check_text=False)
    if broadcast is not None:
        broadcast.buttons = notice.buttons
        await session.flush()


async def take_offer(session: AsyncSession, *, event_date_id: int, telegram_id: int,
                     now: dt.datetime) -> TakeOutcome:
    """'Take the place': the chat's open offer becomes its place, if it is still open to it."""
    if not await lock_date(session, event_date_id):
        return TakeOutcome.CLOSED
    event_date = await session.get(EventDate, event_date_id)
    event = await session.get(Event, event_date.event_id)
    if event_date.status == DateStatus.CANCELLED.value or event_date.starts_at <= now:
        return TakeOutcome.CLOSED
    chat = await chats.get_chat(session, telegram_id=telegram_id)
    answer = None if chat is None else await session.get(Rsvp, (event_date_id, chat.id))
    if answer is not None and answer.status == RsvpStatus.GOING.value:
        return TakeOutcome.TAKEN  # pressed twice, or on the card after taking it: it is theirs
    offer = None if chat is None else await open_offer(session, event_date_id=event_date_id, chat_id=chat.id)
    if offer is None:
        return TakeOutcome.GONE
    if answer is None or answer.status != RsvpStatus.WAITING.value:
        await _settle(session, [offer.id], OfferStatus.WITHDRAWN, now)
        return TakeOutcome.GONE
    if offer.open_to_all:
        free = await places_free(session, event, event_date)
        if free is not None and free <= 0:
            await _settle(session, [offer.id], OfferStatus.WITHDRAWN, now)
            return TakeOutcome.GONE
    if not await _settle(session, [offer.id], OfferStatus.TAKEN, now):
        return TakeOutcome.GONE
    answer.status = RsvpStatus.GOING.value
    await session.flush()
    if offer.open_to_all and (await places_free(session, event, event_date) or 0) <= 0 and event.capacity:
        # The last free place is gone: the others' offers are over (a place freed later is offered again).
        others = list(await session.scalars(select(PlaceOffer.id).where(
            PlaceOffer.event_date_id == event_date_id, PlaceOffer.status == OfferStatus.OPEN.value,
            PlaceOffer.open_to_all.is_(True))))
        await _settle(session, others, OfferStatus.WITHDRAWN, now)
    return TakeOutcome.TAKEN


async def follow_date_change(session: AsyncSession, *, event_date: EventDate, now: dt.datetime) -> None:
    """A date was cancelled (its open offers are withdrawn) or moved (their deadlines keep to the
    new start: never later than `LAST_CALL` before it, open-to-all ones until it)."""
    open_offers = list(await session.scalars(select(PlaceOffer).where(
        PlaceOffer.event_date_id == event_date.id, PlaceOffer.status == OfferStatus.OPEN.value)))
    if event_date.status == DateStatus.CANCELLED.value:
        await _settle(session, [offer.id for offer in open_offers], OfferStatus.WITHDRAWN, now)
        return
    for offer in open_offers:
        if offer.open_to_all:
            offer.expires_at = event_date.starts_at
        else:
            offer.expires_at = max(now, min(offer.expires_at, event_date.starts_at - LAST_CALL))
    await session.flush()


# ------------------------------------------------------------------ expiry, driven by the scheduler


async def due_offer_ids(session: AsyncSession, *, now: dt.datetime, limit: int = 200) -> list[int]:
    query = (select(PlaceOffer.id).where(PlaceOffer.status == OfferStatus.OPEN.value, PlaceOffer.expires_at <= now)
             .order_by(PlaceOffer.expires_at, PlaceOffer.id).limit(limit))
    return list(await session.scalars(query))


async def open_offer_deadlines(session: AsyncSession) -> list[tuple[int, dt.datetime]]:
    """(id, expires_at) of every OPEN offer: the scheduler's jobs."""
    query = select(PlaceOffer.id, PlaceOffer.expires_at).where(PlaceOffer.status == OfferStatus.OPEN.value)
    return [(row[0], row[1]) for row in (await session.execute(query)).all()]


async def expire_offer(session: AsyncSession, *, offer_id: int, now: dt.datetime, offering: Offering) -> list[int]:
    """An OPEN offer whose deadline passed: EXPIRED (once, whoever runs this), the chat it was held
    for moved to the end of the waiting list, and the place offered on. Returns the chat ids told."""
    offer = await session.get(PlaceOffer, offer_id)
    if offer is None or offer.status != OfferStatus.OPEN.value or offer.expires_at > now:
        return []
    await lock_date(session, offer.event_date_id)
    if not await _settle(session, [offer_id], OfferStatus.EXPIRED, now):
        return []  # another process settled it first
    event_date = await session.get(EventDate, offer.event_date_id)
    event = await session.get(Event, event_date.event_id)
    if not offer.open_to_all:
        answer = await session.get(Rsvp, (offer.event_date_id, offer.chat_id))
        if answer is not None and answer.status == RsvpStatus.WAITING.value:
            answer.answered_at = now  # their turn passed: they wait behind everyone else now
            await session.flush()
    return await offer_free_places(session, event=event, event_date=event_date, now=now, offering=offering)


async def offer_places_nobody_was_offered(session: AsyncSession, *, now: dt.datetime,
                                         offering: Offering) -> list[int]:
    """The sweep's safety net: a coming date with a free place and people waiting who hold no
    offer (a place freed by an erasure, by /forget, or outside any answer) offers it now.
    Returns the chat ids told."""
    has_offer = select(PlaceOffer.chat_id).where(PlaceOffer.event_date_id == Rsvp.event_date_id,
                                                  PlaceOffer.status == OfferStatus.OPEN.value)
    candidates = (select(EventDate.id).distinct()
                  .join(Event, Event.id == EventDate.event_id)
                  .join(Rsvp, Rsvp.event_date_id == EventDate.id)
                  .where(Event.capacity.is_not(None), EventDate.starts_at > now,
                         EventDate.status != DateStatus.CANCELLED.value, Rsvp.status == RsvpStatus.WAITING.value,
                         Rsvp.chat_id.not_in(has_offer)))
    told: list[int] = []
    for event_date_id in list(await session.scalars(candidates)):
        event_date = await session.get(EventDate, event_date_id)
        event = await session.get(Event, event_date.event_id)
        if (await places_free(session, event, event_date) or 0) <= 0:
            continue  # full, as most dates with a waiting list are: no lock taken
        await lock_date(session, event_date_id)
        told += await offer_free_places(session, event=event, event_date=event_date, now=now, offering=offering)
    return told


# ------------------------------------------------------------------ what a chat is shown


async def offers_of_chat(session: AsyncSession, *, chat_id: int) -> list[tuple[str, dt.datetime, str, dt.datetime]]:
    """For /mydata: (event title, date's start, offer status, deadline) of every place offered to
    the chat, in the order they were offered."""
    query = (select(Event.title, EventDate.starts_at, PlaceOffer.status, PlaceOffer.expires_at)
             .join(EventDate, EventDate.id == PlaceOffer.event_date_id)
             .join(Event, Event.id == EventDate.event_id)
             .where(PlaceOffer.chat_id == chat_id).order_by(PlaceOffer.offered_at, PlaceOffer.id))
    return [tuple(row) for row in (await session.execute(query)).all()]
