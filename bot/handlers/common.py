"""Small pieces the handlers share: who is asking, may they, and what did they type."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable

from telegram import Update
from telegram.constants import ChatMemberStatus, ChatType
from telegram.ext import ContextTypes

from bot.replies import reply
from bot.services import services_of
from storage.models import ChatKind
from storage.organisers import is_organiser

logger = logging.getLogger(__name__)

MAX_ARGUMENT_LENGTH = 64
# A row id in callback data, for CallbackQueryHandler patterns: a client may send back any 1-64
# bytes, and ids are INTEGER columns (32 bits on PostgreSQL), which ten digits can overflow.
ROW_ID = r"\d{1,9}"

Handler = Callable[[Update, ContextTypes.DEFAULT_TYPE], Awaitable[None]]


def chat_kind(update: Update) -> ChatKind:
    assert update.effective_chat is not None
    return ChatKind(update.effective_chat.type)


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


def chat_managers_only(handler: Handler) -> Handler:
    """Group subscriptions are changed by the group's administrators, not by any member."""

    @functools.wraps(handler)
    async def guarded(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if await may_manage_chat(update, context):
            await handler(update, context)
            return
        if update.callback_query is not None:
            await update.callback_query.answer()
        await reply(update, "refused_group_admin.html")

    return guarded


async def asker_is_organiser(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    user = update.effective_user
    if user is None:
        return False
    services = services_of(context)
    async with services.db.transaction() as session:
        return await is_organiser(session, user_id=user.id, configured=services.settings.organiser_ids)


def organisers_only(handler: Handler) -> Handler:
    """Refuses politely and logs the attempt (who and which command, never what was typed)."""

    @functools.wraps(handler)
    async def guarded(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if await asker_is_organiser(update, context):
            await handler(update, context)
            return
        user_id = update.effective_user.id if update.effective_user else None
        logger.warning("refused organiser command %s from user %s", handler.__name__, user_id)
        if update.callback_query is not None:
            await update.callback_query.answer()
        await reply(update, "refused_organiser.html")

    return guarded


def argument_within_limit(handler: Handler) -> Handler:
    """Over-long arguments get an answer instead of a search through the database."""

    @functools.wraps(handler)
    async def guarded(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if len(argument_text(context)) > MAX_ARGUMENT_LENGTH:
            await reply(update, "too_long.html", limit=MAX_ARGUMENT_LENGTH)
            return
        await handler(update, context)

    return guarded
