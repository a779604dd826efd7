"""A second pair of eyes: a broadcast to more than APPROVAL_ABOVE recipients waits for approval;
every other organiser gets its exact preview with the recipient count and Approve / Reject; the
author cannot approve their own; the first approval sends or schedules it; a rejection tells the
author; /broadcasts and the report say who wrote and who approved it; roles are checked at each step."""

from __future__ import annotations

import pytest

from messages import render
from storage.broadcasts.listings import recent_broadcasts
from storage.broadcasts.tables import BroadcastStatus
from storage.lists import organisers
from tests.builders import make_list, subscribe
from tests.conftest import ORGANISER_ID
from tests.test_access import press_data

SECOND, THIRD = 901, 902
FORMER = 1900
ALERT = "Demo tomorrow 8.15am, Harrington Gardens entrance"
PREVIEW = f"{ALERT}\n\n<i>You get this as a member of Protests and demos. To leave: /unsubscribe protests</i>"


@pytest.fixture
def settings(settings):
    return settings.model_copy(update={"approval_above": 2})


@pytest.fixture
async def protests(running_bot):
    mailing_list = await make_list(running_bot.db, "protests", "Protests and demos")
    for chat_id in (101, 102, 103):
        await subscribe(running_bot.db, chat_id, "protests")
    for user_id in (SECOND, THIRD):
        await set_organiser(running_bot, user_id, organiser=True)
    return mailing_list


async def set_organiser(bot, user_id, *, organiser):
    async with bot.db.transaction() as session:
        if organiser:
            await organisers.add_organiser(session, user_id=user_id, added_by=ORGANISER_ID,
                                           configured=frozenset({ORGANISER_ID}))
        else:
            await organisers.remove_organiser(session, user_id=user_id, configured=frozenset({ORGANISER_ID}))


async def latest(bot):
    """The newest alert (not a notice to an organiser)."""
    async with bot.db.transaction() as session:
        return next(item for item in await recent_broadcasts(session, limit=50) if item.kind == "alert")


def alerts_to(server, chat_id):
    return [m for m in server.sent_to(chat_id) if (m.get("text") or "").startswith(ALERT)]


async def write(organiser, *, schedule_at=None):
    await organiser.say("/broadcast protests")
    await organiser.send(ALERT)
    if schedule_at is None:
        return await organiser.press("Send now")
    await organiser.press("Schedule")
    await organiser.send(schedule_at)  # echoed in full, to be confirmed
    return await organiser.press("Schedule it then")


async def reviews_reach(bot, user_id):
    """The review's two messages, once both have arrived: what it is, and the preview with buttons."""
    await bot.services.broadcaster.wait_until_idle()
    await bot.server.wait_until(lambda: len(bot.server.sent_to(user_id)) >= 2)
    about, preview = sorted(bot.server.sent_to(user_id)[-2:], key=lambda m: "reply_markup" in m)
    return about, preview


async def test_a_big_broadcast_waits_until_another_organiser_approves_it(running_bot, protests, organiser):
    [waiting] = await write(organiser)
    assert "would reach <b>3</b> chats on <b>Protests and demos</b>, more than 2, so it waits" in waiting["text"]
    assert "2 have been sent its preview" in waiting["text"]
    broadcast = await latest(running_bot)
    assert broadcast.status is BroadcastStatus.FOR_APPROVAL
    for user_id in (SECOND, THIRD):
        about, preview = await reviews_reach(running_bot, user_id)
        assert f"Broadcast #{broadcast.id} waits for a second organiser" in about["text"]
        assert "Written by <code>900</code>" in about["text"] and "reach <b>3</b> chats" in about["text"]
        assert preview["text"] == PREVIEW  # exactly what the recipients would get
        assert [b["text"] for b in preview["reply_markup"]["inline_keyboard"][0]] == [
            f"Approve #{broadcast.id} (3 chats)", f"Reject #{broadcast.id}"]
    assert alerts_to(running_bot.server, 101) == []
    # The author is not asked to approve: they have the question, the preview, the confirm step and the answer.
    assert len(running_bot.server.sent_to(ORGANISER_ID)) == 4
    assert not any("reply_markup" in m and "Approve" in str(m) for m in running_bot.server.sent_to(ORGANISER_ID))

    second = running_bot.person(SECOND)
    [approved] = await second.press("Approve", next(m for m in second.messages if "reply_markup" in m))
    assert f"Approved: broadcast #{broadcast.id} is sending now" in approved["text"]
    summary = await running_bot.services.broadcaster.wait_until_finished(broadcast.id)
    assert summary.counts.sent == 3 and summary.approved_by == SECOND
    assert len(alerts_to(running_bot.server, 101)) == 1
    told = [m["text"] for m in running_bot.server.sent_to(ORGANISER_ID)]
    assert any(f"Broadcast #{broadcast.id} was approved</b> by <code>901</code>" in text for text in told)
    assert any("Broadcast finished" in text and "Written by <code>900</code>, approved by <code>901</code>" in text
               for text in told)
    listed = await organiser.say("/broadcasts")
    assert "Written by <code>900</code>, approved by <code>901</code>" in listed

    third = running_bot.person(THIRD)
    [late] = await third.press("Approve", next(m for m in third.messages if "reply_markup" in m))
    assert "was decided already" in late["text"]
    assert len(alerts_to(running_bot.server, 101)) == 1  # the second approval sent nothing more


async def test_the_author_cannot_approve_their_own(running_bot, protests, organiser):
    await write(organiser)
    broadcast = await latest(running_bot)
    [answer] = await press_data(organiser, f"review:approve:{broadcast.id}")
    assert "You wrote broadcast" in answer["text"]
    assert (await latest(running_bot)).status is BroadcastStatus.FOR_APPROVAL


async def test_a_rejection_tells_the_author_and_sends_nothing(running_bot, protests, organiser):
    await write(organiser)
    broadcast = await latest(running_bot)
    await reviews_reach(running_bot, SECOND)
    second = running_bot.person(SECOND)
    [answer] = await second.press("Reject", next(m for m in second.messages if "reply_markup" in m))
    assert f"Rejected: broadcast #{broadcast.id} will not be sent" in answer["text"]
    await running_bot.services.broadcaster.wait_until_idle()
    await running_bot.server.wait_until(lambda: "was rejected" in running_bot.server.sent_to(ORGANISER_ID)[-1]["text"])
    assert (await latest(running_bot)).status is BroadcastStatus.CANCELLED
    assert alerts_to(running_bot.server, 101) == []


async def test_an_approved_scheduled_broadcast_keeps_its_time(running_bot, protests, organiser, clock):
    [waiting] = await write(organiser, schedule_at="tomorrow 07:00")
    assert "once approved it goes out Friday 02 March 2018 at 07:00" in waiting["text"]
    broadcast = await latest(running_bot)
    about, _preview = await reviews_reach(running_bot, SECOND)
    assert "on Friday 02 March 2018 at 07:00" in about["text"]
    second = running_bot.person(SECOND)
    [approved] = await second.press("Approve", next(m for m in second.messages if "reply_markup" in m))
    assert "goes out Friday 02 March 2018 at 07:00" in approved["text"]
    assert (await latest(running_bot)).status is BroadcastStatus.SCHEDULED
    assert alerts_to(running_bot.server, 101) == []
    clock.advance(clock.now().replace(day=2, hour=7) - clock.now())
    running_bot.services.broadcaster.wake()
    summary = await running_bot.services.broadcaster.wait_until_finished(broadcast.id)
    assert summary.counts.sent == 3 and summary.approved_by == SECOND


async def test_roles_are_checked_at_each_step(running_bot, protests, organiser):
    await write(organiser)
    broadcast = await latest(running_bot)
    await reviews_reach(running_bot, SECOND)
    second = running_bot.person(SECOND)
    preview = next(m for m in second.messages if "reply_markup" in m)
    await set_organiser(running_bot, SECOND, organiser=False)  # removed since they were asked
    assert [m["text"] for m in await second.press("Approve", preview)] == [render("refused_organiser.html")]
    assert (await latest(running_bot)).status is BroadcastStatus.FOR_APPROVAL
    # An author removed since writing it: their broadcast is not approved.
    await set_organiser(running_bot, FORMER, organiser=True)
    await write(running_bot.person(FORMER))
    second_broadcast = await latest(running_bot)
    await set_organiser(running_bot, FORMER, organiser=False)
    third = running_bot.person(THIRD)
    await third.send("/help")
    [answer] = await press_data(third, f"review:approve:{second_broadcast.id}")
    assert "whoever wrote it is no longer an organiser" in answer["text"]
    assert (await latest(running_bot)).status is BroadcastStatus.FOR_APPROVAL
    assert broadcast.id != second_broadcast.id


async def test_with_no_other_organiser_it_stays_a_draft(running_bot, protests, organiser):
    for user_id in (SECOND, THIRD):
        await set_organiser(running_bot, user_id, organiser=False)
    [answer] = await write(organiser)
    assert "there is no other organiser" in answer["text"]
    async with running_bot.db.transaction() as session:
        from sqlalchemy import select

        from storage.broadcasts.tables import Broadcast

        [status] = list(await session.scalars(select(Broadcast.status)))
    assert status == BroadcastStatus.DRAFT.value


async def test_a_small_broadcast_needs_no_approval(running_bot, protests, organiser, settings):
    running_bot.services.settings = settings.model_copy(update={"approval_above": 3})
    [started] = await write(organiser)
    assert "Sending broadcast #" in started["text"]


async def test_a_photo_is_reviewed_as_the_photo_itself(running_bot, protests, organiser):
    photo = [{"file_id": "route-map", "file_unique_id": "rm", "width": 800, "height": 600}]
    await organiser.say("/broadcast protests")
    await organiser.send(None, photo=photo, caption="Route map")
    await organiser.press("Send now")
    _about, preview = await reviews_reach(running_bot, SECOND)
    assert preview["caption"].startswith("Route map\n\n<i>You get this as a member of Protests and demos")
    assert [r.params["photo"] for r in running_bot.server.calls("sendPhoto")] == ["route-map"] * 3  # author, 901, 902
    second = running_bot.person(SECOND)
    [approved] = await second.press("Approve", preview)
    assert "is sending now" in approved["text"]


async def test_send_now_pressed_twice_submits_once(running_bot, protests, organiser):
    await organiser.say("/broadcast protests")
    _preview, confirm = await organiser.send(ALERT)
    await organiser.press("Send now", confirm)
    [again] = await organiser.press("Send now", confirm)
    assert "no longer waiting" in again["text"]
    await running_bot.services.broadcaster.wait_until_idle()
    second_asked = [m for m in running_bot.server.sent_to(SECOND) if "reply_markup" in m]
    assert len(second_asked) == 1
