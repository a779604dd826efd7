"""What the bot does with everything no command handler took: answer clearly, or ignore on purpose."""

from __future__ import annotations

import logging

from rapidfuzz import process
from telegram import Update
from telegram.ext import ContextTypes

from bot.handlers.common import is_private
from bot.telegram_io.replies import reply

logger = logging.getLogger(__name__)


async def unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A command we do not have: name the nearest ones we do."""
    word = update.effective_message.text.split()[0][1:]
    command, _, addressee = word.partition("@")
    if addressee and addressee.lower() != (context.bot.username or "").lower():
        return  # meant for another bot in the same group
    known = context.application.bot_data["command_names"]
    nearest = [name for name, _score, _i in process.extract(command.lower(), known, limit=2, score_cutoff=50)]
    await reply(update, "unknown_command.html", command=command[:32], nearest=nearest)


async def text_expected(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Plain text, stickers, photos and the like in a private chat: say what the bot understands."""
    await reply(update, "text_expected.html")


async def ignored(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Edited messages, channel posts and group chatter are ignored on purpose.

    An edit does not run a command a second time, and the bot reads no conversation that
    was not addressed to it.
    """
    logger.debug("ignored update %s", update.update_id)


async def stale_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A button from an old message whose meaning we no longer know."""
    await update.callback_query.answer()
    if is_private(update):
        await reply(update, "stale_button.html")


async def report_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log the failure and tell the person something went wrong, so nobody waits in silence."""
    logger.error("error while handling an update", exc_info=context.error)
    if isinstance(update, Update) and update.effective_chat is not None:
        try:
            await reply(update, "error.html")
        except Exception:  # the chat itself may be what failed; the log has the details
            logger.warning("could not tell chat about the error", exc_info=True)
