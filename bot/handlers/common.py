"""Small pieces the handlers share: who is asking, may they, and what did they type.

Who may do what is declared once, at the wiring (`bot.app`), and enforced by `guard_handler`
here: no handler checks permission itself.
"""

from __future__ import annotations

import enum
import functools
import logging
from collections.abc import Awaitable, Callable, Sequence

from telegram import Update
from telegram.constants import ChatMemberStatus, ChatType
from telegram.ext import BaseHandler, ContextTypes, ConversationHandler

from bot.services import services_of
from bot.telegram_io.replies import reply
from storage.lists.models import ChatKind
from storage.lists.organisers import is_organiser

logger = logging.getLogger(__name__)

MAX_ARGUMENT_LENGTH = 64

Handler = Callable[[Update, ContextTypes.DEFAULT_TYPE], Awaitable[None]]


def chat_kind(update: Update) -> ChatKind:
    assert update.effective_chat is not None
    return ChatKind(update.effective_chat.type)


def is_private(update: Update) -> bool:
    return update.effective_chat is not None and update.effective_chat.type == ChatType.PRIVATE


def argument_text(context: ContextTypes.DEFAULT_TYPE) -> str:
    return " ".join(context.args or []).strip()


async def may_manage_chat(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    """In a private chat the person decides; in a group only its administrators do."""
    chat = update.effective_chat
    assert chat is not None
    if chat.type == ChatType.PRIVATE:
        return True
    message = update.effective_message
    # An anonymous administrator writes as the group itself.
    if message is not None and message.sender_chat is not None and message.sender_chat.id == chat.id:
        return True
    user = update.effective_user
    if user is None:
        return False
    member = await context.bot.get_chat_member(chat.id, user.id)
    return member.status in (ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER)


class Who(enum.Enum):
    """Who may use a command, a button or a conversation's step; declared once, at the wiring."""

    ANYONE = "anyone"
    CHAT_MANAGERS = "chat managers"  # the person in a private chat; a group's administrators
    ORGANISERS = "organisers"


async def asker_is_organiser(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    user = update.effective_user
    if user is None:
        return False
    services = services_of(context)
    async with services.db.transaction() as session:
        return await is_organiser(session, user_id=user.id, configured=services.settings.organiser_ids)


async def _refuse(update: Update, context: ContextTypes.DEFAULT_TYPE, who: Who, name: str,
                  drafts: Sequence[str]) -> None:
    if context.user_data is not None:
        for key in drafts:
            context.user_data.pop(key, None)
    if update.callback_query is not None:
        await update.callback_query.answer()
    if who is Who.ORGANISERS:
        # Who and which handler, never what was typed.
        user_id = update.effective_user.id if update.effective_user else None
        logger.warning("refused organiser command %s from user %s", name, user_id)
        await reply(update, "refused_organiser.html")
    else:
        await reply(update, "refused_group_admin.html")


def guarded(callback: Callable[..., Awaitable[object]], who: Who, *,
            drafts: Sequence[str] = ()) -> Callable[..., Awaitable[object]]:
    """`callback`, run only when the asker is `who`, checked afresh at every update.

    A refusal answers politely, drops `drafts` (user_data keys of half-finished work, so that
    nothing begun before a removal can be finished after it) and returns ConversationHandler.END,
    which inside a conversation also ends it (elsewhere the returned value is ignored).
    """
    if who is Who.ANYONE:
        return callback
    allowed = asker_is_organiser if who is Who.ORGANISERS else may_manage_chat

    @functools.wraps(callback)
    async def guard(update: Update, context: ContextTypes.DEFAULT_TYPE) -> object:
        if await allowed(update, context):
            return await callback(update, context)
        await _refuse(update, context, who, callback.__name__, drafts)
        return ConversationHandler.END

    guard.who = who  # so the wiring can be read back: which handlers are whose (tests/test_access.py)
    return guard


def guard_handler(handler: BaseHandler, who: Who, *, drafts: Sequence[str] = ()) -> BaseHandler:
    """Applies `guarded` to a handler's callback as it is registered; for a ConversationHandler,
    to every entry point, every state's handlers and every fallback, so that each step checks."""
    if isinstance(handler, ConversationHandler):
        steps = [*handler.entry_points, *handler.fallbacks]
        for state_handlers in handler.states.values():
            steps.extend(state_handlers)
        for step in steps:
            guard_handler(step, who, drafts=drafts)
        return handler
    handler.callback = guarded(handler.callback, who, drafts=drafts)
    return handler


def argument_within_limit(handler: Handler) -> Handler:
    """Over-long arguments get an answer instead of a search through the database."""

    @functools.wraps(handler)
    async def guarded(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if len(argument_text(context)) > MAX_ARGUMENT_LENGTH:
            await reply(update, "too_long.html", limit=MAX_ARGUMENT_LENGTH)
            return
        await handler(update, context)

    return guarded
