"""The chat's language: every update is answered in it (`speak_the_chats_language`, which runs
before any other handler), and /language chooses it, with a button for each language the bot
speaks, in that language's own name."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot.handlers.callback_data import LanguageChoice
from bot.handlers.common import argument_text, chat_kind, is_private
from bot.services import services_of
from bot.telegram_io.replies import Keyboard, edit_or_reply, label, reply
from messages import i18n


def _answered_chat_id(update: Update) -> int | None:
    """The chat whose language the answer is in: an inline query has no chat, and is answered
    as its sender's private chat with the bot (whose id is theirs) would be."""
    if update.effective_chat is not None:
        return update.effective_chat.id
    if update.effective_user is not None:
        return update.effective_user.id
    return None


def _app_language(update: Update) -> str | None:
    return update.effective_user.language_code if update.effective_user is not None else None


async def speak_the_chats_language(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Before the handlers of every update (messages, button presses, inline queries, deep links):
    whatever they render is in the chat's stored language, else the sender's Telegram language
    when the bot speaks it, else English. The stored one is cached (storage/lists/languages.py),
    so this costs no query once the chat was seen. Each update runs in a task of its own, so the
    language set here is this update's alone."""
    if not isinstance(update, Update):
        return
    chat_id = _answered_chat_id(update)
    stored = await services_of(context).languages.stored(chat_id) if chat_id is not None else None
    i18n.set_language(i18n.choose_language(stored, _app_language(update)))


def adoptable_language(update: Update) -> str | None:
    """The sender's Telegram language, when the bot has a catalogue for it: what a chat that
    never chose gets stored when it joins a list or answers an event (the rule is in
    storage/lists/languages.py `adopt_app_language`); None otherwise."""
    code = i18n.choose_language(None, _app_language(update))
    return code if code in i18n.translated_languages() else None


def _language_buttons(current: str) -> Keyboard:
    return [[(label("language_choice", name=i18n.own_name(code), current=code == current),
              LanguageChoice.build(code))] for code in i18n.available_languages()]


def _spoken(typed: str) -> str | None:
    """The language someone typed after /language: its code ("bn", "bn-BD"), its own name
    ("বাংলা") or its English one ("Bangla"); None if the bot does not speak it."""
    wanted = typed.strip().lower()
    for code in i18n.available_languages():
        if wanted in (code, i18n.own_name(code).lower(), i18n.english_name(code).lower()):
            return code
    primary = wanted.replace("_", "-").split("-")[0]
    return primary if primary in i18n.available_languages() else None


async def _show(update: Update, context: ContextTypes.DEFAULT_TYPE, *, changed: bool) -> None:
    stored = await services_of(context).languages.stored(update.effective_chat.id)
    current = i18n.current_language()
    others = [code for code in i18n.available_languages() if code != current]
    await edit_or_reply(update, "language.html", changed=changed, chosen=stored is not None,
                        group=not is_private(update), own_name=i18n.own_name(current),
                        example_code=others[0] if others else current, buttons=_language_buttons(current))


async def _choose(update: Update, context: ContextTypes.DEFAULT_TYPE, code: str) -> None:
    await services_of(context).languages.choose(telegram_id=update.effective_chat.id, kind=chat_kind(update),
                                                language=code)
    # The answer is already in the new language.
    i18n.set_language(code)
    await _show(update, context, changed=True)


async def _unknown(update: Update, typed: str) -> None:
    await reply(update, "language_unknown.html", code=typed,
                languages=[{"code": code, "name": i18n.own_name(code)} for code in i18n.available_languages()])


async def language_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/language shows the chat's language with a button for each; /language bn chooses one."""
    typed = argument_text(context)[:32]
    if not typed:
        await _show(update, context, changed=False)
        return
    code = _spoken(typed)
    if code is None:
        await _unknown(update, typed)
        return
    await _choose(update, context, code)


async def language_pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A language's button under /language."""
    await update.callback_query.answer()
    pressed = LanguageChoice.parse(update.callback_query.data).code
    if pressed not in i18n.available_languages():
        # A catalogue taken away since the buttons were drawn.
        await _unknown(update, pressed)
        return
    await _choose(update, context, pressed)
