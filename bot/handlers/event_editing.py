"""/editevent, the organisers' conversation that changes one field of a published event (wired
with /newevent in `bot.handlers.event_conversations.conversations`); what each field reads and
checks, and what a change sets off, is the domain's (`storage.events.editing`)."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.ext import ContextTypes, ConversationHandler

from bot.engines.reminders import compose_moved, compose_promoted
from bot.handlers.callback_data import EditDate, EditField
from bot.handlers.events import coming_dates_buttons, picked_date
from bot.services import services_of
from bot.telegram_io.replies import edit_or_reply, label, reply
from storage.dates import DateProblem
from storage.events import editing, problems
from storage.events.editing import EDITABLE
from storage.events.problems import InvalidEventError

EDIT_PICK, EDIT_FIELD, EDIT_VALUE = range(100, 103)
EDIT_KEY = "edit_event"
logger = logging.getLogger(__name__)


def _text(update: Update) -> str:
    return (update.effective_message.text or "").strip()



async def edit_event(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    buttons = await coming_dates_buttons(update, context, EditDate)
    await reply(update, "event_pick.html", action="edit", dates=buttons, buttons=buttons)
    return EDIT_PICK if buttons else ConversationHandler.END


async def edit_date_picked(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    date_id, found = await picked_date(update, context, EditDate)
    services = services_of(context)
    if found is None:
        await reply(update, "event_rsvp_closed.html")
        return ConversationHandler.END
    context.user_data[EDIT_KEY] = {"date_id": date_id}
    buttons = [[(label("event_field", field=name), EditField.build(name)) for name in EDITABLE[i:i + 3]]
               for i in range(0, len(EDITABLE), 3)]
    await edit_or_reply(update, "event_edit_fields.html", event=found[0], date=found[1], tz=services.settings.tz,
                        buttons=buttons)
    return EDIT_FIELD


async def edit_field_picked(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    query = update.callback_query
    await query.answer()
    field = EditField.parse(query.data).field
    state = context.user_data.get(EDIT_KEY)
    if state is None or field not in EDITABLE:
        return ConversationHandler.END
    state["field"] = field
    async with services_of(context).db.transaction() as session:
        current = await editing.current_value(session, event_date_id=state["date_id"], field=field)
    await reply(update, "event_edit_ask.html", field=field, current=current)
    return EDIT_VALUE


async def edit_value_given(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    state = context.user_data.get(EDIT_KEY) or {}
    services = services_of(context)
    tz = services.settings.tz
    location = update.effective_message.location
    try:
        async with services.db.transaction() as session:
            edited = await editing.edit_field(
                session, event_date_id=state["date_id"], field=state.get("field"), text=_text(update),
                location=None if location is None else (location.latitude, location.longitude),
                now=services.clock.now(), tz=tz, compose_moved=compose_moved(tz),
                compose_promoted=compose_promoted(tz), offering=services.offering)
    except DateProblem as problem:
        await reply(update, "event_date_problem.html", problem=problem, tz=tz)
        return EDIT_VALUE
    except problems.NoticeNotComposable as problem:
        # Nothing was changed; what must change first is another field, not the value just sent.
        logger.warning("the time of event date %s was not changed: its notice cannot be composed",
                       state.get("date_id"))
        context.user_data.pop(EDIT_KEY, None)
        await reply(update, "event_notice_impossible.html", problem=problem)
        return ConversationHandler.END
    except InvalidEventError as problem:
        await reply(update, "event_invalid.html", problem=problem)
        return EDIT_VALUE
    context.user_data.pop(EDIT_KEY, None)
    if edited.told:
        services.broadcaster.wake()
    await services.reminders.replan(event_id=edited.event_id)
    await services.reminders.follow_offers()
    if edited.promoted:
        services.broadcaster.wake()
    await reply(update, "event_edited.html", told=edited.told, promoted=len(edited.promoted),
                starts_at=edited.starts_at, tz=tz)
    return ConversationHandler.END


