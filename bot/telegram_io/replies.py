"""Sending rendered templates: the only way handlers put text in front of people."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest

from messages import label, render

Keyboard = list[list[tuple[str, str]]]  # rows of (label, callback_data)


def keyboard(rows: Keyboard | None) -> InlineKeyboardMarkup | None:
    if not rows:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(text, callback_data=data) for text, data in row] for row in rows]
    )


async def reply(update: Update, template: str, /, *, buttons: Keyboard | None = None, **context: object) -> Message:
    """Answer in the chat the update came from."""
    chat = update.effective_chat
    assert chat is not None
    return await chat.send_message(render(template, **context), reply_markup=keyboard(buttons))


async def edit_or_reply(update: Update, template: str, /, *, buttons: Keyboard | None = None,
                        **context: object) -> None:
    """After a button press, change the message the button was on; otherwise reply."""
    query = update.callback_query
    text = render(template, **context)
    if query is not None and query.message is not None:
        try:
            await query.edit_message_text(text, reply_markup=keyboard(buttons))
            return
        except BadRequest as error:
            # Pressing a button twice asks for the same text again: nothing to change.
            if "not modified" in error.message:
                return
            raise
    await reply(update, template, buttons=buttons, **context)


__all__ = ["Keyboard", "edit_or_reply", "keyboard", "label", "reply"]
