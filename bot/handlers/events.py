"""Events: /events and its buttons for everyone; /newevent, /editevent and /cancelevent for organisers.

/newevent and /editevent are conversations (python-telegram-bot's ConversationHandler); the
draft lives in the organiser's user_data until it is published. Event cards, map pins and
calendar files are direct replies; reminders and notices to many people go through the
broadcast engine, from storage.events.events.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import io
import logging
import warnings

from telegram import InputFile, Update
from telegram.constants import ChatType
from telegram.error import BadRequest, Forbidden
from telegram.ext import (
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    ConversationHandler,
    MessageHandler,
    filters,
)

from bot.engines.reminders import compose_cancelled, compose_moved, compose_promoted
from bot.handlers.common import ROW_ID, Handler, asker_is_organiser, chat_kind
from bot.handlers.fallbacks import stale_button
from bot.services import Services, services_of
from bot.telegram_io.replies import Keyboard, edit_or_reply, label, reply
from messages import render
from storage.dates import DateProblem, parse_end, parse_moment, parse_reminder_rules
from storage.events import events
from storage.events.calendar import event_date_ics, ics_filename
from storage.events.events import DateCard, DateDraft, EventDraft, InvalidEventError, RsvpOutcome
from storage.lists import subscriptions

(NEW_LIST, NEW_TITLE, NEW_START, NEW_END, NEW_MORE_DATES, NEW_VENUE, NEW_ADDRESS, NEW_MEETING_POINT, NEW_STATION,
 NEW_MAP, NEW_DETAILS, NEW_CONTACT, NEW_CAPACITY, NEW_CONFIRM) = range(14)
EDIT_PICK, EDIT_FIELD, EDIT_VALUE = range(100, 103)
SKIP_WORDS = {"skip", "-", "none", "no", "n/a"}
logger = logging.getLogger(__name__)
DRAFT_KEY = "new_event"
START_KEY = "new_event_start"  # the start of the date being entered, until its end is given
EDIT_KEY = "edit_event"
# What an organiser's half-finished conversations keep in user_data; dropped when they are refused.
DRAFT_KEYS = (DRAFT_KEY, START_KEY, EDIT_KEY)
EDITABLE = ("time", "title", "venue_name", "address", "meeting_point", "nearest_station", "map", "details",
            "contact", "capacity", "booked_elsewhere", "reminders")
OPTIONAL_TEXT = ("meeting_point", "nearest_station", "details", "contact")
CONVERSATION_SECONDS = 3600


def _is_private(update: Update) -> bool:
    return update.effective_chat is not None and update.effective_chat.type == ChatType.PRIVATE


def _text(update: Update) -> str:
    return (update.effective_message.text or "").strip()


def _skipped(text: str) -> bool:
    return text.lower() in SKIP_WORDS


def _tell_promoted(services: Services, chat_ids: list[int]) -> None:
    """Those let in from the waiting list have their notice queued with the promotion (in the
    same transaction); after the commit the engine is woken to send it."""
    if chat_ids:
        services.broadcaster.wake()


async def private_only(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/newevent, /editevent or /cancelevent in a group: organisers' work happens in a private chat."""
    await reply(update, "event_private_only.html")


# ------------------------------------------------------------------ /events and its buttons


async def organiser_view(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    """Organisers see every event and its counts in their private chat; a group sees what a
    supporter sees, whoever asks there."""
    return _is_private(update) and await asker_is_organiser(update, context)


def visible_dates_only(callback: Handler) -> Handler:
    """For a button whose data ends in an event date's id: runs `callback` only when the pressing
    chat may see that date (`storage.events.events.chat_may_see_event_date`, or an organiser's private
    chat); otherwise answers exactly as an unknown button, and changes nothing. A forged or old
    button thus neither reads nor joins an event the chat was never shown."""

    @functools.wraps(callback)
    async def checked(update: Update, context: ContextTypes.DEFAULT_TYPE) -> object:
        date_id = int(update.callback_query.data.rsplit(":", 1)[1])
        if not await organiser_view(update, context):
            async with services_of(context).db.transaction() as session:
                visible = await events.chat_may_see_event_date(session, event_date_id=date_id,
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
    if private:
        rows.append([(label("event_going"), f"rsvp:going:{date_id}"), (label("event_cant_go"), f"rsvp:no:{date_id}")])
    rows.append([(label("event_calendar"), f"ics:{date_id}")])
    if private and card.my_status in ("going", "waiting"):
        rows.append([(label("event_share_name"), f"rsvp:name:{date_id}")])
    if organiser:
        rows.append([(label("event_attendees"), f"attendees:{card.event.id}")])
    return rows


async def _send_card(update: Update, services: Services, card: DateCard, *, organiser: bool) -> None:
    event = card.event
    if event.has_map_pin:
        await update.effective_chat.send_venue(latitude=event.latitude, longitude=event.longitude,
                                               title=event.venue_name, address=event.full_address)
    await reply(update, "event_card.html", card=card, tz=services.settings.tz, organiser=organiser,
                buttons=card_buttons(card, private=_is_private(update), organiser=organiser))


async def show_events(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/events: the coming dates of the chat's lists (every event, with counts, for organisers)."""
    services = services_of(context)
    organiser = await organiser_view(update, context)
    async with services.db.transaction() as session:
        cards = await events.upcoming_cards(session, telegram_id=update.effective_chat.id,
                                            now=services.clock.now(), everything=organiser)
        on_no_list = not await subscriptions.lists_of_chat(session, telegram_id=update.effective_chat.id)
    if not cards:
        await reply(update, "event_none.html", on_no_list=on_no_list and not organiser)
        return
    for card in cards:
        await _send_card(update, services, card, organiser=organiser)


async def rsvp_pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """'Going' or 'Can't go' under a card: answer, redraw the card, tell anyone let in from the waiting list."""
    query = update.callback_query
    await query.answer()
    if not _is_private(update):
        await reply(update, "event_rsvp_private.html")
        return
    _, choice, date_id = query.data.split(":")
    services = services_of(context)
    async with services.db.transaction() as session:
        result = await events.answer_rsvp(session, event_date_id=int(date_id), telegram_id=update.effective_chat.id,
                                          kind=chat_kind(update), going=choice == "going", now=services.clock.now(),
                                          compose_promoted=compose_promoted(services.settings.tz))
    _tell_promoted(services, result.promoted)
    if result.outcome is RsvpOutcome.CLOSED:
        await reply(update, "event_rsvp_closed.html")
        return
    async with services.db.transaction() as session:
        card = await events.card_for(session, event_date_id=int(date_id), telegram_id=update.effective_chat.id)
    organiser = await organiser_view(update, context)
    await edit_or_reply(update, "event_card.html", card=card, tz=services.settings.tz, organiser=organiser,
                        buttons=card_buttons(card, private=True, organiser=organiser))


async def calendar_pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """'Add to calendar': the date as an .ics file."""
    query = update.callback_query
    await query.answer()
    services = services_of(context)
    async with services.db.transaction() as session:
        found = await events.get_event_date(session, event_date_id=int(query.data.split(":")[1]))
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
        shared = await events.share_name(session, event_date_id=int(query.data.split(":")[2]),
                                         telegram_id=update.effective_chat.id, name=name)
    await reply(update, "event_name_shared.html", shared=shared, name=name)


async def attendees_pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Counts per date as CSV, with only the names their owners chose to share; always to the
    organiser's private chat, so a press in a group (an old card, a forged button) posts nothing
    there but, if the bot may not write to them privately, a pointer to ask in a private chat."""
    query = update.callback_query
    services = services_of(context)
    event_id = int(query.data.split(":")[1])
    async with services.db.transaction() as session:
        event = await session.get(events.Event, event_id)
        rows = await events.attendance(session, event_id=event_id) if event is not None else []
    if event is None:
        await stale_button(update, context)
        return
    document = InputFile(_attendance_csv(rows, services).encode("utf-8"), filename=f"{event.key}-attendance.csv")
    caption = render("event_attendees_caption.html", event=event)
    if _is_private(update):
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


def _attendance_csv(rows: list[events.Attendance], services: Services) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["start", "status", "going", "waiting", "cant_go", "booked_elsewhere", "places_left",
                     "names_shared"])
    tz = services.settings.tz
    for row in rows:
        writer.writerow([row.starts_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"), row.status, row.going, row.waiting,
                         row.not_going, row.booked_elsewhere, "" if row.places_left is None else row.places_left,
                         "; ".join(row.shared_names)])
    return out.getvalue()


# ------------------------------------------------------------------ /newevent


@dataclasses.dataclass
class NewEvent:
    """What the organiser has said so far."""

    list_id: int | None = None
    list_title: str = ""
    title: str = ""
    dates: list[DateDraft] = dataclasses.field(default_factory=list)
    venue_name: str = ""
    address: str = ""
    postcode: str = ""
    meeting_point: str = ""
    nearest_station: str = ""
    latitude: float | None = None
    longitude: float | None = None
    details: str = ""
    contact: str = ""
    capacity: int | None = None


def _draft(context: ContextTypes.DEFAULT_TYPE) -> NewEvent:
    return context.user_data.setdefault(DRAFT_KEY, NewEvent())


async def _ask(update: Update, step: str, /, *, buttons: Keyboard | None = None, **context: object) -> None:
    await reply(update, "event_ask.html", step=step, buttons=buttons, **context)


async def new_event(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """/newevent: starts the guided conversation."""
    context.user_data[DRAFT_KEY] = draft = NewEvent()
    async with services_of(context).db.transaction() as session:
        lists = await subscriptions.public_lists(session)
    if not lists:
        await reply(update, "event_no_lists.html")
        return ConversationHandler.END
    if len(lists) == 1:
        draft.list_id, draft.list_title = lists[0].id, lists[0].title
        await _ask(update, "title", list_title=draft.list_title)
        return NEW_TITLE
    await _ask(update, "list", buttons=[[(label("event_list", title=item.title), f"newevent:list:{item.id}")]
                                        for item in lists])
    return NEW_LIST


async def list_chosen(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    query = update.callback_query
    await query.answer()
    async with services_of(context).db.transaction() as session:
        mailing_list = await subscriptions.get_list_by_id(session, list_id=int(query.data.split(":")[2]))
    if mailing_list is None:
        return NEW_LIST
    draft = _draft(context)
    draft.list_id, draft.list_title = mailing_list.id, mailing_list.title
    await _ask(update, "title", list_title=draft.list_title)
    return NEW_TITLE


async def _refused_as_too_long(update: Update, attribute: str, value: str) -> bool:
    """Tells the organiser, naming the field, when `value` is over its bound (never cut short)."""
    try:
        events.check_field_length(attribute, value)
    except InvalidEventError as problem:
        await reply(update, "event_invalid.html", problem=str(problem))
        return True
    return False


async def title_given(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    title = _text(update)
    if not title:
        await reply(update, "event_invalid.html", problem=f"a title has 1 to {events.MAX_TITLE_LENGTH} characters")
        return NEW_TITLE
    if await _refused_as_too_long(update, "title", title):
        return NEW_TITLE
    _draft(context).title = title
    await _ask(update, "start")
    return NEW_START


async def _read_start(update: Update, context: ContextTypes.DEFAULT_TYPE):
    services = services_of(context)
    try:
        return parse_moment(_text(update), now=services.clock.now(), tz=services.settings.tz)
    except DateProblem as problem:
        await reply(update, "event_date_problem.html", problem=problem, tz=services.settings.tz)
        return None


async def start_given(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    starts_at = await _read_start(update, context)
    if starts_at is None:
        return NEW_START
    context.user_data[START_KEY] = starts_at
    await _ask(update, "end")
    return NEW_END


async def end_given(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    services = services_of(context)
    starts_at = context.user_data[START_KEY]
    try:
        ends_at = parse_end(_text(update), start=starts_at, tz=services.settings.tz)
    except DateProblem as problem:
        await reply(update, "event_date_problem.html", problem=problem, tz=services.settings.tz)
        return NEW_END
    draft = _draft(context)
    draft.dates.append(DateDraft(starts_at, ends_at))
    await _ask(update, "more_dates", dates_so_far=len(draft.dates),
               buttons=[[(label("event_no_more_dates"), "newevent:dates_done")]])
    return NEW_MORE_DATES


async def another_date_given(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    draft = _draft(context)
    if _skipped(_text(update)) or _text(update).lower() == "done":
        await _ask(update, "venue")
        return NEW_VENUE
    starts_at = await _read_start(update, context)
    if starts_at is None:
        return NEW_MORE_DATES
    first = draft.dates[0]
    if starts_at not in [item.starts_at for item in draft.dates]:
        draft.dates.append(DateDraft(starts_at, starts_at + (first.ends_at - first.starts_at)))
    await _ask(update, "more_dates", dates_so_far=len(draft.dates),
               buttons=[[(label("event_no_more_dates"), "newevent:dates_done")]])
    return NEW_MORE_DATES


async def dates_done(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    await update.callback_query.answer()
    await _ask(update, "venue")
    return NEW_VENUE


async def venue_given(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    if not _text(update):
        await _ask(update, "venue")
        return NEW_VENUE
    if await _refused_as_too_long(update, "venue_name", _text(update)):
        return NEW_VENUE
    _draft(context).venue_name = _text(update)
    await _ask(update, "address")
    return NEW_ADDRESS


async def address_given(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    try:
        address, postcode = events.split_postcode(_text(update))
    except InvalidEventError as problem:
        await reply(update, "event_invalid.html", problem=str(problem))
        return NEW_ADDRESS
    if await _refused_as_too_long(update, "address", address):
        return NEW_ADDRESS
    draft = _draft(context)
    draft.address, draft.postcode = address, postcode
    await _ask(update, "meeting_point")
    return NEW_MEETING_POINT


async def meeting_point_given(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    value = "" if _skipped(_text(update)) else _text(update)
    if await _refused_as_too_long(update, "meeting_point", value):
        return NEW_MEETING_POINT
    _draft(context).meeting_point = value
    await _ask(update, "nearest_station")
    return NEW_STATION


async def station_given(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    value = "" if _skipped(_text(update)) else _text(update)
    if await _refused_as_too_long(update, "nearest_station", value):
        return NEW_STATION
    _draft(context).nearest_station = value
    await _ask(update, "map")
    return NEW_MAP


async def map_given(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    draft = _draft(context)
    location = update.effective_message.location
    if location is not None:
        draft.latitude, draft.longitude = location.latitude, location.longitude
    elif not _skipped(_text(update)):
        try:
            draft.latitude, draft.longitude = events.parse_map_pin(_text(update))
        except InvalidEventError as problem:
            await reply(update, "event_invalid.html", problem=str(problem))
            return NEW_MAP
    await _ask(update, "details")
    return NEW_DETAILS


async def details_given(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    value = "" if _skipped(_text(update)) else _text(update)
    if await _refused_as_too_long(update, "details", value):
        return NEW_DETAILS
    _draft(context).details = value
    await _ask(update, "contact")
    return NEW_CONTACT


async def contact_given(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    value = "" if _skipped(_text(update)) else _text(update)
    if await _refused_as_too_long(update, "contact", value):
        return NEW_CONTACT
    _draft(context).contact = value
    await _ask(update, "capacity")
    return NEW_CAPACITY


def _event_draft(draft: NewEvent, services: Services) -> EventDraft:
    return EventDraft(
        list_id=draft.list_id, title=draft.title, venue_name=draft.venue_name, address=draft.address,
        postcode=draft.postcode, dates=list(draft.dates), rules=parse_reminder_rules(services.settings.reminder_rules),
        meeting_point=draft.meeting_point, nearest_station=draft.nearest_station, latitude=draft.latitude,
        longitude=draft.longitude, details=draft.details, contact=draft.contact, capacity=draft.capacity,
    )


async def capacity_given(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    draft = _draft(context)
    try:
        draft.capacity = events.parse_capacity(_text(update))
    except InvalidEventError as problem:
        await reply(update, "event_invalid.html", problem=str(problem))
        return NEW_CAPACITY
    services = services_of(context)
    full = _event_draft(draft, services)
    dates = sorted(full.dates, key=lambda item: item.starts_at)
    first_due = [rule.due_at(dates[0].starts_at, services.settings.tz) for rule in full.rules]
    await reply(update, "event_confirm.html", draft=full, list_title=draft.list_title, tz=services.settings.tz,
                dates=dates, rules=full.rules, first_due=first_due,
                buttons=[[(label("event_publish"), "newevent:publish"), (label("event_discard"), "newevent:discard")]])
    return NEW_CONFIRM


async def confirm_answered(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """'Publish' stores the event and plans its reminders; 'Discard' drops the draft."""
    query = update.callback_query
    await query.answer()
    draft = context.user_data.pop(DRAFT_KEY, None)
    if query.data != "newevent:publish" or draft is None:
        await edit_or_reply(update, "event_discarded.html")
        return ConversationHandler.END
    services = services_of(context)
    try:
        async with services.db.transaction() as session:
            event = await events.create_event(session, draft=_event_draft(draft, services), now=services.clock.now(),
                                              tz=services.settings.tz)
            counts = await events.reminder_counts(session, event_id=event.id)
    except InvalidEventError as problem:
        await edit_or_reply(update, "event_invalid.html", problem=str(problem))
        return ConversationHandler.END
    await services_of(context).reminders.replan(event_id=event.id)
    await edit_or_reply(update, "event_published.html", event=event, skipped=counts.get("skipped", 0))
    return ConversationHandler.END


async def conversation_cancelled(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    context.user_data.pop(DRAFT_KEY, None)
    context.user_data.pop(EDIT_KEY, None)
    await reply(update, "event_discarded.html")
    return ConversationHandler.END


# ------------------------------------------------------------------ /editevent and /cancelevent


async def _coming_dates_buttons(update: Update, context: ContextTypes.DEFAULT_TYPE, prefix: str) -> Keyboard:
    services = services_of(context)
    async with services.db.transaction() as session:
        cards = await events.upcoming_cards(session, telegram_id=update.effective_chat.id,
                                            now=services.clock.now(), everything=True, limit=30)
    tz = services.settings.tz
    return [[(label("event_pick", title=card.event.title,
                    when=card.date.starts_at.astimezone(tz).strftime("%a %d %b %H:%M")), f"{prefix}:{card.date.id}")]
            for card in cards]


async def edit_event(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    buttons = await _coming_dates_buttons(update, context, "editevent:date")
    await reply(update, "event_pick.html", action="edit", dates=buttons, buttons=buttons)
    return EDIT_PICK if buttons else ConversationHandler.END


async def edit_date_picked(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    query = update.callback_query
    await query.answer()
    services = services_of(context)
    date_id = int(query.data.split(":")[2])
    async with services.db.transaction() as session:
        found = await events.get_event_date(session, event_date_id=date_id)
    if found is None:
        await reply(update, "event_rsvp_closed.html")
        return ConversationHandler.END
    context.user_data[EDIT_KEY] = {"date_id": date_id}
    buttons = [[(label("event_field", field=name), f"editevent:field:{name}") for name in EDITABLE[i:i + 3]]
               for i in range(0, len(EDITABLE), 3)]
    await edit_or_reply(update, "event_edit_fields.html", event=found[0], date=found[1], tz=services.settings.tz,
                        buttons=buttons)
    return EDIT_FIELD


async def edit_field_picked(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    query = update.callback_query
    await query.answer()
    field = query.data.split(":")[2]
    state = context.user_data.get(EDIT_KEY)
    if state is None or field not in EDITABLE:
        return ConversationHandler.END
    state["field"] = field
    services = services_of(context)
    async with services.db.transaction() as session:
        event, event_date = await events.get_event_date(session, event_date_id=state["date_id"])
        rules = await events.rules_of(session, event_id=event.id)
    current = {
        "reminders": "; ".join(rule.describe() for rule in rules) or "none",
        "capacity": "no limit" if event.capacity is None else event.capacity,
        "booked_elsewhere": event_date.booked_elsewhere,
    }.get(field, getattr(event, field, ""))
    await reply(update, "event_edit_ask.html", field=field, current=current)
    return EDIT_VALUE


async def edit_value_given(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    state = context.user_data.get(EDIT_KEY) or {}
    services = services_of(context)
    tz, now = services.settings.tz, services.clock.now()
    text = _text(update)
    field = state.get("field")
    told, promoted = False, []
    try:
        async with services.db.transaction() as session:
            event, event_date = await events.get_event_date(session, event_date_id=state["date_id"])
            if field == "time":
                starts_at = parse_moment(text, now=now, tz=tz)
                change = await events.move_event_date(
                    session, event_date_id=event_date.id, starts_at=starts_at,
                    ends_at=starts_at + (event_date.ends_at - event_date.starts_at), now=now, tz=tz,
                    compose=compose_moved(tz))
                told = change.told
            elif field == "reminders":
                rules = parse_reminder_rules(text)
                await events.replace_reminder_rules(session, event_id=event.id, rules=rules, now=now, tz=tz)
            elif field == "capacity":
                capacity = events.parse_capacity(text)
                await events.update_event(session, event_id=event.id, changes={"capacity": capacity})
                promoted = await events.promote_waiting_everywhere(session, event_id=event.id, now=now,
                                                                   compose_promoted=compose_promoted(tz))
            elif field == "booked_elsewhere":
                places = events.parse_places_booked(text)
                chats = await events.set_booked_elsewhere(session, event_date_id=event_date.id, places=places,
                                                          now=now, compose_promoted=compose_promoted(tz))
                promoted = [(event_date, chats)] if chats else []
            elif field == "map":
                pin = location_or_pin(update, text)
                await events.update_event(session, event_id=event.id,
                                          changes={"latitude": pin[0], "longitude": pin[1]})
            elif field == "address":
                address, postcode = events.split_postcode(text)
                await events.update_event(session, event_id=event.id, changes={"address": address,
                                                                               "postcode": postcode})
            else:
                value = "" if field in OPTIONAL_TEXT and _skipped(text) else text
                await events.update_event(session, event_id=event.id, changes={field: value})
    except DateProblem as problem:
        await reply(update, "event_date_problem.html", problem=problem, tz=tz)
        return EDIT_VALUE
    except events.NoticeNotComposable as problem:
        # Nothing was changed; what must change first is another field, not the value just sent.
        logger.warning("the time of event date %s was not changed: its notice cannot be composed",
                       state.get("date_id"))
        context.user_data.pop(EDIT_KEY, None)
        await reply(update, "event_notice_impossible.html", problem=str(problem))
        return ConversationHandler.END
    except (InvalidEventError, ValueError) as problem:
        await reply(update, "event_invalid.html", problem=str(problem))
        return EDIT_VALUE
    context.user_data.pop(EDIT_KEY, None)
    if told:
        services.broadcaster.wake()
    await services_of(context).reminders.replan(event_id=event.id)
    _tell_promoted(services, [chat for _date, chats in promoted for chat in chats])
    await reply(update, "event_edited.html", told=told, promoted=sum(len(chats) for _date, chats in promoted))
    return ConversationHandler.END


def location_or_pin(update: Update, text: str) -> tuple[float | None, float | None]:
    location = update.effective_message.location
    if location is not None:
        return location.latitude, location.longitude
    if _skipped(text):
        return None, None
    return events.parse_map_pin(text)


async def cancel_event(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/cancelevent: pick a date, confirm, and everyone concerned is told."""
    buttons = await _coming_dates_buttons(update, context, "cancelevent:pick")
    await reply(update, "event_pick.html", action="cancel", dates=buttons, buttons=buttons)


async def cancel_picked(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    await query.answer()
    services = services_of(context)
    date_id = int(query.data.split(":")[2])
    async with services.db.transaction() as session:
        found = await events.get_event_date(session, event_date_id=date_id)
    if found is None:
        await edit_or_reply(update, "event_cancel_done.html", change=None, tz=services.settings.tz)
        return
    await edit_or_reply(update, "event_cancel_confirm.html", event=found[0], date=found[1], tz=services.settings.tz,
                        buttons=[[(label("event_cancel_yes"), f"cancelevent:yes:{date_id}"),
                                  (label("event_cancel_no"), f"cancelevent:no:{date_id}")]])


async def cancel_answered(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    await query.answer()
    _, answer, date_id = query.data.split(":")
    if answer != "yes":
        await edit_or_reply(update, "event_cancel_kept.html")
        return
    services = services_of(context)
    tz = services.settings.tz
    try:
        async with services.db.transaction() as session:
            change = await events.cancel_event_date(session, event_date_id=int(date_id), now=services.clock.now(),
                                                    compose=compose_cancelled(tz))
    except events.NoticeNotComposable as problem:
        logger.warning("event date %s was not cancelled: its notice cannot be composed", date_id)
        await edit_or_reply(update, "event_notice_impossible.html", problem=str(problem))
        return
    if change is not None and change.told:
        services.broadcaster.wake()
        await services_of(context).reminders.replan(event_id=change.event.id)
    await edit_or_reply(update, "event_cancel_done.html", change=change, tz=tz)


# ------------------------------------------------------------------ conversations, wired in bot.app


def conversations() -> list[BaseHandler]:
    """The /newevent and /editevent conversations; `bot.app` registers them before the plain
    commands (and declares every step organisers-only); the buttons are in its BUTTONS table."""
    text = filters.TEXT & ~filters.COMMAND
    cancel = [CommandHandler("cancel", conversation_cancelled)]
    with warnings.catch_warnings():
        # Buttons here belong to the organiser's own conversation, so tracking them per chat and
        # user (not per message) is what we want; python-telegram-bot warns about it regardless.
        warnings.filterwarnings("ignore", message="If 'per_message=False'")
        new = ConversationHandler(
            entry_points=[CommandHandler("newevent", new_event, filters=filters.ChatType.PRIVATE)],
            states={
                NEW_LIST: [CallbackQueryHandler(list_chosen, pattern=rf"^newevent:list:{ROW_ID}$")],
                NEW_TITLE: [MessageHandler(text, title_given)],
                NEW_START: [MessageHandler(text, start_given)],
                NEW_END: [MessageHandler(text, end_given)],
                NEW_MORE_DATES: [MessageHandler(text, another_date_given),
                                 CallbackQueryHandler(dates_done, pattern=r"^newevent:dates_done$")],
                NEW_VENUE: [MessageHandler(text, venue_given)],
                NEW_ADDRESS: [MessageHandler(text, address_given)],
                NEW_MEETING_POINT: [MessageHandler(text, meeting_point_given)],
                NEW_STATION: [MessageHandler(text, station_given)],
                NEW_MAP: [MessageHandler(text | filters.LOCATION, map_given)],
                NEW_DETAILS: [MessageHandler(text, details_given)],
                NEW_CONTACT: [MessageHandler(text, contact_given)],
                NEW_CAPACITY: [MessageHandler(text, capacity_given)],
                NEW_CONFIRM: [CallbackQueryHandler(confirm_answered, pattern=r"^newevent:(publish|discard)$")],
            },
            fallbacks=cancel,
            allow_reentry=True,
            conversation_timeout=CONVERSATION_SECONDS,
            name="newevent",
        )
        edit = ConversationHandler(
            entry_points=[CommandHandler("editevent", edit_event, filters=filters.ChatType.PRIVATE)],
            states={
                EDIT_PICK: [CallbackQueryHandler(visible_dates_only(edit_date_picked),
                                                 pattern=rf"^editevent:date:{ROW_ID}$")],
                EDIT_FIELD: [CallbackQueryHandler(edit_field_picked, pattern=r"^editevent:field:\w+$")],
                EDIT_VALUE: [MessageHandler(text | filters.LOCATION, edit_value_given)],
            },
            fallbacks=cancel,
            allow_reentry=True,
            conversation_timeout=CONVERSATION_SECONDS,
            name="editevent",
        )
    return [new, edit]
