"""The organisers' conversations about events (python-telegram-bot's ConversationHandler):
/newevent, which builds an event step by step and publishes it, and /editevent, which changes one
field of a published event (its steps are in `bot.handlers.event_editing`).

The draft (`storage.events.drafts.EventDraft`) lives in the organiser's user_data until it is
published; what each step reads and checks is the domain's (`storage.events`).
"""

from __future__ import annotations

import warnings
from collections.abc import Awaitable, Callable

from telegram import Update
from telegram.ext import (
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    ConversationHandler,
    MessageHandler,
    filters,
)

from bot.handlers import event_editing
from bot.handlers.callback_data import EditDate, EditField, NewEventConfirm, NewEventDatesDone, NewEventList
from bot.handlers.event_editing import EDIT_FIELD, EDIT_KEY, EDIT_PICK, EDIT_VALUE
from bot.handlers.events import visible_dates_only
from bot.services import services_of
from bot.telegram_io.replies import Keyboard, edit_or_reply, label, reply
from storage.dates import DateProblem, parse_end, parse_moment, parse_reminder_rules
from storage.events import catalogue, drafts, editing, reminders, tables
from storage.events.draft_summary import summarise_draft
from storage.events.drafts import DateDraft, EventDraft
from storage.events.editing import skipped
from storage.events.problems import EventProblemKind, InvalidEventError
from storage.lists.mailing_lists import get_list_by_id, public_lists

(NEW_LIST, NEW_TITLE, NEW_START, NEW_END, NEW_MORE_DATES, NEW_VENUE, NEW_ADDRESS, NEW_MEETING_POINT, NEW_STATION,
 NEW_MAP, NEW_DETAILS, NEW_ACCESSIBILITY, NEW_REFRESHMENTS, NEW_COST, NEW_CONTACT, NEW_CAPACITY,
 NEW_CONFIRM) = range(17)
DRAFT_KEY = "new_event"
START_KEY = "new_event_start"  # the start of the date being entered, until its end is given
# What an organiser's half-finished conversations keep in user_data; dropped when they are refused.
DRAFT_KEYS = (DRAFT_KEY, START_KEY, EDIT_KEY)
CONVERSATION_SECONDS = 3600


def _text(update: Update) -> str:
    return (update.effective_message.text or "").strip()


# ------------------------------------------------------------------ /newevent


def _draft(context: ContextTypes.DEFAULT_TYPE) -> EventDraft:
    return context.user_data.setdefault(DRAFT_KEY, EventDraft())


async def _ask(update: Update, step: str, /, *, buttons: Keyboard | None = None, **context: object) -> None:
    await reply(update, "event_ask.html", step=step, buttons=buttons, **context)


async def new_event(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """/newevent: starts the guided conversation."""
    services = services_of(context)
    context.user_data[DRAFT_KEY] = draft = EventDraft(rules=parse_reminder_rules(services.settings.reminder_rules))
    async with services.db.transaction() as session:
        lists = await public_lists(session)
    if not lists:
        await reply(update, "event_no_lists.html")
        return ConversationHandler.END
    if len(lists) == 1:
        draft.list_id = lists[0].id
        await _ask(update, "title", list_title=lists[0].title)
        return NEW_TITLE
    await _ask(update, "list", buttons=[[(label("event_list", title=item.title), NewEventList.build(item.id))]
                                        for item in lists])
    return NEW_LIST


async def list_chosen(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    query = update.callback_query
    await query.answer()
    async with services_of(context).db.transaction() as session:
        mailing_list = await get_list_by_id(session, list_id=NewEventList.parse(query.data).list_id)
    if mailing_list is None:
        return NEW_LIST
    _draft(context).list_id = mailing_list.id
    await _ask(update, "title", list_title=mailing_list.title)
    return NEW_TITLE


async def _refused_as_too_long(update: Update, attribute: str, value: str) -> bool:
    """Tells the organiser, naming the field, when `value` is over its bound (never cut short)."""
    try:
        drafts.check_field_length(attribute, value)
    except InvalidEventError as problem:
        await reply(update, "event_invalid.html", problem=problem)
        return True
    return False


async def title_given(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    title = _text(update)
    if not title:
        await reply(update, "event_invalid.html",
                    problem=InvalidEventError(EventProblemKind.NO_TITLE, limit=tables.MAX_TITLE_LENGTH))
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
    await _ask(update, "end", starts_at=starts_at, tz=services_of(context).settings.tz)
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
               buttons=[[(label("event_no_more_dates"), NewEventDatesDone.build())]])
    return NEW_MORE_DATES


async def another_date_given(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    draft = _draft(context)
    if skipped(_text(update)) or _text(update).lower() == "done":
        await _ask(update, "venue")
        return NEW_VENUE
    starts_at = await _read_start(update, context)
    if starts_at is None:
        return NEW_MORE_DATES
    first = draft.dates[0]
    if starts_at not in [item.starts_at for item in draft.dates]:
        draft.dates.append(DateDraft(starts_at, starts_at + (first.ends_at - first.starts_at)))
    await _ask(update, "more_dates", dates_so_far=len(draft.dates),
               buttons=[[(label("event_no_more_dates"), NewEventDatesDone.build())]])
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
        address, postcode = drafts.split_postcode(_text(update))
    except InvalidEventError as problem:
        await reply(update, "event_invalid.html", problem=problem)
        return NEW_ADDRESS
    if await _refused_as_too_long(update, "address", address):
        return NEW_ADDRESS
    draft = _draft(context)
    draft.address, draft.postcode = address, postcode
    await _ask(update, "meeting_point")
    return NEW_MEETING_POINT


Step = Callable[[Update, ContextTypes.DEFAULT_TYPE], Awaitable[int]]  # returns the next state


def _optional_text_step(attribute: str, state: int, next_step: str, next_state: int) -> Step:
    """The step of an optional text field: a skip word leaves it empty."""

    async def given(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        value = "" if skipped(_text(update)) else _text(update)
        if await _refused_as_too_long(update, attribute, value):
            return state
        setattr(_draft(context), attribute, value)
        await _ask(update, next_step)
        return next_state

    given.__name__ = given.__qualname__ = f"{attribute}_given"  # as a refusal logs it
    return given


meeting_point_given = _optional_text_step("meeting_point", NEW_MEETING_POINT, "nearest_station", NEW_STATION)
station_given = _optional_text_step("nearest_station", NEW_STATION, "map", NEW_MAP)
details_given = _optional_text_step("details", NEW_DETAILS, "accessibility", NEW_ACCESSIBILITY)
accessibility_given = _optional_text_step("accessibility", NEW_ACCESSIBILITY, "refreshments", NEW_REFRESHMENTS)
refreshments_given = _optional_text_step("refreshments", NEW_REFRESHMENTS, "cost", NEW_COST)
cost_given = _optional_text_step("cost", NEW_COST, "contact", NEW_CONTACT)
contact_given = _optional_text_step("contact", NEW_CONTACT, "capacity", NEW_CAPACITY)


async def map_given(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    draft = _draft(context)
    location = update.effective_message.location
    try:
        draft.latitude, draft.longitude = editing.map_pin(
            _text(update), location=None if location is None else (location.latitude, location.longitude))
    except InvalidEventError as problem:
        await reply(update, "event_invalid.html", problem=problem)
        return NEW_MAP
    await _ask(update, "details")
    return NEW_DETAILS


async def capacity_given(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    draft = _draft(context)
    try:
        draft.capacity = drafts.parse_capacity(_text(update))
    except InvalidEventError as problem:
        await reply(update, "event_invalid.html", problem=problem)
        return NEW_CAPACITY
    services = services_of(context)
    async with services.db.transaction() as session:
        summary = await summarise_draft(session, draft=draft, tz=services.settings.tz)
    await reply(update, "event_confirm.html", draft=draft, list_title=summary.list_title, tz=services.settings.tz,
                dates=summary.dates, rules=draft.rules, first_due=summary.first_due,
                buttons=[[(label("event_publish"), NewEventConfirm.build("publish")),
                          (label("event_discard"), NewEventConfirm.build("discard"))]])
    return NEW_CONFIRM


async def confirm_answered(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """'Publish' stores the event and plans its reminders; 'Discard' drops the draft."""
    query = update.callback_query
    await query.answer()
    draft = context.user_data.pop(DRAFT_KEY, None)
    if NewEventConfirm.parse(query.data).answer != "publish" or draft is None:
        await edit_or_reply(update, "event_discarded.html")
        return ConversationHandler.END
    services = services_of(context)
    try:
        async with services.db.transaction() as session:
            event = await catalogue.create_event(session, draft=draft, now=services.clock.now(),
                                              tz=services.settings.tz)
            counts = await reminders.reminder_counts(session, event_id=event.id)
    except InvalidEventError as problem:
        await edit_or_reply(update, "event_invalid.html", problem=problem)
        return ConversationHandler.END
    await services_of(context).reminders.replan(event_id=event.id)
    await edit_or_reply(update, "event_published.html", event=event, skipped=counts.get("skipped", 0))
    return ConversationHandler.END


async def conversation_cancelled(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    context.user_data.pop(DRAFT_KEY, None)
    context.user_data.pop(EDIT_KEY, None)
    await reply(update, "event_discarded.html")
    return ConversationHandler.END


# ------------------------------------------------------------------ conversations, wired in bot.app


def conversations() -> list[BaseHandler]:
    """The /newevent and /editevent conversations; `bot.app` registers them before the plain
    commands (and declares every step organisers-only)."""
    text = filters.TEXT & ~filters.COMMAND
    cancel = [CommandHandler("cancel", conversation_cancelled)]
    with warnings.catch_warnings():
        # Buttons here belong to the organiser's own conversation, so tracking them per chat and
        # user (not per message) is what we want; python-telegram-bot warns about it regardless.
        warnings.filterwarnings("ignore", message="If 'per_message=False'")
        new = ConversationHandler(
            entry_points=[CommandHandler("newevent", new_event, filters=filters.ChatType.PRIVATE)],
            states={
                NEW_LIST: [CallbackQueryHandler(list_chosen, pattern=NewEventList.pattern)],
                NEW_TITLE: [MessageHandler(text, title_given)],
                NEW_START: [MessageHandler(text, start_given)],
                NEW_END: [MessageHandler(text, end_given)],
                NEW_MORE_DATES: [MessageHandler(text, another_date_given),
                                 CallbackQueryHandler(dates_done, pattern=NewEventDatesDone.pattern)],
                NEW_VENUE: [MessageHandler(text, venue_given)],
                NEW_ADDRESS: [MessageHandler(text, address_given)],
                NEW_MEETING_POINT: [MessageHandler(text, meeting_point_given)],
                NEW_STATION: [MessageHandler(text, station_given)],
                NEW_MAP: [MessageHandler(text | filters.LOCATION, map_given)],
                NEW_DETAILS: [MessageHandler(text, details_given)],
                NEW_ACCESSIBILITY: [MessageHandler(text, accessibility_given)],
                NEW_REFRESHMENTS: [MessageHandler(text, refreshments_given)],
                NEW_COST: [MessageHandler(text, cost_given)],
                NEW_CONTACT: [MessageHandler(text, contact_given)],
                NEW_CAPACITY: [MessageHandler(text, capacity_given)],
                NEW_CONFIRM: [CallbackQueryHandler(confirm_answered, pattern=NewEventConfirm.pattern)],
            },
            fallbacks=cancel,
            allow_reentry=True,
            conversation_timeout=CONVERSATION_SECONDS,
            name="newevent",
        )
        edit = ConversationHandler(
            entry_points=[CommandHandler("editevent", event_editing.edit_event, filters=filters.ChatType.PRIVATE)],
            states={
                EDIT_PICK: [CallbackQueryHandler(visible_dates_only(EditDate, event_editing.edit_date_picked),
                                                 pattern=EditDate.pattern)],
                EDIT_FIELD: [CallbackQueryHandler(event_editing.edit_field_picked, pattern=EditField.pattern)],
                EDIT_VALUE: [MessageHandler(text | filters.LOCATION, event_editing.edit_value_given)],
            },
            fallbacks=cancel,
            allow_reentry=True,
            conversation_timeout=CONVERSATION_SECONDS,
            name="editevent",
        )
    return [new, edit]
