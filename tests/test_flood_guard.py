"""One chat must not slow down the others: a backlog in one chat holds no global slot, and a chat
that floods the bot is told once to slow down while its excess is dropped."""

from __future__ import annotations

import datetime as dt
import logging

from bot.local_api.faults import ChatFault
from tests.conftest import bot_running

FLOODER = 555_001
OTHER = 555_002
HELP_START = "<b>What this bot does</b>"


def help_answers(messages: list[dict]) -> list[dict]:
    return [m for m in messages if m["text"].startswith(HELP_START)]


def slow_downs(messages: list[dict]) -> list[dict]:
    return [m for m in messages if "more than I can keep up with" in m["text"]]


async def test_a_chat_with_a_long_backlog_does_not_hold_up_another_chat(database, telegram, clock, settings):
    # More slow updates from one chat than python-telegram-bot has slots (64); no flood guard here.
    unguarded = settings.model_copy(update={"flood_limit": 1000})
    async with bot_running(database, telegram, clock, unguarded) as bot:
        flooder, other = bot.person(FLOODER), bot.person(OTHER)
        telegram.set_fault(FLOODER, ChatFault(kind="delay", delay=2.0))
        for _ in range(70):
            telegram.user_message(FLOODER, text="/help")
        other_help = telegram.user_message(OTHER, text="/help")
        # Long enough for the old way, where it came after seven of the flooder's slow answers.
        await bot.processed.wait_for(other_help["update_id"], timeout=30)
        # The other chat was answered while the flooder's updates were still waiting their turn
        # (one at a time, two seconds each), not after the backlog ahead of it had been worked off.
        assert len(help_answers(other.messages)) == 1
        assert len(help_answers(flooder.messages)) <= 2
        telegram.clear_fault(FLOODER)
        await telegram.wait_until(lambda: len(help_answers(flooder.messages)) == 70, timeout=30)


async def test_a_flooding_chat_gets_one_slow_down_and_its_excess_is_dropped(database, telegram, clock, settings,
                                                                            caplog):
    caplog.set_level(logging.INFO)
    guarded = settings.model_copy(update={"flood_limit": 20, "flood_window_seconds": 10.0})
    async with bot_running(database, telegram, clock, guarded) as bot:
        flooder, other = bot.person(FLOODER), bot.person(OTHER)
        for _ in range(30):
            telegram.user_message(FLOODER, text="/help")
        assert (await other.say("/help")).startswith(HELP_START)
        await telegram.wait_until(lambda: len(help_answers(flooder.messages)) == 20)
        # Button presses during the flood are dropped too, but answered so the client stops
        # spinning: as many as the limit allows in a window, no more.
        for _ in range(25):
            telegram.press_button(FLOODER, flooder.messages[0], "join:1")
        await telegram.wait_until(lambda: len(telegram.calls("answerCallbackQuery")) == 20)
        await other.say("/help")  # every update pushed before it has been taken and dealt with

        assert len(help_answers(flooder.messages)) == 20
        assert len(slow_downs(flooder.messages)) == 1
        answers = telegram.calls("answerCallbackQuery")
        assert len(answers) == 20 and all("Too fast" in call.params["text"] for call in answers)
        assert len(help_answers(other.messages)) == 2 and not slow_downs(other.messages)

        # A window later the chat is heard again; a new flood gets a new (single) slow-down.
        clock.advance(dt.timedelta(seconds=10))
        for _ in range(22):
            telegram.user_message(FLOODER, text="/help")
        await telegram.wait_until(lambda: len(help_answers(flooder.messages)) == 40)
        await other.say("/help")
        assert len(slow_downs(flooder.messages)) == 2 and len(help_answers(flooder.messages)) == 40

        # Chats quiet for a window are forgotten: only the one heard from since is remembered.
        guard = bot.application.update_processor.flood_guard
        clock.advance(dt.timedelta(seconds=11))
        await other.say("/help")
        assert guard.chats_remembered == 1

    drops = [r.getMessage() for r in caplog.records if r.name == "bot.telegram_io.flood_guard"]
    assert drops == ["dropped 35 updates of one chat that sent more than 20 in 10 seconds",
                     "dropped 2 updates of one chat that sent more than 20 in 10 seconds"]
    assert str(FLOODER) not in caplog.text
