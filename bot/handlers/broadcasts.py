"""Organisers' broadcasts: /broadcast (choose a list, send the text, preview, send or schedule)
and /broadcasts (progress, with pause, resume and cancel).

Between a button and the organiser's next message, the step they are on is kept in
`context.user_data` (it is lost on restart; the draft itself is in the database). Everything
after the preview carries the broadcast's id in the button, so it survives a restart.

Every handler here, the answers to the questions included, is declared organisers-only in
`bot.app`, so a removed organiser is refused at the very next step and the question dropped.
"""

from __future__ import annotations

import datetime as dt

from telegram import Message, Update
from telegram.constants import ChatType
from telegram.ext import Application, ContextTypes, filters

from bot.engines.composing import check_message_length, compose_broadcast, compose_message
from bot.handlers import broadcast_reviews
from bot.handlers.callback_data import (
    BroadcastAddVersion,
    BroadcastControl,
    BroadcastDraftAnswer,
    BroadcastList,
    BroadcastScheduleAnswer,
    BroadcastUrgency,
)
from bot.handlers.common import argument_text
from bot.services import services_of
from bot.telegram_io.replies import Keyboard, edit_or_reply, label, reply
from bot.telegram_io.sending import send_outgoing
from messages.formatting import dated
from messages.i18n import SOURCE_LANGUAGE, available_languages, own_name
from storage.broadcasts import drafts, reviews
from storage.broadcasts.drafts import DraftAnswer, DraftContent
from storage.broadcasts.listings import (
    BroadcastSummary,
    ListChoice,
    broadcast_summary,
    list_to_broadcast_to,
    lists_to_broadcast_to,
    recent_broadcasts,
)
from storage.broadcasts.status import BroadcastError, TextTooLong, TimeInPast, change_broadcast, schedule_broadcast
from storage.broadcasts.tables import BroadcastStatus, MediaKind
from storage.broadcasts.versions import Version
from storage.dates import DateProblem, DateProblemKind, parse_moment
from storage.lists.models import MailingList
from storage.telegram_html import TelegramHtmlError

# Key in user_data: ("text", list_id), ("time", broadcast_id) or ("version", (broadcast_id, language)).
STEP = "broadcast_step"


def _list_buttons(choices: list[ListChoice]) -> Keyboard:
    return [[(label("broadcast_list", title=c.title, count=c.subscribers), BroadcastList.build(c.id))] for c in choices]


def _draft_buttons(broadcast_id: int, *, urgent: bool, versions: dict[str, str]) -> Keyboard:
    ring = (label("broadcast_ordinary"), BroadcastUrgency.build("ordinary", broadcast_id)) if urgent else (
        label("broadcast_urgent"), BroadcastUrgency.build("urgent", broadcast_id))
    # The original is taken as written in the bot's source language: a version is offered in
    # every other language the bot speaks, until it is added.
    add_version = [(label("broadcast_add_version", language_name=own_name(code)),
                    BroadcastAddVersion.build(code, broadcast_id))
                   for code in available_languages() if code != SOURCE_LANGUAGE and code not in versions]
    return [[(label("broadcast_send_now"), BroadcastDraftAnswer.build(DraftAnswer.SEND, broadcast_id)),
             (label("broadcast_schedule"), BroadcastDraftAnswer.build(DraftAnswer.SCHEDULE, broadcast_id)),
             (label("broadcast_drop"), BroadcastDraftAnswer.build(DraftAnswer.DROP, broadcast_id))],
            [ring], *([button] for button in add_version)]


async def _confirm(update: Update, context: ContextTypes.DEFAULT_TYPE, made: drafts.NewDraft, *,
                   edit: bool) -> None:
    """The question under the preview: how many it reaches, whether it rings in quiet hours,
    and in which languages it goes."""
    settings = services_of(context).settings
    answer = edit_or_reply if edit else reply
    template = "broadcast_confirm_versions.html" if made.versions else "broadcast_confirm.html"
    await answer(update, template, count=made.choice.subscribers, title=made.choice.title,
                 urgent=made.broadcast.urgent, quiet=settings.quiet_policy.default,
                 languages=[own_name(code) for code in made.versions],
                 buttons=_draft_buttons(made.broadcast.id, urgent=made.broadcast.urgent, versions=made.versions))


def _control_buttons(items: list[BroadcastSummary]) -> Keyboard:
    rows = []
    for item in items:
        row = []
        if item.status is BroadcastStatus.SENDING:
            row.append((label("broadcast_pause", id=item.id), BroadcastControl.build("pause", item.id)))
        if item.status is BroadcastStatus.PAUSED:
            row.append((label("broadcast_resume", id=item.id), BroadcastControl.build("resume", item.id)))
        if not item.status.finished:
            row.append((label("broadcast_cancel", id=item.id), BroadcastControl.build("cancel", item.id)))
        if row:
            rows.append(row)
    return rows


async def broadcast_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/broadcast, or /broadcast <list> to skip choosing."""
    context.user_data.pop(STEP, None)
    name = argument_text(context)
    async with services_of(context).db.transaction() as session:
        choices = await lists_to_broadcast_to(session)
        chosen = await list_to_broadcast_to(session, name=name) if name else None
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
    list_id = BroadcastList.parse(update.callback_query.data).list_id
    async with services_of(context).db.transaction() as session:
        choice = await list_to_broadcast_to(session, list_id=list_id)
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
    elif kind == "version":
        broadcast_id, language = ident
        await _version_received(update, context, broadcast_id=broadcast_id, language=language)
    else:
        await _time_received(update, context, broadcast_id=ident)


def _content_of(message: Message) -> DraftContent | None:
    if message.photo:
        return DraftContent(message.caption_html or "", MediaKind.PHOTO, message.photo[-1].file_id)
    if message.document:
        return DraftContent(message.caption_html or "", MediaKind.DOCUMENT, message.document.file_id)
    if message.text:
        return DraftContent(message.text_html)
    return None


def _length_check(support_pointer: bool):
    """The length check of a draft: its text with the footer every recipient will get."""

    def check(content: DraftContent, mailing_list: MailingList) -> None:
        check_message_length(text=content.text, media_kind=content.media_kind, mailing_list=mailing_list,
                             support_pointer=support_pointer, language=content.language)

    return check


async def _text_received(update: Update, context: ContextTypes.DEFAULT_TYPE, *, list_id: int) -> None:
    content = _content_of(update.effective_message)
    if content is None:
        await reply(update, "broadcast_not_text.html")
        return
    services = services_of(context)
    support_pointer = services.settings.support_pointer_under_alerts
    try:
        async with services.db.transaction() as session:
            made = await drafts.create_draft(session, list_id=list_id, content=content,
                                             created_by=update.effective_user.id, now=services.clock.now(),
                                             check_length=_length_check(support_pointer))
    except TextTooLong as problem:
        await reply(update, "broadcast_too_long.html", problem=problem)
        return
    except TelegramHtmlError as problem:
        await reply(update, "broadcast_bad_html.html", problem=problem)
        return
    context.user_data.pop(STEP, None)
    if made is None:
        await reply(update, "broadcast_no_lists.html")
        return
    preview = compose_message(text=content.text, media_kind=content.media_kind, media_file_id=content.file_id,
                              mailing_list=made.mailing_list, support_pointer=support_pointer)
    await send_outgoing(context.bot, update.effective_chat.id, preview)
    await _confirm(update, context, made, edit=False)


async def add_version_pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """"Add <language> version" under the preview: asks for the alert in that language."""
    query = update.callback_query
    await query.answer()
    pressed = BroadcastAddVersion.parse(query.data)
    if pressed.language not in available_languages():
        await edit_or_reply(update, "broadcast_no_longer_waiting.html", broadcast_id=pressed.broadcast_id)
        return
    context.user_data[STEP] = ("version", (pressed.broadcast_id, pressed.language))
    await edit_or_reply(update, "broadcast_ask_version.html", broadcast_id=pressed.broadcast_id,
                        language_name=own_name(pressed.language))


async def _version_received(update: Update, context: ContextTypes.DEFAULT_TYPE, *, broadcast_id: int,
                            language: str) -> None:
    """The alert in another language: checked like the original (the question stays open if it
    is refused), then every version is previewed as it will be sent."""
    content = _content_of(update.effective_message)
    if content is None:
        await reply(update, "broadcast_not_text.html")
        return
    services = services_of(context)
    support_pointer = services.settings.support_pointer_under_alerts
    name = own_name(language)
    try:
        async with services.db.transaction() as session:
            made = await drafts.set_version(session, broadcast_id=broadcast_id, language=language, text=content.text,
                                            check_length=_length_check(support_pointer))
    except TextTooLong as problem:
        await reply(update, "broadcast_version_too_long.html", problem=problem, language_name=name)
        return
    except TelegramHtmlError as problem:
        await reply(update, "broadcast_version_bad_html.html", problem=problem, language_name=name)
        return
    except BroadcastError:
        context.user_data.pop(STEP, None)
        await reply(update, "broadcast_no_longer_waiting.html", broadcast_id=broadcast_id)
        return
    context.user_data.pop(STEP, None)
    previews = [compose_broadcast(made.broadcast, made.mailing_list, support_pointer=support_pointer)]
    previews += [compose_broadcast(made.broadcast, made.mailing_list, support_pointer=support_pointer,
                                   version=Version(code, text)) for code, text in made.versions.items()]
    for preview in previews:
        await send_outgoing(context.bot, update.effective_chat.id, preview)
    await _confirm(update, context, made, edit=False)


async def _time_received(update: Update, context: ContextTypes.DEFAULT_TYPE, *, broadcast_id: int) -> None:
    """The time typed for a scheduled broadcast: echoed in full, to be confirmed (the question
    stays open, so typing another time works too)."""
    services = services_of(context)
    settings = services.settings
    typed = (update.effective_message.text or "").strip()[:64]
    try:
        send_at = parse_moment(typed, now=services.clock.now(), tz=settings.tz)
    except DateProblem as problem:
        await reply(update, "broadcast_bad_time.html", problem=problem, tz=settings.tz,
                    timezone=settings.timezone)
        return
    async with services.db.transaction() as session:
        summary = await broadcast_summary(session, broadcast_id=broadcast_id)
    if summary is None or summary.status is not BroadcastStatus.DRAFT:
        context.user_data.pop(STEP, None)
        await reply(update, "broadcast_no_longer_waiting.html", broadcast_id=broadcast_id)
        return
    moment = str(int(send_at.timestamp()))
    buttons = [[(label("broadcast_schedule_then"), BroadcastScheduleAnswer.build("yes", broadcast_id, moment)),
                (label("broadcast_other_time"), BroadcastScheduleAnswer.build("other", broadcast_id, moment))]]
    await reply(update, "broadcast_confirm_time.html", broadcast_id=broadcast_id, title=summary.list_title,
                send_at=send_at, tz=settings.tz, buttons=buttons)


async def schedule_time_answered(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Schedule it then, or Another time, under the echoed time."""
    query = update.callback_query
    await query.answer()
    pressed = BroadcastScheduleAnswer.parse(query.data)
    services = services_of(context)
    settings = services.settings
    broadcast_id = pressed.broadcast_id
    if pressed.answer == "other":
        context.user_data[STEP] = ("time", broadcast_id)
        await edit_or_reply(update, "broadcast_ask_time.html", broadcast_id=broadcast_id, timezone=settings.timezone)
        return
    send_at = dt.datetime.fromtimestamp(int(pressed.send_at), dt.UTC)
    async with services.db.transaction() as session:
        needing = await reviews.recipients_needing_approval(session, broadcast_id=broadcast_id,
                                                            above=settings.approval_above)
    if needing is not None:
        context.user_data.pop(STEP, None)
        await broadcast_reviews.submit_for_approval(update, context, broadcast_id=broadcast_id, send_at=send_at,
                                                    count=needing)
        return
    try:
        async with services.db.transaction() as session:
            await schedule_broadcast(session, broadcast_id=broadcast_id, send_at=send_at, now=services.clock.now())
            summary = await broadcast_summary(session, broadcast_id=broadcast_id)
    except TimeInPast:
        # Pressed after the moment itself: the question stays open for another time.
        context.user_data[STEP] = ("time", broadcast_id)
        # The moment pressed stands for what was typed, written in the chat's language.
        problem = DateProblem(DateProblemKind.PAST, dated(send_at, settings.tz, "dd MMMM y HH:mm"))
        await edit_or_reply(update, "broadcast_bad_time.html", problem=problem, tz=settings.tz,
                            timezone=settings.timezone)
        return
    except BroadcastError:
        await edit_or_reply(update, "broadcast_no_longer_waiting.html", broadcast_id=broadcast_id)
        return
    context.user_data.pop(STEP, None)
    services.broadcaster.wake()
    await edit_or_reply(update, "broadcast_scheduled.html", broadcast_id=broadcast_id, title=summary.list_title,
                        send_at=send_at, tz=settings.tz)


async def draft_answered(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Send now, Schedule or Drop under the preview."""
    query = update.callback_query
    await query.answer()
    pressed = BroadcastDraftAnswer.parse(query.data)
    broadcast_id = pressed.broadcast_id
    services = services_of(context)
    if pressed.answer is DraftAnswer.SEND:
        async with services.db.transaction() as session:
            needing = await reviews.recipients_needing_approval(session, broadcast_id=broadcast_id,
                                                                above=services.settings.approval_above)
        if needing is not None:
            await broadcast_reviews.submit_for_approval(update, context, broadcast_id=broadcast_id, send_at=None,
                                                        count=needing)
            return
    try:
        async with services.db.transaction() as session:
            draft = await drafts.answer_draft(session, broadcast_id=broadcast_id, answer=pressed.answer,
                                              now=services.clock.now())
    except BroadcastError:
        await edit_or_reply(update, "broadcast_no_longer_waiting.html", broadcast_id=broadcast_id)
        return
    if pressed.answer is DraftAnswer.SEND:
        services.broadcaster.wake()
        await edit_or_reply(update, "broadcast_started.html", broadcast_id=broadcast_id, title=draft.list_title)
    elif pressed.answer is DraftAnswer.DROP:
        await edit_or_reply(update, "broadcast_dropped.html")
    else:
        context.user_data[STEP] = ("time", broadcast_id)
        await edit_or_reply(update, "broadcast_ask_time.html", broadcast_id=broadcast_id,
                            timezone=services.settings.timezone)


async def urgency_pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """"Rings even in quiet hours" (or back) under the preview: the question says which it is now."""
    query = update.callback_query
    await query.answer()
    pressed = BroadcastUrgency.parse(query.data)
    services = services_of(context)
    try:
        async with services.db.transaction() as session:
            made = await drafts.set_urgency(session, broadcast_id=pressed.broadcast_id,
                                            urgent=pressed.ring == "urgent")
    except BroadcastError:
        await edit_or_reply(update, "broadcast_no_longer_waiting.html", broadcast_id=pressed.broadcast_id)
        return
    await _confirm(update, context, made, edit=True)


async def _show_broadcasts(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    services = services_of(context)
    async with services.db.transaction() as session:
        items = await recent_broadcasts(session)
    await edit_or_reply(update, "broadcasts.html", items=items, tz=services.settings.tz,
                        rate=services.settings.sending_rate, buttons=_control_buttons(items))


async def broadcasts_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/broadcasts: recent and scheduled broadcasts, with their progress."""
    await _show_broadcasts(update, context)


async def control_pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Pause, Resume or Cancel under /broadcasts: change the status, then redraw the list."""
    query = update.callback_query
    await query.answer()
    pressed = BroadcastControl.parse(query.data)
    services = services_of(context)
    async with services.db.transaction() as session:
        await change_broadcast(session, broadcast_id=pressed.broadcast_id, action=pressed.action,
                                          now=services.clock.now())
    services.broadcaster.wake()
    await _show_broadcasts(update, context)
