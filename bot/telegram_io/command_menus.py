"""Telegram's command menu: supporters' commands for every private chat, and, in each organiser's
own private chat, the organisers' commands as well (BotCommandScopeChat, the more specific scope,
which Telegram shows instead of the general one). Texts: messages/command_menu.txt and
messages/command_menu_organisers.txt, one `name - description` a line.

Each menu is set once without a language (English, what Telegram shows anyone whose app is in a
language the bot does not speak) and once for every language with a catalogue, under its
`language_code`, so a person sees the menu in their Telegram app's language.

A menu that cannot be set or taken (Telegram refuses a chat that never started the bot, or is
unreachable) is logged and left: the next start-up, which sets every organiser's menu again, or
the organiser's next /start, repairs it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from telegram import Bot, BotCommand, BotCommandScopeAllPrivateChats, BotCommandScopeChat
from telegram.error import TelegramError

from messages import render
from messages.i18n import translated_languages

logger = logging.getLogger(__name__)


def _menu(template: str, language: str | None) -> list[BotCommand]:
    menu = []
    for line in render(template, language=language).splitlines():
        name, _, description = line.partition(" - ")
        menu.append(BotCommand(name.strip(), description.strip()))
    return menu


def _languages() -> list[str | None]:
    """None (no language_code: the menu for everyone else), then each translated language."""
    return [None, *sorted(translated_languages())]


def supporter_menu(language: str | None = None) -> list[BotCommand]:
    """The menu Telegram shows supporters, from `messages/command_menu.txt` (None: in English)."""
    return _menu("command_menu.txt", language)


def organiser_menu(language: str | None = None) -> list[BotCommand]:
    """An organiser's menu: the supporters' commands and then their own (a chat scope replaces
    the general menu, so it holds both)."""
    return supporter_menu(language) + _menu("command_menu_organisers.txt", language)


async def set_supporter_menu(bot: Bot) -> None:
    for language in _languages():
        await bot.set_my_commands(supporter_menu(language), scope=BotCommandScopeAllPrivateChats(),
                                  language_code=language)


async def show_organiser_menu(bot: Bot, user_id: int) -> bool:
    """The organisers' menu in `user_id`'s private chat, in every language; False (logged) if
    Telegram refused."""
    try:
        for language in _languages():
            await bot.set_my_commands(organiser_menu(language), scope=BotCommandScopeChat(user_id),
                                      language_code=language)
        return True
    except TelegramError as problem:
        logger.warning("could not show the organisers' command menu to user %s: %s", user_id, problem)
        return False


async def hide_organiser_menu(bot: Bot, user_id: int) -> bool:
    """Back to the supporters' menu in `user_id`'s private chat, in every language; False
    (logged) if Telegram refused."""
    try:
        for language in _languages():
            await bot.delete_my_commands(scope=BotCommandScopeChat(user_id), language_code=language)
        return True
    except TelegramError as problem:
        logger.warning("could not take the organisers' command menu from user %s: %s", user_id, problem)
        return False


async def update_organiser_menus(bot: Bot, *, show: Iterable[int], hide: Iterable[int]) -> None:
    for user_id in hide:
        await hide_organiser_menu(bot, user_id)
    for user_id in show:
        await show_organiser_menu(bot, user_id)
