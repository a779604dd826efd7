"""The local Bot API server answers python-telegram-bot as Telegram would, errors included."""

from __future__ import annotations

import pytest
from telegram import Bot
from telegram.error import BadRequest, ChatMigrated, Forbidden, InvalidToken, NetworkError, RetryAfter

from bot.local_api.faults import ChatFault
from bot.local_api.flood import Limits
from bot.local_api.server import LocalBotApi


@pytest.fixture
async def server():
    api = LocalBotApi(token="1:secret")
    await api.start()
    yield api
    await api.stop()


def bot_for(server: LocalBotApi, token: str = "1:secret") -> Bot:
    return Bot(token, base_url=f"{server.url}/bot")


async def test_send_and_record(server):
    async with bot_for(server) as bot:
        message = await bot.send_message(10, "<b>hello</b>", parse_mode="HTML")
        assert message.text == "<b>hello</b>" and message.chat.id == 10
        edited = await bot.edit_message_text("changed", chat_id=10, message_id=message.message_id)
        assert edited.text == "changed"
    assert [m["text"] for m in server.sent_to(10)] == ["changed"]
    assert [r.method for r in server.requests] == ["getMe", "sendMessage", "editMessageText"]


async def test_each_fault_maps_to_telegrams_error(server):
    server.set_fault(11, ChatFault("blocked"))
    server.set_fault(12, ChatFault("not_found"))
    server.set_fault(13, ChatFault("retry_after", retry_after=7))
    server.set_fault(14, ChatFault("server_error", times=1))
    server.set_fault(15, ChatFault("migrated", new_chat_id=-100015))
    async with bot_for(server) as bot:
        with pytest.raises(Forbidden, match="(?i)blocked"):
            await bot.send_message(11, "x")
        with pytest.raises(BadRequest, match="(?i)chat not found"):
            await bot.send_message(12, "x")
        with pytest.raises(RetryAfter) as retry:
            await bot.send_message(13, "x")
        assert str(retry.value) == "Flood control exceeded. Retry in 7 seconds"
        with pytest.raises(NetworkError):
            await bot.send_message(14, "x")
        assert (await bot.send_message(14, "x")).text == "x"  # the fault was for one request only
        with pytest.raises(ChatMigrated) as migrated:
            await bot.send_message(15, "x")
        assert migrated.value.new_chat_id == -100015


async def test_wrong_token_is_refused(server):
    with pytest.raises(InvalidToken):
        async with bot_for(server, token="1:wrong"):
            pass


async def test_limits_answer_429_beyond_the_rate():
    api = LocalBotApi(limits=Limits(per_second=5, per_chat_per_second=1, per_group_per_minute=2))
    await api.start()
    try:
        async with Bot("1:x", base_url=f"{api.url}/bot") as bot:
            for chat_id in range(1, 6):
                await bot.send_message(chat_id, "ok")
            with pytest.raises(RetryAfter):
                await bot.send_message(6, "sixth within a second")
        api2 = LocalBotApi(limits=Limits(per_second=100, per_chat_per_second=1, per_group_per_minute=2))
        await api2.start()
        async with Bot("1:x", base_url=f"{api2.url}/bot") as bot:
            await bot.send_message(1, "first")
            with pytest.raises(RetryAfter):
                await bot.send_message(1, "second to one chat within a second")
            await bot.send_message(-5, "g1")
            with pytest.raises(RetryAfter):
                await bot.send_message(-5, "g2 within a second")
        await api2.stop()
    finally:
        await api.stop()
    assert api.answered_429 == 1


async def test_sends_to_blocked_and_vanished_chats_take_their_slots_of_the_limit():
    # Telegram counts attempts: a broadcaster that paced only its successes would be refused.
    api = LocalBotApi(limits=Limits(per_second=3))
    await api.start()
    api.set_fault(1, ChatFault("blocked"))
    api.set_fault(2, ChatFault("not_found"))
    try:
        async with Bot("1:x", base_url=f"{api.url}/bot") as bot:
            with pytest.raises(Forbidden):
                await bot.send_message(1, "alert")
            with pytest.raises(BadRequest):
                await bot.send_message(2, "alert")
            await bot.send_message(3, "alert")
            with pytest.raises(RetryAfter):
                await bot.send_message(4, "the fourth attempt within a second")
    finally:
        await api.stop()
    assert api.answered_429 == 1


async def test_without_history_the_server_keeps_counts_but_no_state_per_chat():
    # A benchmark's million recipients would otherwise each leave objects for the GC to walk.
    api = LocalBotApi(keep_history=False, limits=Limits(per_second=100))
    await api.start()
    try:
        async with Bot("1:x", base_url=f"{api.url}/bot") as bot:
            sent = [await bot.send_message(chat_id, "alert") for chat_id in range(1, 51)]
            # The chat messaged last, so that a slow machine still asks within its second.
            with pytest.raises(RetryAfter):
                await bot.send_message(50, "again within a second")
    finally:
        await api.stop()
    assert api.chats == {}
    assert len({message.message_id for message in sent}) == 50
    assert api.stats()["distinct_chats"] == 50 and api.stats()["duplicates"] == 0
