"""Supporters in private chats: welcome, joining and leaving, their data, and erasure."""

from __future__ import annotations

import datetime as dt

import pytest

from storage.broadcasts.status import create_broadcast
from storage.lists.mailing_lists import get_list_by_slug
from tests.builders import (
    chat_row,
    make_list,
    one_date_event,
    rows_keyed_by_chat_row,
    rows_mentioning,
    slugs_of,
    subscribe,
)

DAY = dt.timedelta(days=1)


@pytest.fixture
async def two_lists(running_bot):
    await make_list(running_bot.db, "protests", "Protests and demos", "Demos and vigils in London")
    await make_list(running_bot.db, "encounter-groups", "Free encounter groups")


async def test_start_welcomes_says_what_is_stored_and_offers_lists(supporter, two_lists):
    answer = await supporter.say("/start")
    assert "Welcome" in answer
    assert "only this chat's number and the lists you join" in answer
    assert "/forget" in answer and "/stop" in answer
    labels = [b["text"] for b in supporter.buttons()]
    assert labels == ["Join: Free encounter groups", "Join: Protests and demos"]


async def test_start_alone_stores_nothing(running_bot, supporter, two_lists):
    await supporter.say("/start")
    assert await chat_row(running_bot.db, supporter.chat_id) is None


async def test_deep_link_joins_in_one_tap(running_bot, supporter, two_lists):
    answer = await supporter.say("/start protests")
    assert "you are on <b>Protests and demos</b>" in answer
    assert await slugs_of(running_bot.db, supporter.chat_id) == ["protests"]


async def test_deep_link_to_unknown_list_is_explained(running_bot, supporter, two_lists):
    answer = await supporter.say("/start protest-2017")
    assert "no such list" in answer
    assert "<code>protests</code>" in answer
    assert await slugs_of(running_bot.db, supporter.chat_id) == []


async def test_join_and_leave_buttons_show_current_state(running_bot, supporter, two_lists):
    await supporter.say("/lists")
    changed = await supporter.press("Join: Protests")
    assert len(changed) == 1  # the same message, edited in place
    labels = [b["text"] for b in supporter.buttons(changed[0])]
    assert "✓ Joined: Protests and demos (tap to leave)" in labels
    assert await slugs_of(running_bot.db, supporter.chat_id) == ["protests"]
    await supporter.press("Joined: Protests")
    assert await slugs_of(running_bot.db, supporter.chat_id) == []
    assert "Join: Protests and demos" in [b["text"] for b in supporter.buttons()]


async def test_subscribe_by_slug_title_and_case(running_bot, supporter, two_lists):
    assert "you are on <b>Protests and demos</b>" in await supporter.say("/subscribe protests")
    assert "already on" in await supporter.say("/subscribe PROTESTS")
    assert "you are on <b>Free encounter groups</b>" in await supporter.say("/subscribe free encounter groups")
    assert await slugs_of(running_bot.db, supporter.chat_id) == ["encounter-groups", "protests"]


async def test_subscribe_unknown_list_suggests_nearest(supporter, two_lists):
    answer = await supporter.say("/subscribe protets")
    assert "There is no list called “protets”" in answer
    assert "Did you mean: <code>protests</code>" in answer


async def test_subscribe_without_name_shows_the_lists(supporter, two_lists):
    await supporter.say("/subscribe")
    assert len(supporter.buttons()) == 2


async def test_unsubscribe_mylists_and_stop(running_bot, supporter, two_lists):
    await supporter.say("/subscribe protests")
    await supporter.say("/subscribe encounter-groups")
    mylists = await supporter.say("/mylists")
    assert "Protests and demos" in mylists and "Free encounter groups" in mylists
    assert "you have left <b>Protests and demos</b>" in await supporter.say("/unsubscribe protests")
    assert "were not on" in await supporter.say("/unsubscribe protests")
    assert "Which list?" in await supporter.say("/unsubscribe")
    stopped = await supporter.say("/stop")
    assert "Free encounter groups" in stopped
    assert await slugs_of(running_bot.db, supporter.chat_id) == []
    assert "not on any list" in await supporter.say("/mylists")


async def test_help_and_privacy(supporter, organiser):
    help_text = await supporter.say("/help")
    assert "/subscribe" in help_text and "/newlist" not in help_text
    assert "/newlist" in await organiser.say("/help")
    privacy = await supporter.say("/privacy")
    for heading in ("What is stored.", "Why.", "How long.", "Who sees it."):
        assert heading in privacy
    assert "never who" in privacy


async def test_mydata_shows_everything_stored(supporter, two_lists):
    assert "Nothing is stored" in await supporter.say("/mydata")
    await supporter.say("/subscribe protests")
    data = await supporter.say("/mydata")
    assert f"<code>{supporter.chat_id}</code> (private)" in data
    assert "Protests and demos, since" in data


async def test_forget_erases_every_row_about_the_chat(running_bot, supporter, two_lists):
    other = running_bot.person(202)
    await other.say("/subscribe protests")
    await supporter.say("/subscribe protests")
    await supporter.say("/subscribe encounter-groups")
    chat = await chat_row(running_bot.db, supporter.chat_id)
    assert await rows_mentioning(running_bot.db, {supporter.chat_id})

    confirm = await supporter.say("/forget")
    assert "cannot be brought back" in confirm
    changed = await supporter.press("Yes, erase")
    assert "Everything stored about this chat has been erased" in changed[0]["text"]

    assert await rows_mentioning(running_bot.db, {supporter.chat_id}) == []
    assert await chat_row(running_bot.db, supporter.chat_id) is None
    # Nothing keyed by the erased chat's internal row id is left behind either.
    assert await rows_keyed_by_chat_row(running_bot.db, chat.id) == []
    assert await slugs_of(running_bot.db, other.chat_id) == ["protests"]


async def leave_by(running_bot, supporter, how: str) -> None:
    if how == "stop":
        await supporter.say("/stop")
    else:
        await running_bot.deliver(running_bot.server.member_status_change(supporter.user_id, new_status="kicked"))


@pytest.mark.parametrize("how", ["stop", "block"])
async def test_leaving_erases_every_row_about_the_chat_after_the_retention_period(running_bot, supporter, two_lists,
                                                                                 clock, settings, how):
    other = running_bot.person(202)
    await other.say("/subscribe protests")
    await supporter.say("/subscribe protests")
    await supporter.say("/subscribe encounter-groups")
    # An alert delivered, and an answer to an event with a name shared: rows of other tables.
    async with running_bot.db.transaction() as session:
        protests = await get_list_by_slug(session, slug="protests")
        alert = await create_broadcast(session, list_id=protests.id, text="Vigil", created_by=None,
                                       now=clock.now())
    running_bot.services.broadcaster.wake()
    await running_bot.services.broadcaster.wait_until_finished(alert.id, timeout=20)
    event_ends = clock.now() + 3 * DAY + dt.timedelta(hours=4)
    await one_date_event(running_bot.db, slug="protests", starts_at=clock.now() + 3 * DAY, now=clock.now(),
                         tz=settings.tz)
    await supporter.send("/events")
    await supporter.press("Going")
    await supporter.press("Share my name")
    chat = await chat_row(running_bot.db, supporter.chat_id)
    assert len(await rows_keyed_by_chat_row(running_bot.db, chat.id)) == 4  # 2 subscriptions, 1 delivery, 1 answer

    await leave_by(running_bot, supporter, how)
    assert "1 alert received" in await supporter.say("/mydata")
    clock.advance(29 * DAY)
    await running_bot.services.retention.sweep_now()
    assert await chat_row(running_bot.db, supporter.chat_id) is not None  # the period runs from the event's end
    clock.set(event_ends + settings.retention_period + dt.timedelta(hours=1))
    await running_bot.services.retention.sweep_now()

    assert await rows_mentioning(running_bot.db, {supporter.chat_id}) == []
    assert await rows_keyed_by_chat_row(running_bot.db, chat.id) == []
    assert await chat_row(running_bot.db, supporter.chat_id) is None
    assert await slugs_of(running_bot.db, other.chat_id) == ["protests"]
    if how == "stop":
        assert "Nothing is stored" in await supporter.say("/mydata")


async def test_forget_can_be_cancelled(running_bot, supporter, two_lists):
    await supporter.say("/subscribe protests")
    await supporter.say("/forget")
    changed = await supporter.press("No, keep it")
    assert changed[0]["text"] == "Nothing was erased."
    assert await slugs_of(running_bot.db, supporter.chat_id) == ["protests"]


async def test_blocking_marks_inactive_and_unblocking_does_not_resubscribe(running_bot, supporter, two_lists):
    await supporter.say("/subscribe protests")
    await running_bot.deliver(running_bot.server.member_status_change(supporter.user_id, new_status="kicked"))
    assert (await chat_row(running_bot.db, supporter.chat_id)).active is False
    assert await slugs_of(running_bot.db, supporter.chat_id) == []
    sent_before = len(supporter.messages)
    await running_bot.deliver(running_bot.server.member_status_change(supporter.user_id, new_status="member"))
    assert (await chat_row(running_bot.db, supporter.chat_id)).active is True
    assert await slugs_of(running_bot.db, supporter.chat_id) == []
    assert len(supporter.messages) == sent_before  # the bot did not write to them of its own accord


async def test_block_from_unknown_chat_stores_nothing(running_bot):
    await running_bot.deliver(running_bot.server.member_status_change(555, new_status="kicked"))
    assert await chat_row(running_bot.db, 555) is None


async def test_group_admin_subscribes_group_but_member_cannot(running_bot, two_lists):
    running_bot.server.add_group(-100200, title="Tower Hamlets branch", admins={301})
    admin = running_bot.person(301, chat_id=-100200)
    member = running_bot.person(302, chat_id=-100200)
    refused = await member.say("/subscribe protests")
    assert "only this group's administrators" in refused
    assert await slugs_of(running_bot.db, -100200) == []
    assert "you are on <b>Protests and demos</b>" in await admin.say("/subscribe protests")
    assert await slugs_of(running_bot.db, -100200) == ["protests"]
    assert "only this group's administrators" in await member.say("/stop")
    assert await slugs_of(running_bot.db, -100200) == ["protests"]
    await member.say("/lists")
    await member.press("Joined: Protests", message=admin.last)
    assert await slugs_of(running_bot.db, -100200) == ["protests"]


async def test_group_welcome_and_migration_keeps_subscriptions(running_bot, two_lists):
    running_bot.server.add_group(-300, admins={301})
    admin = running_bot.person(301, chat_id=-300)
    assert "administrator can sign this group up" in await admin.say("/start")
    await admin.say("/subscribe protests")
    await admin.send(None, migrate_to_chat_id=-1000000000300)
    assert await slugs_of(running_bot.db, -1000000000300) == ["protests"]


async def test_subscriptions_of_others_are_never_shown(running_bot, supporter, two_lists):
    await subscribe(running_bot.db, 777, "protests")
    for command in ("/lists", "/mylists", "/mydata", "/start", "/help"):
        for message in await supporter.send(command):
            assert "777" not in message["text"]
