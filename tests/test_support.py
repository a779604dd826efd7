"""/support: where to get urgent help in England, and the optional pointer to it under every alert
(issue 13, "Where to get help now")."""

from __future__ import annotations

import pytest

from storage.broadcasts.listings import recent_broadcasts
from tests.builders import make_list, subscribe
from tests.conftest import bot_running

POINTER = "<i>Need help now? /support</i>"


async def test_support_says_where_to_get_urgent_help_in_england(running_bot, supporter):
    answer = await supporter.say("/support")
    for way in ("NHS 111", "mental health option", "116 123", "SHOUT", "85258", "999", "A&amp;E"):
        assert way in answer
    assert "/support" in await supporter.say("/help")
    # In a group too, for anyone: it is a pointer, not a setting of the chat.
    group_member = running_bot.person(102, chat_id=-500)
    assert "116 123" in await group_member.say("/support")


async def test_support_is_in_every_command_menu(running_bot):
    # One supporters' menu per language the bot speaks (language_code "" is the default one).
    menus = {call.params.get("language_code", ""): call.params for call in running_bot.server.calls("setMyCommands")
             if "all_private_chats" in str(call.params.get("scope"))}
    assert set(menus) == {"", "bn"}
    for menu in menus.values():
        assert "support" in str(menu["commands"])


async def test_alerts_carry_no_pointer_unless_the_setting_is_on(running_bot, organiser):
    await make_list(running_bot.db, "protests", "Protests & demos")
    await organiser.say("/broadcast")
    await organiser.press("Protests & demos")
    preview, _confirm = await organiser.send("Demo tomorrow")
    assert "/support" not in preview["text"]


@pytest.fixture
async def pointer_bot(database, telegram, clock, settings):
    settings = settings.model_copy(update={"support_pointer_under_alerts": True})
    async with bot_running(database, telegram, clock, settings) as bot:
        yield bot


async def test_the_pointer_is_under_every_alert_in_the_preview_and_as_sent(pointer_bot):
    organiser = pointer_bot.person(900)
    await make_list(pointer_bot.db, "protests", "Protests & demos")
    await subscribe(pointer_bot.db, 101, "protests")
    await organiser.say("/broadcast")
    await organiser.press("Protests & demos")
    preview, _confirm = await organiser.send("Demo tomorrow")
    assert preview["text"] == ("Demo tomorrow\n\n<i>You get this as a member of Protests &amp; demos. "
                               f"To leave: /unsubscribe protests</i>\n{POINTER}")
    await organiser.press("Send now")
    async with pointer_bot.db.transaction() as session:
        [broadcast] = await recent_broadcasts(session, limit=1)
    await pointer_bot.services.broadcaster.wait_until_finished(broadcast.id)
    [received] = pointer_bot.server.sent_to(101)
    assert received["text"] == preview["text"]


FOOTER = "\n\nYou get this as a member of Protests & demos. To leave: /unsubscribe protests"
POINTER_LINE = "\nNeed help now? /support"


async def test_the_length_check_counts_the_pointer(pointer_bot):
    organiser = pointer_bot.person(900)
    await make_list(pointer_bot.db, "protests", "Protests & demos")
    fits_without_pointer = 4096 - len(FOOTER)
    await organiser.say("/broadcast")
    await organiser.press("Protests & demos")
    [refusal] = await organiser.send("x" * fits_without_pointer)
    assert f"That is {4096 + len(POINTER_LINE):,} characters with the footer" in refusal["text"]
    await organiser.say("/broadcast")
    await organiser.press("Protests & demos")
    preview, _confirm = await organiser.send("x" * (fits_without_pointer - len(POINTER_LINE)))
    assert preview["text"].endswith(POINTER)  # exactly 4,096 as Telegram counts it: accepted
