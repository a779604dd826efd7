"""Bad and unexpected input: every kind gets a defined answer or is ignored on purpose."""

from __future__ import annotations

import asyncio

import pytest

from tests.builders import make_list, slugs_of


@pytest.fixture
async def protests(running_bot):
    await make_list(running_bot.db, "protests", "Protests and demos")


async def test_unknown_command_names_the_nearest(supporter):
    answer = await supporter.say("/subscibe protests")
    assert "I don't know the command /subscibe" in answer
    assert "/subscribe" in answer


async def test_command_addressed_to_this_bot_works(running_bot, supporter, protests):
    assert "you are on" in await supporter.say("/subscribe@campaign_bot protests")
    running_bot.server.add_group(-55, admins={101})
    admin_in_group = running_bot.person(101, chat_id=-55)
    assert "you are on" in await admin_in_group.say("/subscribe@campaign_bot protests")


async def test_commands_for_other_bots_are_ignored(running_bot, protests):
    running_bot.server.add_group(-56, admins={101})
    in_group = running_bot.person(101, chat_id=-56)
    assert await in_group.send("/subscribe@other_bot protests") == []
    assert await in_group.send("/frobnicate@other_bot") == []
    assert await slugs_of(running_bot.db, -56) == []


async def test_over_long_argument_is_refused(running_bot, supporter, protests):
    answer = await supporter.say("/subscribe " + "p" * 500)
    assert "too long" in answer and "64 characters" in answer
    assert "too long" in await supporter.say("/start " + "q" * 65)
    assert await slugs_of(running_bot.db, supporter.chat_id) == []


async def test_edited_messages_do_not_run_commands_again(running_bot, supporter, protests):
    await supporter.say("/subscribe protests")
    update = running_bot.server.user_message(supporter.user_id, text="/stop", edited=True)
    await running_bot.deliver(update)
    assert await slugs_of(running_bot.db, supporter.chat_id) == ["protests"]
    assert len(supporter.messages) == 1


async def test_channel_posts_are_ignored(running_bot):
    update = running_bot.server.channel_post(-1009, "/subscribe protests")
    await running_bot.deliver(update)
    assert running_bot.server.sent_to(-1009) == []


async def test_stickers_photos_and_plain_text_get_a_pointer_to_commands(supporter):
    sticker = {"sticker": {"file_id": "s1", "file_unique_id": "u1", "width": 512, "height": 512,
                           "is_animated": False, "is_video": False, "type": "regular"}}
    photo = {"photo": [{"file_id": "p1", "file_unique_id": "u2", "width": 90, "height": 90}]}
    for extra in (sticker, photo):
        answers = await supporter.send(None, **extra)
        assert [a["text"] for a in answers] == ["I only understand commands, such as /lists or /help."]
    assert "only understand commands" in await supporter.say("hello, can I join?")


async def test_group_chatter_is_ignored(running_bot):
    running_bot.server.add_group(-57)
    member = running_bot.person(102, chat_id=-57)
    assert await member.send("nice demo yesterday") == []


async def test_stale_button_is_answered(running_bot, supporter, protests):
    await supporter.say("/lists")
    update = running_bot.server.press_button(supporter.user_id, supporter.last, "join:99999")
    await running_bot.deliver(update)
    assert await slugs_of(running_bot.db, supporter.chat_id) == []
    garbage = running_bot.server.press_button(supporter.user_id, supporter.last, "no-such-action")
    await running_bot.deliver(garbage)
    assert "older message" in supporter.last["text"]
    assert len(running_bot.server.calls("answerCallbackQuery")) == 2


async def test_a_failure_is_reported_to_the_person_and_the_bot_goes_on(running_bot, supporter, protests):
    running_bot.server.add_group(-58, admins=set())
    # The group admin check needs getChatMember; make the server fail it once.
    in_group = running_bot.person(103, chat_id=-58)
    original = running_bot.server._api_getChatMember

    def failing(params):
        raise RuntimeError("server fault")

    running_bot.server._api_getChatMember = failing
    try:
        answers = await in_group.send("/subscribe protests")
    finally:
        running_bot.server._api_getChatMember = original
    assert any("something went wrong on our side" in a["text"] for a in answers)
    assert "you are on" in await supporter.say("/subscribe protests")


async def test_a_burst_of_updates_loses_none(running_bot, protests):
    people = [running_bot.person(5000 + n) for n in range(40)]
    updates = [running_bot.server.user_message(p.user_id, text="/subscribe protests") for p in people]
    await asyncio.gather(*(running_bot.deliver(u) for u in updates))
    for person in people:
        assert "you are on" in person.last["text"]
        assert await slugs_of(running_bot.db, person.chat_id) == ["protests"]
