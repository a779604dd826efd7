"""Telegram's command menu: supporters' commands for every private chat, and, in each organiser's
own private chat, the organisers' commands as well (BotCommandScopeChat, the more specific scope,
which Telegram shows instead of the general one). Texts: messages/command_menu.txt and
messages/command_menu_organisers.txt, one `name - description` a line.

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

logger = logging.getLogger(__name__)


def _menu(template: str) -> list[BotCommand]:
    menu = []
    for line in render(template).splitlines():
        name, _, description = line.partition(" - ")
        menu.append(BotCommand(name.strip(), description.strip()))
    return menu


def supporter_menu() -> list[BotCommand]:
    """The menu Telegram shows supporters, from `messages/command_menu.txt`."""
    return _menu("command_menu.txt")


def organiser_menu() -> list[BotCommand]:
    """An organiser's menu: the supporters' commands and then their own (a chat scope replaces
    the general menu, so it holds both)."""
    return supporter_menu() + _menu("command_menu_organisers.txt")


async def set_supporter_menu(bot: Bot) -> None:
    await bot.set_my_commands(supporter_menu(), scope=BotCommandScopeAllPrivateChats())


async def show_organiser_menu(bot: Bot, user_id: int) -> bool:
    """The organisers' menu in `user_id`'s private chat; False (logged) if Telegram refused."""
    try:
        return await bot.set_my_commands(organiser_menu(), scope=BotCommandScopeChat(user_id))
    except TelegramError as problem:
        logger.warning("could not show the organisers' command menu to user %s: %s", user_id, problem)
        return False


async def hide_organiser_menu(bot: Bot, user_id: int) -> bool:
    """Back to the supporters' menu in `user_id`'s private chat; False (logged) if Telegram refused."""
    try:
        return await bot.delete_my_commands(scope=BotCommandScopeChat(user_id))
    except TelegramError as problem:
        logger.warning("could not take the organisers' command menu from user %s: %s", user_id, problem)
        return False


async def update_organiser_menus(bot: Bot, *, show: Iterable[int], hide: Iterable[int]) -> None:
    for user_id in hide:
        await hide_organiser_menu(bot, user_id)
    for user_id in show:
        await show_organiser_menu(bot, user_id)
