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
    return await send_rendered(update, render(template, **context), buttons=buttons)


async def edit_or_reply(update: Update, template: str, /, *, buttons: Keyboard | None = None,
                        **context: object) -> None:
    """After a button press, change the message the button was on; otherwise reply."""
    await send_rendered(update, render(template, **context), buttons=buttons, in_place=True)


async def send_rendered(update: Update, text: str, /, *, buttons: Keyboard | None = None,
                        in_place: bool = False) -> Message | None:
    """A text already rendered from a template (for a handler that had to render it to check it):
    a new message in the update's chat, or with `in_place`, after a button press, the message the
    button was on changed to it."""
    query = update.callback_query
    if in_place and query is not None and query.message is not None:
        try:
            await query.edit_message_text(text, reply_markup=keyboard(buttons))
            return None
        except BadRequest as error:
            # Pressing a button twice asks for the same text again: nothing to change.
            if "not modified" in error.message:
                return None
            raise
    chat = update.effective_chat
    assert chat is not None
    return await chat.send_message(text, reply_markup=keyboard(buttons))


__all__ = ["Keyboard", "edit_or_reply", "keyboard", "label", "reply", "send_rendered"]
