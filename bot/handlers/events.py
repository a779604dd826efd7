"""Events: /events and the buttons under its cards for everyone; /cancelevent for organisers.

Event cards, map pins, calendar and attendance files are direct replies; reminders and notices
to many people go through the broadcast engine, from storage.events. The /newevent and
/editevent conversations are in `bot.handlers.event_conversations`.
"""

from __future__ import annotations

import functools
import logging

from telegram import InputFile, Update
from telegram.error import BadRequest, Forbidden
from telegram.ext import ContextTypes

from bot.engines.reminders import compose_cancelled, compose_promoted
from bot.handlers.callback_data import (
    Attendees,
    CalendarFile,
    CancelAnswer,
    CancelPick,
    EditDate,
    Family,
    RsvpAnswer,
    ShareName,
    TakePlace,
)
from bot.handlers.common import Handler, asker_is_organiser, chat_kind, is_private
from bot.handlers.fallbacks import stale_button
from bot.handlers.languages import adoptable_language
from bot.services import Services, services_of
from bot.telegram_io.replies import Keyboard, edit_or_reply, label, reply
from messages import render
from messages.formatting import short_day
from storage.events import cards, catalogue, notices, offers, problems, rsvps
from storage.events.attendance import attendance_file
from storage.events.calendar import event_date_ics, ics_filename
from storage.events.cards import DateCard
from storage.events.rsvps import RsvpOutcome
from storage.events.tables import Event, EventDate
from storage.lists.subscriptions import lists_of_chat

logger = logging.getLogger(__name__)


async def private_only(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/newevent, /editevent or /cancelevent in a group: organisers' work happens in a private chat."""
    await reply(update, "event_private_only.html")


async def organiser_view(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    """Organisers see every event and its counts in their private chat; a group sees what a
    supporter sees, whoever asks there."""
    return is_private(update) and await asker_is_organiser(update, context)


def visible_dates_only(family: type[Family], callback: Handler) -> Handler:
    """For a button of `family`, whose data names an event date (`event_date_id`): runs `callback`
    only when the pressing chat may see that date (`storage.events.cards.chat_may_see_event_date`,
    or an organiser's private chat); otherwise answers exactly as an unknown button, and changes
    nothing. A forged or old button thus neither reads nor joins an event the chat was never shown."""

    @functools.wraps(callback)
    async def checked(update: Update, context: ContextTypes.DEFAULT_TYPE) -> object:
        date_id = family.parse(update.callback_query.data).event_date_id
        if not await organiser_view(update, context):
            async with services_of(context).db.transaction() as session:
                visible = await cards.chat_may_see_event_date(session, event_date_id=date_id,
                                                               telegram_id=update.effective_chat.id)
            if not visible:
                await stale_button(update, context)
                return None
        return await callback(update, context)

    return checked


def card_buttons(card: DateCard, *, private: bool, organiser: bool) -> Keyboard:
    """The buttons under a card; in a group, whoever asked, those a supporter gets there."""
    organiser = organiser and private
    date_id = card.date.id
    rows: Keyboard = []
    if private and card.my_offer is not None:
        rows.append([(label("event_take_place"), TakePlace.build(date_id))])
    if private:
        rows.append([(label("event_going"), RsvpAnswer.build("going", date_id)),
                     (label("event_cant_go"), RsvpAnswer.build("no", date_id))])
    rows.append([(label("event_calendar"), CalendarFile.build(date_id))])
    if private and card.my_status in ("going", "waiting"):
        rows.append([(label("event_share_name"), ShareName.build(date_id))])
    if organiser:
        rows.append([(label("event_attendees"), Attendees.build(card.event.id))])
    return rows


async def _send_card(update: Update, services: Services, card: DateCard, *, organiser: bool) -> None:
    event = card.event
    if event.has_map_pin:
        await update.effective_chat.send_venue(latitude=event.latitude, longitude=event.longitude,
                                               title=event.venue_name, address=event.full_address)
    await reply(update, "event_card.html", card=card, tz=services.settings.tz, organiser=organiser,
                buttons=card_buttons(card, private=is_private(update), organiser=organiser))


async def show_events(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/events: the coming dates of the chat's lists (every event, with counts, for organisers)."""
    services = services_of(context)
    organiser = await organiser_view(update, context)
    async with services.db.transaction() as session:
        date_cards = await cards.upcoming_cards(session, telegram_id=update.effective_chat.id,
                                                now=services.clock.now(), everything=organiser)
        on_no_list = not await lists_of_chat(session, telegram_id=update.effective_chat.id)
    if not date_cards:
        await reply(update, "event_none.html", on_no_list=on_no_list and not organiser)
        return
    for card in date_cards:
        await _send_card(update, services, card, organiser=organiser)


async def rsvp_pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """'Going' or 'Can't go' under a card: answer, redraw the card, tell anyone let in from the waiting list."""
    query = update.callback_query
    await query.answer()
    if not is_private(update):
        await reply(update, "event_rsvp_private.html")
        return
    pressed = RsvpAnswer.parse(query.data)
    services = services_of(context)
    app_language = adoptable_language(update)
    async with services.db.transaction() as session:
        result = await rsvps.answer_rsvp(session, event_date_id=pressed.event_date_id,
                                          telegram_id=update.effective_chat.id, kind=chat_kind(update),
                                          going=pressed.answer == "going", now=services.clock.now(),
                                          compose_promoted=compose_promoted(services.settings.tz),
                                          offering=services.offering, app_language=app_language)
    if app_language is not None:
        services.languages.changed(update.effective_chat.id)  # it may have been stored with the answer
    if result.promoted:
        services.broadcaster.wake()
    await services.reminders.follow_offers()
    if result.outcome is RsvpOutcome.CLOSED:
        await reply(update, "event_rsvp_closed.html")
        return
    await _redraw_card(update, context, pressed.event_date_id)


async def _redraw_card(update: Update, context: ContextTypes.DEFAULT_TYPE, event_date_id: int) -> None:
    services = services_of(context)
    async with services.db.transaction() as session:
        card = await cards.card_for(session, event_date_id=event_date_id, telegram_id=update.effective_chat.id)
    organiser = await organiser_view(update, context)
    await edit_or_reply(update, "event_card.html", card=card, tz=services.settings.tz, organiser=organiser,
                        buttons=card_buttons(card, private=True, organiser=organiser))


async def take_place_pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """'Take the place' under an offer (or a card): the place is theirs if it is still open to them."""
    query = update.callback_query
    await query.answer()
    if not is_private(update):
        await reply(update, "event_rsvp_private.html")
        return
    services = services_of(context)
    async with services.db.transaction() as session:
        outcome = await offers.take_offer(session, event_date_id=TakePlace.parse(query.data).event_date_id,
                                          telegram_id=update.effective_chat.id, now=services.clock.now())
    await services.reminders.follow_offers()
    await reply(update, "event_take_result.html", outcome=outcome.value)


async def calendar_pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """'Add to calendar': the date as an .ics file."""
    query = update.callback_query
    await query.answer()
    services = services_of(context)
    async with services.db.transaction() as session:
        found = await catalogue.get_event_date(session, event_date_id=CalendarFile.parse(query.data).event_date_id)
    if found is None:
        await reply(update, "event_rsvp_closed.html")
        return
    event, event_date = found
    content = event_date_ics(event, event_date, stamp=services.clock.now())
    await update.effective_chat.send_document(InputFile(content, filename=ics_filename(event, event_date)),
                                              caption=render("event_ics_caption.html", title=event.title))


async def share_name_pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    await query.answer()
    services = services_of(context)
    name = update.effective_user.first_name if update.effective_user else ""
    async with services.db.transaction() as session:
        shared = await rsvps.share_name(session, event_date_id=ShareName.parse(query.data).event_date_id,
                                         telegram_id=update.effective_chat.id, name=name)
    await reply(update, "event_name_shared.html", shared=shared, name=name)


async def attendees_pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Counts per date as CSV, with only the names their owners chose to share; always to the
    organiser's private chat, so a press in a group (an old card, a forged button) posts nothing
    there but, if the bot may not write to them privately, a pointer to ask in a private chat."""
    query = update.callback_query
    services = services_of(context)
    async with services.db.transaction() as session:
        found = await attendance_file(session, event_id=Attendees.parse(query.data).event_id,
                                      tz=services.settings.tz)
    if found is None:
        await stale_button(update, context)
        return
    document = InputFile(found.content, filename=found.filename)
    caption = render("event_attendees_caption.html", event=found.event)
    if is_private(update):
        await query.answer()
        await update.effective_chat.send_document(document, caption=caption)
        return
    try:
        await context.bot.send_document(update.effective_user.id, document, caption=caption)
    except (Forbidden, BadRequest) as error:
        # Forbidden: they never started a private chat, or blocked the bot; "chat not found" alike.
        if isinstance(error, BadRequest) and "chat not found" not in error.message.lower():
            raise
        await query.answer()
        await reply(update, "event_attendees_ask_privately.html")
        return
    await query.answer(render("event_attendees_sent_privately.txt"))


# ------------------------------------------------------------------ /cancelevent


async def coming_dates_buttons(update: Update, context: ContextTypes.DEFAULT_TYPE,
                               family: type[CancelPick] | type[EditDate]) -> Keyboard:
    """A button for each coming date of every event (the pick lists of /cancelevent and /editevent)."""
    services = services_of(context)
    async with services.db.transaction() as session:
        date_cards = await cards.upcoming_cards(session, telegram_id=update.effective_chat.id,
                                                now=services.clock.now(), everything=True, limit=30)
    tz = services.settings.tz
    # In the language of the chat being answered, like the label around it.
    return [[(label("event_pick", title=card.event.title, when=short_day(card.date.starts_at, tz)),
              family.build(card.date.id))]
            for card in date_cards]


async def picked_date(update: Update, context: ContextTypes.DEFAULT_TYPE, family: type[CancelPick] | type[EditDate],
                      ) -> tuple[int, tuple[Event, EventDate] | None]:
    """A date pressed in a pick list (/cancelevent's or /editevent's), answered at once: its id,
    and the event and date as stored (None if it is gone meanwhile)."""
    query = update.callback_query
    await query.answer()
    date_id = family.parse(query.data).event_date_id
    async with services_of(context).db.transaction() as session:
        return date_id, await catalogue.get_event_date(session, event_date_id=date_id)


async def cancel_event(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/cancelevent: pick a date, confirm, and everyone concerned is told."""
    buttons = await coming_dates_buttons(update, context, CancelPick)
    await reply(update, "event_pick.html", action="cancel", dates=buttons, buttons=buttons)


async def cancel_picked(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    date_id, found = await picked_date(update, context, CancelPick)
    services = services_of(context)
    if found is None:
        await edit_or_reply(update, "event_cancel_done.html", change=None, tz=services.settings.tz)
        return
    await edit_or_reply(update, "event_cancel_confirm.html", event=found[0], date=found[1], tz=services.settings.tz,
                        buttons=[[(label("event_cancel_yes"), CancelAnswer.build("yes", date_id)),
                                  (label("event_cancel_no"), CancelAnswer.build("no", date_id))]])


async def cancel_answered(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    await query.answer()
    pressed = CancelAnswer.parse(query.data)
    if pressed.answer != "yes":
        await edit_or_reply(update, "event_cancel_kept.html")
        return
    services = services_of(context)
    tz = services.settings.tz
    try:
        async with services.db.transaction() as session:
            change = await notices.cancel_event_date(session, event_date_id=pressed.event_date_id,
                                                    now=services.clock.now(), compose=compose_cancelled(tz))
    except problems.NoticeNotComposable as problem:
        logger.warning("event date %s was not cancelled: its notice cannot be composed", pressed.event_date_id)
        await edit_or_reply(update, "event_notice_impossible.html", problem=problem)
        return
    if change is not None and change.told:
        services.broadcaster.wake()
        await services_of(context).reminders.replan(event_id=change.event.id)
    await edit_or_reply(update, "event_cancel_done.html", change=change, tz=tz)
