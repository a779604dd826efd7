"""/broadcast and /broadcasts in Telegram: choosing, previewing, sending, scheduling, controlling."""

from __future__ import annotations

import copy
import datetime as dt

import pytest
from sqlalchemy import select

from storage.broadcasts.deliveries import count_deliveries
from storage.broadcasts.listings import recent_broadcasts
from storage.broadcasts.tables import Broadcast, BroadcastStatus, DeliveryStatus, get_broadcast
from tests.builders import make_list, subscribe

BOLD_DEMO = {"entities": [{"type": "bold", "offset": 0, "length": 4}]}


@pytest.fixture
async def protests(running_bot):
    mailing_list = await make_list(running_bot.db, "protests", "Protests & demos")
    for chat_id in (101, 102, 103):
        await subscribe(running_bot.db, chat_id, "protests")
    return mailing_list


async def latest_broadcast(running_bot):
    async with running_bot.db.transaction() as session:
        return (await recent_broadcasts(session, limit=1) or [None])[0]


async def latest_status(running_bot) -> BroadcastStatus:
    """The status of the newest broadcast, a draft included."""
    async with running_bot.db.transaction() as session:
        newest = await session.scalar(select(Broadcast).order_by(Broadcast.id.desc()).limit(1))
    return newest.state


async def compose(organiser, text="Demo tomorrow 8.15am, Harrington Gardens entrance", **extra):
    await organiser.say("/broadcast")
    assert organiser.buttons()[0]["text"] == "Protests & demos (3)"
    asked = await organiser.press("Protests & demos")
    assert "Send the alert for <b>Protests &amp; demos</b> (3 on the list now)" in asked[0]["text"]
    return await organiser.send(text, **extra)


async def test_broadcast_previews_exactly_then_sends_and_reports(running_bot, organiser, protests):
    preview, confirm = await compose(organiser, **BOLD_DEMO)
    assert preview["text"] == (
        "<b>Demo</b> tomorrow 8.15am, Harrington Gardens entrance\n\n"
        "<i>You get this as a member of Protests &amp; demos. To leave: /unsubscribe protests</i>")
    assert "reach the <b>3</b> chats on <b>Protests &amp; demos</b>" in confirm["text"]
    assert [b["text"] for b in organiser.buttons(confirm)] == ["Send now", "Schedule", "Cancel",
                                                          "Rings even in quiet hours"]
    assert running_bot.server.sent_to(101) == []  # nothing goes out before Send now

    started = await organiser.press("Send now")
    assert "Sending broadcast #" in started[0]["text"]
    draft = await latest_broadcast(running_bot)
    summary = await running_bot.services.broadcaster.wait_until_finished(draft.id)
    assert summary.counts.sent == 3
    for chat_id in (101, 102, 103):
        assert [m["text"] for m in running_bot.server.sent_to(chat_id)] == [preview["text"]]
    assert "Broadcast finished" in organiser.last["text"]
    assert "3 sent, 0 pending, 0 blocked, 0 failed of 3" in organiser.last["text"]


async def test_mydata_counts_an_organisers_reports_apart_from_alerts(running_bot, organiser, protests):
    await compose(organiser)
    await organiser.press("Send now")
    await running_bot.services.broadcaster.wait_until_finished((await latest_broadcast(running_bot)).id)
    assert "Broadcast finished" in organiser.last["text"]
    data = await organiser.say("/mydata")
    assert "1 report on broadcasts received (as an organiser)" in data
    assert "alert received" not in data and "alerts received" not in data
    assert "1 alert received" in await running_bot.person(101).say("/mydata")


async def test_photo_with_caption_is_previewed_and_sent_as_a_photo(running_bot, organiser, protests):
    photo = [{"file_id": "route-map", "file_unique_id": "rm", "width": 800, "height": 600}]
    preview, _confirm = await compose(organiser, None, photo=photo, caption="Route map")
    assert preview["caption"].startswith("Route map\n\n<i>You get this")
    await organiser.press("Send now")
    draft = await latest_broadcast(running_bot)
    await running_bot.services.broadcaster.wait_until_finished(draft.id)
    [received] = running_bot.server.sent_to(102)
    assert received["caption"] == preview["caption"]
    assert [r.params["photo"] for r in running_bot.server.calls("sendPhoto")] == ["route-map"] * 4


async def test_schedule_refuses_unreadable_and_past_times_with_an_example(running_bot, organiser, protests, clock):
    await compose(organiser)
    asked = await organiser.press("Schedule")
    assert "<code>tomorrow 07:00</code>" in asked[0]["text"]
    unreadable = await organiser.say("whenever suits")
    assert "could not read “whenever suits”" in unreadable and "<code>in 2 hours</code>" in unreadable
    assert "has already passed" in await organiser.say("2018-02-01 10:00")
    assert "<b>Friday 2 March 2018, 7am</b> or <b>Friday 2 March 2018, 7pm</b>" in await organiser.say("tomorrow 7:00")
    assert "on which day?" in await organiser.say("07:00")
    echoed = await organiser.say("tomorrow 07:00")
    assert "would go out on <b>Friday 2 March 2018, 7am</b> (GMT). Schedule it then?" in echoed
    assert await latest_status(running_bot) is BroadcastStatus.DRAFT  # nothing scheduled before the press
    [scheduled] = await organiser.press("Schedule it then")
    assert "scheduled for <b>Friday 2 March 2018, 7am</b> (GMT)" in scheduled["text"]

    listing = await organiser.say("/broadcasts")
    assert "scheduled for Fri 02 March 2018 07:00" in listing
    engine = running_bot.services.broadcaster
    await engine.wait_until_idle()
    assert running_bot.server.sent_to(101) == []
    clock.set(dt.datetime(2018, 3, 2, 7, 0, tzinfo=dt.UTC))
    engine.wake()
    summary = await engine.wait_until_finished((await latest_broadcast(running_bot)).id)
    assert summary.counts.sent == 3


@pytest.mark.parametrize("typed, echoed, due", [
    ("wed 8.15", "Wednesday 7 March 2018, 8.15am", dt.datetime(2018, 3, 7, 8, 15, tzinfo=dt.UTC)),
    ("in 2 hours", "Thursday 1 March 2018, 2pm", dt.datetime(2018, 3, 1, 14, 0, tzinfo=dt.UTC)),
    ("tonight 7.30", "Thursday 1 March 2018, 7.30pm", dt.datetime(2018, 3, 1, 19, 30, tzinfo=dt.UTC)),
    # No year: the next 21 March; in summer time, 8.15am in London is 07:15 UTC.
    ("21 april 8.15am", "Saturday 21 April 2018, 8.15am", dt.datetime(2018, 4, 21, 7, 15, tzinfo=dt.UTC)),
])
async def test_a_time_typed_as_people_say_it_is_echoed_in_full(running_bot, organiser, protests, typed, echoed,
                                                                due):
    await compose(organiser)
    await organiser.press("Schedule")
    assert f"would go out on <b>{echoed}</b>" in await organiser.say(typed)
    [scheduled] = await organiser.press("Schedule it then")
    assert f"scheduled for <b>{echoed}</b>" in scheduled["text"]
    assert (await latest_broadcast(running_bot)).send_at.replace(tzinfo=dt.UTC) == due


async def test_another_time_or_a_moment_passed_before_the_press_asks_again(running_bot, organiser, protests,
                                                                             clock):
    await compose(organiser)
    await organiser.press("Schedule")
    await organiser.say("in 2 hours")
    [asked] = await organiser.press("Another time")
    assert "When should broadcast" in asked["text"]
    assert "would go out on <b>Friday 2 March 2018, 7pm</b>" in await organiser.say("tomorrow 7pm")
    clock.set(dt.datetime(2018, 3, 2, 20, 0, tzinfo=dt.UTC))  # the organiser came back too late
    [late] = await organiser.press("Schedule it then")
    assert "has already passed" in late["text"]
    assert await latest_status(running_bot) is BroadcastStatus.DRAFT
    assert "would go out on <b>Saturday 3 March 2018, 9am</b>" in await organiser.say("tomorrow 9am")


async def test_over_long_text_and_caption_are_refused_and_nothing_is_created(running_bot, organiser, protests):
    answers = await compose(organiser, "x" * 4050)
    [refusal] = answers
    assert "4,129 characters with the footer; Telegram allows 4,096 in a message" in refusal["text"]
    assert "Nothing was cut and nothing was sent" in refusal["text"]
    photo = [{"file_id": "f", "file_unique_id": "f", "width": 1, "height": 1}]
    [refusal] = await organiser.send(None, photo=photo, caption="y" * 1000)
    assert "allows 1,024 in a caption" in refusal["text"]
    [preview, _confirm] = await organiser.send("Shorter now")  # still waiting for the text
    assert preview["text"].startswith("Shorter now")
    assert (await latest_broadcast(running_bot)) is None  # only a draft exists, and drafts are not listed


async def test_sticker_is_not_a_broadcast(organiser, protests):
    await compose(organiser, None, sticker={"file_id": "s", "file_unique_id": "s", "width": 1, "height": 1,
                                            "type": "regular", "is_animated": False, "is_video": False})
    assert "A broadcast is text, or a photo or document" in organiser.last["text"]


async def test_cancel_under_the_preview_sends_nothing(running_bot, organiser, protests):
    await compose(organiser)
    confirm = copy.deepcopy(organiser.last)  # as it was, buttons included, before Cancel edits it
    assert "nothing was sent" in (await organiser.press("Cancel"))[0]["text"]
    again = await organiser.press("Send now", message=confirm)
    assert "no longer waiting to be sent" in again[0]["text"]
    await running_bot.services.broadcaster.wait_until_idle()
    assert running_bot.server.sent_to(101) == []


async def test_broadcasts_pause_resume_and_cancel_buttons(running_bot, organiser, protests):
    for chat_id in range(4001, 4041):
        await subscribe(running_bot.db, chat_id, "protests")
    await organiser.say("/broadcast protests")
    await organiser.send("Vigil tonight")
    await organiser.press("Send now")
    broadcast_id = (await latest_broadcast(running_bot)).id
    server = running_bot.server
    await server.wait_until(lambda: server.sent_total >= 6)

    listing = await organiser.say("/broadcasts")
    assert f"<b>#{broadcast_id}</b> to <b>Protests &amp; demos</b>: sending" in listing
    assert "pending" in listing and "to go" in listing
    assert [b["text"] for b in organiser.buttons()] == [f"Pause #{broadcast_id}", f"Cancel #{broadcast_id}"]
    paused = await organiser.press("Pause")
    assert ": paused" in paused[0]["text"]
    assert [b["text"] for b in organiser.buttons(paused[0])] == [f"Resume #{broadcast_id}", f"Cancel #{broadcast_id}"]
    await running_bot.services.broadcaster.wait_until_idle()
    async with running_bot.db.transaction() as session:
        assert (await get_broadcast(session, broadcast_id=broadcast_id)).state is BroadcastStatus.PAUSED

    await organiser.press("Resume")
    cancelled = await organiser.press("Cancel")
    assert ": cancelled" in cancelled[0]["text"]
    assert organiser.buttons(cancelled[0]) == []
    summary = await running_bot.services.broadcaster.wait_until_finished(broadcast_id)
    assert summary.status is BroadcastStatus.CANCELLED and summary.counts.pending > 0


async def test_unknown_list_and_no_lists(running_bot, organiser):
    assert "no lists to broadcast to yet" in await organiser.say("/broadcast")
    await make_list(running_bot.db, "protests", "Protests")
    unknown = await organiser.say("/broadcast protets")
    assert "There is no list called “protets”" in unknown
    assert [b["text"] for b in organiser.buttons()] == ["Protests (0)"]


async def test_non_organisers_are_refused(running_bot, supporter, organiser, protests):
    assert "for the campaign's organisers" in await supporter.say("/broadcast")
    assert "for the campaign's organisers" in await supporter.say("/broadcasts")
    assert "for the campaign's organisers" in await supporter.say("/broadcast protests")
    assert "Send the alert" not in await supporter.say("Demo tomorrow")
    assert await latest_broadcast(running_bot) is None


async def test_another_command_drops_the_question(running_bot, organiser, protests):
    await organiser.say("/broadcast protests")
    assert "You are not on any list" in await organiser.say("/mylists")
    stray = await organiser.say("Demo tomorrow")
    assert "Send the alert" not in stray and "exactly as it will reach" not in stray
    async with running_bot.db.transaction() as session:
        assert await count_deliveries(session, broadcast_id=1) == {s: 0 for s in DeliveryStatus}
    assert await latest_broadcast(running_bot) is None
