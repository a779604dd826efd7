"""Telegram's command menu: supporters see theirs, each organiser their own in their private chat,
kept up to date as organisers are added, removed or forgotten, and at start-up from ORGANISER_IDS
(issue 13); and the local Bot API server's setMyCommands, getMyCommands and deleteMyCommands with
scopes and languages, as Telegram documents them."""

from __future__ import annotations

import pytest
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
    BotCommandScopeChatMember,
)
from telegram.error import BadRequest

from bot.local_api.server import LocalBotApi
from tests.builders import make_list
from tests.conftest import ORGANISER_ID, TOKEN, bot_running

ORGANISER_COMMANDS = {"broadcast", "broadcasts", "newevent", "editevent", "cancelevent", "newlist", "organiser"}


def bot_for(server: LocalBotApi) -> Bot:
    return Bot(TOKEN, base_url=f"{server.url}/bot")


async def menu_read_back(server: LocalBotApi, user_id: int) -> set[str]:
    """The organisers' menu of a private chat as the bot can read it back (empty: none of its own)."""
    async with bot_for(server) as bot:
        return {command.command for command in await bot.get_my_commands(scope=BotCommandScopeChat(user_id))}


# ------------------------------------------------------------------ the local Bot API server


@pytest.fixture
async def server():
    api = LocalBotApi(token=TOKEN)
    await api.start()
    yield api
    await api.stop()


async def test_menus_are_kept_per_scope_and_language_and_read_back(server):
    everyone = [BotCommand("help", "What this bot can do")]
    private = [BotCommand("start", "Welcome"), BotCommand("help", "What this bot can do")]
    own = [BotCommand("broadcast", "Send an alert")]
    async with bot_for(server) as bot:
        assert await bot.get_my_commands() == ()  # nothing set: an empty list
        await bot.set_my_commands(everyone)
        await bot.set_my_commands(private, scope=BotCommandScopeAllPrivateChats())
        await bot.set_my_commands(own, scope=BotCommandScopeChat(7))
        await bot.set_my_commands([BotCommand("hilfe", "Hilfe")], scope=BotCommandScopeChat(7), language_code="de")
        await bot.set_my_commands([BotCommand("rules", "Rules")], scope=BotCommandScopeChatMember(-100, 7))
        assert [c.command for c in await bot.get_my_commands(scope=BotCommandScopeChat(7))] == ["broadcast"]
        assert [c.command for c in await bot.get_my_commands(scope=BotCommandScopeChat(7), language_code="de")] == [
            "hilfe"]
        assert [c.command for c in await bot.get_my_commands(scope=BotCommandScopeAllPrivateChats())] == [
            "start", "help"]
        assert await bot.get_my_commands(scope=BotCommandScopeAllGroupChats()) == ()
    # The most specific scope wins, the person's language before none.
    assert server.menu_seen_in(7) == ["broadcast"]
    assert server.menu_seen_in(7, language_code="de") == ["hilfe"]
    assert server.menu_seen_in(8) == ["start", "help"]
    assert server.menu_seen_in(-100, user_id=7) == ["rules"]
    assert server.menu_seen_in(-100, user_id=8) == ["help"]
    async with bot_for(server) as bot:
        assert await bot.delete_my_commands(scope=BotCommandScopeChat(7))
        assert await bot.get_my_commands(scope=BotCommandScopeChat(7)) == ()
        await bot.set_my_commands([], scope=BotCommandScopeAllPrivateChats())  # an empty list deletes too
    assert server.menu_seen_in(7) == ["help"]  # back to the default scope
    assert server.menu_seen_in(7, language_code="de") == ["hilfe"]


async def test_a_malformed_scope_or_language_is_refused_in_telegrams_words(server):
    async with bot_for(server) as bot:
        with pytest.raises(BadRequest, match="(?i)can't parse BotCommandScope JSON object"):
            await bot.set_my_commands([BotCommand("help", "Help")], api_kwargs={"scope": '{"type": "planet"}'})
        with pytest.raises(BadRequest, match="(?i)invalid language code"):
            await bot.set_my_commands([BotCommand("help", "Help")], language_code="english")


# ------------------------------------------------------------------ the bot's menus


async def test_supporters_and_organisers_each_see_their_own_menu(running_bot):
    server = running_bot.server
    supporter_menu = set(server.menu_seen_in(101))
    assert {"start", "help", "support", "lists"} <= supporter_menu
    assert not supporter_menu & ORGANISER_COMMANDS
    organiser_menu = set(server.menu_seen_in(ORGANISER_ID))
    assert ORGANISER_COMMANDS | supporter_menu == organiser_menu  # theirs as well as everyone's
    assert await menu_read_back(server, ORGANISER_ID) == organiser_menu


async def test_an_organiser_added_or_removed_in_telegram_gains_or_loses_the_menu(running_bot, organiser):
    server = running_bot.server
    assert not set(server.menu_seen_in(555)) & ORGANISER_COMMANDS
    await organiser.say("/organiser add 555")
    assert set(server.menu_seen_in(555)) >= ORGANISER_COMMANDS
    await organiser.say("/organiser remove 555")
    assert await menu_read_back(server, 555) == set()
    assert not set(server.menu_seen_in(555)) & ORGANISER_COMMANDS
    # Those in ORGANISER_IDS cannot be removed in Telegram, and keep theirs.
    await organiser.say(f"/organiser remove {ORGANISER_ID}")
    assert set(server.menu_seen_in(ORGANISER_ID)) >= ORGANISER_COMMANDS


async def test_an_organiser_who_forgets_loses_the_menu_and_mydata_showed_it(running_bot, organiser):
    server = running_bot.server
    await organiser.say("/organiser add 555")
    added = running_bot.person(555)
    await make_list(running_bot.db, "protests", "Protests")
    await added.say("/subscribe protests")
    assert "shows the commands for organisers" in await added.say("/mydata")
    await added.say("/forget")
    await added.press("Yes, erase")
    assert await menu_read_back(server, 555) == set()


async def test_an_organisers_start_sets_their_menu_again(running_bot, organiser):
    # Telegram refuses a menu for a chat that never started the bot; the first /start repairs it.
    running_bot.server.command_menus.clear()
    await organiser.send("/start")
    assert await menu_read_back(running_bot.server, ORGANISER_ID) >= ORGANISER_COMMANDS


async def test_organiser_ids_changed_between_runs_move_the_menu_at_start_up(database, telegram, clock, settings):
    async with bot_running(database, telegram, clock, settings) as bot:
        await bot.person(ORGANISER_ID).say("/organiser add 555")
    assert await menu_read_back(telegram, ORGANISER_ID) >= ORGANISER_COMMANDS
    # The operator replaces 900 with 901 in ORGANISER_IDS and restarts the bot.
    changed = settings.model_copy(update={"organiser_ids": frozenset({901})})
    async with bot_running(database, telegram, clock, changed):
        pass
    assert await menu_read_back(telegram, ORGANISER_ID) == set()
    assert await menu_read_back(telegram, 901) >= ORGANISER_COMMANDS
    assert await menu_read_back(telegram, 555) >= ORGANISER_COMMANDS  # added in Telegram: still one
