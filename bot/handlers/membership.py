"""Telegram telling us about chats: blocks, unblocks, removals and group migrations."""

from __future__ import annotations

import logging

from telegram import ChatMember, Update
from telegram.ext import ContextTypes

from bot.services import services_of
from storage.lists.chats import mark_chat_reachable, mark_chat_unreachable, move_chat

logger = logging.getLogger(__name__)

GONE = (ChatMember.BANNED, ChatMember.LEFT)


async def bot_membership_changed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A person blocked or unblocked the bot, or a group removed or re-added it."""
    change = update.my_chat_member
    chat_id = change.chat.id
    services = services_of(context)
    async with services.db.transaction() as session:
        if change.new_chat_member.status in GONE:
            await mark_chat_unreachable(session, telegram_id=chat_id, now=services.clock.now())
        else:
            await mark_chat_reachable(session, telegram_id=chat_id)


async def group_migrated(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A group became a supergroup: its subscriptions follow it to the new chat id."""
    message = update.effective_message
    services = services_of(context)
    async with services.db.transaction() as session:
        await move_chat(session, old_telegram_id=message.chat.id,
                        new_telegram_id=message.migrate_to_chat_id)
    # Its language went with it.
    services.languages.changed(message.chat.id)
    services.languages.changed(message.migrate_to_chat_id)
