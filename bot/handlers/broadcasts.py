"""Organisers' broadcasts: /broadcast (choose a list, send the text, preview, send or schedule)
and /broadcasts (progress, with pause, resume and cancel).

Between a button and the organiser's next message, the step they are on is kept in
`context.user_data` (it is lost on restart; the draft itself is in the database). Everything
after the preview carries the broadcast's id in the button, so it survives a restart.

Every handler here, the answers to the questions included, is declared organisers-only in
`bot.app`, so a removed organiser is refused at the very next step and the question dropped.
"""

from __future__ import annotations

from telegram import Message, Update
from telegram.constants import ChatType
from telegram.ext import Application, ContextTypes, filters

from bot.engines.composing import check_message_length, compose_message
from bot.handlers.common import argument_text
from bot.services import services_of
from bot.telegram_io.replies import Keyboard, edit_or_reply, label, reply
from bot.telegram_io.sending import send_outgoing
from storage.broadcasts import broadcasts
from storage.broadcasts.broadcasts import BroadcastError, ListChoice, MediaKind, TextTooLong
from storage.dates import DateProblem, parse_moment
from storage.lists.models import MailingList
from storage.telegram_html import TelegramHtmlError

STEP = "broadcast_step"  # key in user_data: ("text", list_id) or ("time", broadcast_id)
ACTIONS = {"pause", "resume", "cancel"}


def _list_buttons(choices: list[ListChoice]) -> Keyboard:
    return [[(label("broadcast_list", title=c.title, count=c.subscribers), f"bcast:list:{c.id}")] for c in choices]


def _draft_buttons(broadcast_id: int) -> Keyboard:
    return [[(label("broadcast_send_now"), f"bcast:send:{broadcast_id}"),
             (label("broadcast_schedule"), f"bcast:schedule:{broadcast_id}"),
             (label("broadcast_drop"), f"bcast:drop:{broadcast_id}")]]


def _control_buttons(items: list[broadcasts.BroadcastSummary]) -> Keyboard:
    rows = []
    for item in items:
        row = []
        if item.status is broadcasts.BroadcastStatus.SENDING:
            row.append((label("broadcast_pause", id=item.id), f"bcast:pause:{item.id}"))
        if item.status is broadcasts.BroadcastStatus.PAUSED:
            row.append((label("broadcast_resume", id=item.id), f"bcast:resume:{item.id}"))
        if not item.status.finished:
            row.append((label("broadcast_cancel", id=item.id), f"bcast:cancel:{item.id}"))
        if row:
            rows.append(row)
    return rows


async def broadcast_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/broadcast, or /broadcast <list> to skip choosing."""
    context.user_data.pop(STEP, None)
    name = argument_text(context)
    async with services_of(context).db.transaction() as session:
        choices = await broadcasts.lists_to_broadcast_to(session)
        chosen = await broadcasts.list_to_broadcast_to(session, name=name) if name else None
    if not choices:
        await reply(update, "broadcast_no_lists.html")
    elif name and chosen is None:
        await reply(update, "broadcast_unknown_list.html", name=name[:64], buttons=_list_buttons(choices))
    elif chosen is not None:
        await _ask_for_text(update, context, chosen)
    else:
        await reply(update, "broadcast_choose_list.html", buttons=_list_buttons(choices))


async def _ask_for_text(update: Update, context: ContextTypes.DEFAULT_TYPE, choice: ListChoice) -> None:
    context.user_data[STEP] = ("text", choice.id)
    await edit_or_reply(update, "broadcast_ask_text.html", choice=choice)


async def list_chosen(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A list button under /broadcast."""
    await update.callback_query.answer()
    list_id = int(update.callback_query.data.rsplit(":", 1)[1])
    async with services_of(context).db.transaction() as session:
        choice = await broadcasts.list_to_broadcast_to(session, list_id=list_id)
    if choice is None:
        await edit_or_reply(update, "broadcast_no_lists.html")
        return
    await _ask_for_text(update, context, choice)


class AwaitingAnswer(filters.MessageFilter):
    """Matches a private message from someone /broadcast has asked a question (the text, the time)."""

    def __init__(self, application: Application) -> None:
        super().__init__(name="AwaitingAnswer")
        self._user_data = application.user_data

    def filter(self, message: Message) -> bool:
        if message.chat.type != ChatType.PRIVATE or message.from_user is None:
            return False
        return STEP in self._user_data.get(message.from_user.id, {})


async def drop_question(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Any command ends a pending /broadcast question, so the next message means what it says."""
    if context.user_data is not None:
        context.user_data.pop(STEP, None)


async def next_step_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """An organiser's answer while /broadcast waits for the text or the time."""
    step = context.user_data.get(STEP)
    if step is None:
        return
    kind, ident = step
    if kind == "text":
        await _text_received(update, context, list_id=ident)
    else:
        await _time_received(update, context, broadcast_id=ident)


def _content_of(message: Message) -> tuple[str, MediaKind | None, str | None] | None:
    if message.photo:
        return message.caption_html or "", MediaKind.PHOTO, message.photo[-1].file_id
    if message.document:
        return message.caption_html or "", MediaKind.DOCUMENT, message.document.file_id
    if message.text:
        return message.text_html, None, None
    return None


async def _text_received(update: Update, context: ContextTypes.DEFAULT_TYPE, *, list_id: int) -> None:
    content = _content_of(update.effective_message)
    if content is None:
        await reply(update, "broadcast_not_text.html")
        return
    text, media_kind, file_id = content
    services = services_of(context)
    async with services.db.transaction() as session:
        mailing_list = await session.get(MailingList, list_id)
        choice = await broadcasts.list_to_broadcast_to(session, list_id=list_id)
        if mailing_list is None or choice is None:
            context.user_data.pop(STEP, None)
            await reply(update, "broadcast_no_lists.html")
            return
        try:
            check_message_length(text=text, media_kind=media_kind, mailing_list=mailing_list)
        except TextTooLong as problem:
            await reply(update, "broadcast_too_long.html", problem=problem)
            return
        except TelegramHtmlError as problem:
            await reply(update, "broadcast_bad_html.html", problem=problem)
            return
        draft = await broadcasts.create_broadcast(
            session, list_id=list_id, text=text, created_by=update.effective_user.id, draft=True,
            photo_file_id=file_id if media_kind is MediaKind.PHOTO else None,
            document_file_id=file_id if media_kind is MediaKind.DOCUMENT else None, now=services.clock.now())
    context.user_data.pop(STEP, None)
    preview = compose_message(text=text, media_kind=media_kind, media_file_id=file_id, mailing_list=mailing_list)
    await send_outgoing(context.bot, update.effective_chat.id, preview)
    await reply(update, "broadcast_confirm.html", count=choice.subscribers, title=choice.title,
                buttons=_draft_buttons(draft.id))


async def _time_received(update: Update, context: ContextTypes.DEFAULT_TYPE, *, broadcast_id: int) -> None:
    services = services_of(context)
    settings = services.settings
    typed = (update.effective_message.text or "").strip()[:64]
    try:
        send_at = parse_moment(typed, now=services.clock.now(), tz=settings.tz)
    except DateProblem as problem:
        await reply(update, "broadcast_bad_time.html", kind=problem.kind.value, text=typed,
                    timezone=settings.timezone)
        return
    context.user_data.pop(STEP, None)
    try:
        async with services.db.transaction() as session:
            await broadcasts.schedule_broadcast(session, broadcast_id=broadcast_id, send_at=send_at,
                                                now=services.clock.now())
            summary = await broadcasts.broadcast_summary(session, broadcast_id=broadcast_id)
    except BroadcastError:
        await reply(update, "broadcast_no_longer_waiting.html", broadcast_id=broadcast_id)
        return
    services.broadcaster.wake()
    await reply(update, "broadcast_scheduled.html", broadcast_id=broadcast_id, title=summary.list_title,
                send_at=send_at, tz=settings.tz)


async def draft_answered(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Send now, Schedule or Cancel under the preview."""
    query = update.callback_query
    await query.answer()
    _, action, ident = query.data.split(":")
    broadcast_id = int(ident)
    services = services_of(context)
    try:
        async with services.db.transaction() as session:
            draft = await broadcasts.broadcast_summary(session, broadcast_id=broadcast_id)
            if draft is None or draft.status is not broadcasts.BroadcastStatus.DRAFT:
                raise BroadcastError("not a draft")
            if action == "send":
                await broadcasts.send_broadcast_now(session, broadcast_id=broadcast_id, now=services.clock.now())
            elif action == "drop":
                await broadcasts.change_broadcast(session, broadcast_id=broadcast_id, action="cancel",
                                                  now=services.clock.now())
    except BroadcastError:
        await edit_or_reply(update, "broadcast_no_longer_waiting.html", broadcast_id=broadcast_id)
        return
    if action == "send":
        services.broadcaster.wake()
        await edit_or_reply(update, "broadcast_started.html", broadcast_id=broadcast_id, title=draft.list_title)
    elif action == "drop":
        await edit_or_reply(update, "broadcast_dropped.html")
    else:
        context.user_data[STEP] = ("time", broadcast_id)
        await edit_or_reply(update, "broadcast_ask_time.html", broadcast_id=broadcast_id,
                            timezone=services.settings.timezone)


async def _show_broadcasts(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    services = services_of(context)
    async with services.db.transaction() as session:
        items = await broadcasts.recent_broadcasts(session)
    await edit_or_reply(update, "broadcasts.html", items=items, tz=services.settings.tz,
                        rate=services.settings.sending_rate, buttons=_control_buttons(items))


async def broadcasts_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/broadcasts: recent and scheduled broadcasts, with their progress."""
    await _show_broadcasts(update, context)


async def control_pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Pause, Resume or Cancel under /broadcasts: change the status, then redraw the list."""
    query = update.callback_query
    await query.answer()
    _, action, ident = query.data.split(":")
    services = services_of(context)
    async with services.db.transaction() as session:
        await broadcasts.change_broadcast(session, broadcast_id=int(ident), action=action, now=services.clock.now())
    services.broadcaster.wake()
    await _show_broadcasts(update, context)
