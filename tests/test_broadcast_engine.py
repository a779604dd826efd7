"""The broadcast engine through the local Bot API server: who gets an alert, what Telegram's
errors do, pause, resume, cancel, scheduled sending, and a restart in the middle."""

from __future__ import annotations

import datetime as dt
import html

import pytest
from sqlalchemy import func, select

from bot.engines.broadcaster import Broadcaster
from bot.local_api.faults import ChatFault
from storage.broadcasts.deliveries import count_deliveries
from storage.broadcasts.listings import broadcast_summary
from storage.broadcasts.status import TextTooLong, change_broadcast, create_broadcast, send_broadcast_now
from storage.broadcasts.tables import BroadcastStatus, Delivery, DeliveryStatus
from storage.lists.chats import mark_chat_unreachable
from storage.lists.models import Chat, ChatKind, Subscription
from storage.lists.subscriptions import join_list, leave_list
from storage.telegram_html import visible_length
from tests.builders import chat_row, make_list, slugs_of, subscribe
from tests.conftest import ORGANISER_ID

ALERT = "Demo tomorrow 8.15am, Harrington Gardens entrance, Gloucester Road tube"


@pytest.fixture
async def protests(running_bot):
    return await make_list(running_bot.db, "protests", "Protests and demos")


async def subscribe_many(db, chat_ids, slug="protests"):
    for chat_id in chat_ids:
        await subscribe(db, chat_id, slug)


async def create(running_bot, mailing_list, text=ALERT, **kwargs):
    async with running_bot.db.transaction() as session:
        broadcast = await create_broadcast(
 session, list_id=mailing_list.id, text=text, created_by=kwargs.pop("created_by", ORGANISER_ID),
 now=running_bot.services.clock.now(), **kwargs)
    running_bot.services.broadcaster.wake()
    return broadcast


async def finished(running_bot, broadcast_id, timeout=20.0):
    return await running_bot.services.broadcaster.wait_until_finished(broadcast_id, timeout=timeout)


def texts_sent(server, chat_id):
    return [m.get("text") or m.get("caption") for m in server.sent_to(chat_id)]


async def test_everyone_on_the_list_gets_the_alert_once_with_the_footer_and_the_organiser_a_report(
        running_bot, protests):
    await subscribe_many(running_bot.db, [101, 102, 103])
    await subscribe(running_bot.db, -4001, "protests")  # a group
    broadcast = await create(running_bot, protests)
    summary = await finished(running_bot, broadcast.id)

    assert summary.status is BroadcastStatus.DONE
    assert (summary.counts.sent, summary.counts.pending, summary.counts.recipients) == (4, 0, 4)
    for chat_id in (101, 102, 103, -4001):
        [text] = texts_sent(running_bot.server, chat_id)
        assert text.startswith(ALERT)
        assert text.endswith("To leave: /unsubscribe protests</i>")
    report = running_bot.server.sent_to(ORGANISER_ID)[-1]["text"]
    assert "Broadcast finished" in report and "4 sent, 0 pending, 0 blocked, 0 failed" in report
    async with running_bot.db.transaction() as session:
        counted = await count_deliveries(session, broadcast_id=broadcast.id)
    assert counted[DeliveryStatus.SENT] == 4


async def test_recipients_are_the_list_as_it_stood_when_sending_began(running_bot, protests):
    await subscribe_many(running_bot.db, [101, 102, 103])
    await subscribe(running_bot.db, 104, "protests")
    async with running_bot.db.transaction() as session:
        draft = await create_broadcast(session, list_id=protests.id, text=ALERT, created_by=None,
                                       draft=True)
    async with running_bot.db.transaction() as session:
        await send_broadcast_now(session, broadcast_id=draft.id, now=running_bot.services.clock.now())
        # After the snapshot, before anyone's turn: 102 leaves, 103 blocks the bot, 105 joins.
        await leave_list(session, telegram_id=102, mailing_list=protests)
        await mark_chat_unreachable(session, telegram_id=103)
        await join_list(session, telegram_id=105, kind=ChatKind.PRIVATE,
          mailing_list=protests)
    running_bot.services.broadcaster.wake()
    summary = await finished(running_bot, draft.id)

    assert [bool(texts_sent(running_bot.server, c)) for c in (101, 102, 103, 104, 105)] == [
        True, False, False, True, False]
    assert (summary.counts.sent, summary.counts.skipped, summary.counts.recipients) == (2, 2, 4)


async def test_blocked_and_deactivated_users_and_vanished_chats_are_marked_inactive(running_bot, protests):
    await subscribe_many(running_bot.db, [101, 102, 103, 104])
    server = running_bot.server
    server.set_fault(102, ChatFault(kind="blocked"))
    server.set_fault(103, ChatFault(kind="deactivated"))
    server.set_fault(104, ChatFault(kind="not_found"))
    summary = await finished(running_bot, (await create(running_bot, protests)).id)

    c = summary.counts
    assert (c.sent, c.blocked, c.gone, c.failed) == (1, 2, 1, 0)
    for chat_id in (102, 103, 104):
        assert (await chat_row(running_bot.db, chat_id)).active is False
        assert await slugs_of(running_bot.db, chat_id) == []
    assert (await chat_row(running_bot.db, 101)).active is True
    report = server.sent_to(ORGANISER_ID)[-1]["text"]
    assert "1 sent, 0 pending, 2 blocked, 0 failed, 1 chats gone" in report


async def test_a_group_that_became_a_supergroup_gets_it_at_its_new_id(running_bot, protests):
    await subscribe(running_bot.db, -300, "protests")
    running_bot.server.set_fault(-300, ChatFault(kind="migrated", new_chat_id=-1000000000300))
    summary = await finished(running_bot, (await create(running_bot, protests)).id)

    assert summary.counts.sent == 1
    assert texts_sent(running_bot.server, -300) == []
    assert texts_sent(running_bot.server, -1000000000300)[0].startswith(ALERT)
    assert await slugs_of(running_bot.db, -1000000000300) == ["protests"]
    assert await chat_row(running_bot.db, -300) is None


async def test_server_errors_are_retried_then_count_as_failed(running_bot, protests):
    running_bot.services.broadcaster.sender.retry_delays = (0.01, 0.02)
    await subscribe_many(running_bot.db, [101, 102])
    running_bot.server.set_fault(101, ChatFault(kind="server_error", times=2))
    running_bot.server.set_fault(102, ChatFault(kind="server_error"))
    summary = await finished(running_bot, (await create(running_bot, protests)).id)

    assert (summary.counts.sent, summary.counts.failed) == (1, 1)
    assert len(texts_sent(running_bot.server, 101)) == 1
    attempts_102 = [r for r in running_bot.server.calls("sendMessage") if r.chat_id == 102]
    assert len(attempts_102) == 3  # the first try and two retries
    assert (await chat_row(running_bot.db, 102)).active is True  # a failure is not a block


async def test_network_timeouts_are_retried(running_bot, protests):
    sender = running_bot.services.broadcaster.sender
    sender.retry_delays = (0.01,)
    sender.bot.request._read_timeout = 0.2
    await subscribe(running_bot.db, 101, "protests")
    running_bot.server.set_fault(101, ChatFault(kind="delay", delay=0.5, times=1))
    summary = await finished(running_bot, (await create(running_bot, protests)).id)

    assert summary.counts.sent == 1
    # The timed-out request may still have arrived: at least once, and at most twice.
    assert 1 <= len(texts_sent(running_bot.server, 101)) <= 2


async def test_a_429_pauses_all_sending_for_retry_after(running_bot, protests):
    await subscribe_many(running_bot.db, [101, 102, 103])
    running_bot.server.set_fault(101, ChatFault(kind="retry_after", retry_after=1, times=1))
    summary = await finished(running_bot, (await create(running_bot, protests)).id)

    assert (summary.counts.sent, summary.counts.failed) == (3, 0)
    sends = running_bot.server.calls("sendMessage")
    refused = next(r for r in sends if r.status == 429)
    after = [r for r in sends if r.at > refused.at and r.chat_id in (101, 102, 103)]
    assert after and min(r.at for r in after) - refused.at >= 0.95
    assert running_bot.services.broadcaster.sender.rate_limited == 1


async def test_pause_resume_and_cancel(running_bot, protests):
    chat_ids = list(range(1001, 1041))
    await subscribe_many(running_bot.db, chat_ids)
    server = running_bot.server
    engine = running_bot.services.broadcaster
    broadcast = await create(running_bot, protests)
    await server.wait_until(lambda: server.sent_total >= 5)
    async with running_bot.db.transaction() as session:
        assert await change_broadcast(session, broadcast_id=broadcast.id, action="pause")
    engine.wake()
    await engine.wait_until_idle()
    sent_while_pausing = server.sent_total
    assert 5 <= sent_while_pausing < 40
    async with running_bot.db.transaction() as session:
        paused = await broadcast_summary(session, broadcast_id=broadcast.id)
        assert not await change_broadcast(session, broadcast_id=broadcast.id, action="pause")
    assert paused.status is BroadcastStatus.PAUSED
    assert paused.counts.sent == sent_while_pausing
    assert paused.counts.pending == 40 - sent_while_pausing

    async with running_bot.db.transaction() as session:
        assert await change_broadcast(session, broadcast_id=broadcast.id, action="resume")
    engine.wake()
    await server.wait_until(lambda: server.sent_total >= sent_while_pausing + 5)
    async with running_bot.db.transaction() as session:
        assert await change_broadcast(session, broadcast_id=broadcast.id, action="cancel")
    engine.wake()
    summary = await finished(running_bot, broadcast.id)
    assert summary.status is BroadcastStatus.CANCELLED
    assert summary.counts.sent == server.sent_total < 40
    assert all(count == 1 for count in server.delivered.values())
    async with running_bot.db.transaction() as session:
        assert not await change_broadcast(session, broadcast_id=broadcast.id, action="resume")


async def test_scheduled_broadcast_waits_for_the_clock(running_bot, protests, clock):
    await subscribe_many(running_bot.db, [101, 102])
    broadcast = await create(running_bot, protests, send_at=clock.now() + dt.timedelta(hours=12))
    engine = running_bot.services.broadcaster
    assert broadcast.status == BroadcastStatus.SCHEDULED
    await subscribe(running_bot.db, 103, "protests")  # joins before it is due: gets it
    engine.wake()
    await engine.wait_until_idle()
    assert running_bot.server.sent_total == 0

    clock.advance(dt.timedelta(hours=11, minutes=59))
    engine.wake()
    await engine.wait_until_idle()
    assert running_bot.server.sent_total == 0

    clock.advance(dt.timedelta(minutes=1))
    engine.wake()
    summary = await finished(running_bot, broadcast.id)
    assert summary.counts.sent == 3
    assert summary.started_at == clock.now()


async def test_restart_in_the_middle_skips_nobody_and_reports_possible_duplicates(running_bot, protests):
    chat_ids = list(range(2001, 2061))
    await subscribe_many(running_bot.db, chat_ids)
    server = running_bot.server
    engine = running_bot.services.broadcaster
    broadcast = await create(running_bot, protests)
    await server.wait_until(lambda: server.sent_total >= 20, timeout=10)
    engine.halt_as_if_killed()
    # A killed process renews its worker lease no more; here it lapses at once.
    await running_bot.application.bot_data["scheduler_lease"].stop()

    async with running_bot.db.transaction() as session:
        claimed = (await count_deliveries(session, broadcast_id=broadcast.id))[DeliveryStatus.SENDING]
    assert claimed <= engine.concurrency

    restarted = Broadcaster(db=running_bot.db, sender=engine.sender, clock=engine.clock, compose=engine.compose,
                            report=engine.report, rate=engine.rate, concurrency=engine.concurrency)
    running_bot.services.broadcaster = restarted
    restarted.start()
    summary = await restarted.wait_until_finished(broadcast.id, timeout=20)
    assert summary.status is BroadcastStatus.DONE
    assert set(server.delivered) >= set(chat_ids)
    duplicates = sum(count - 1 for count in server.delivered.values())
    assert duplicates <= summary.possible_duplicates == claimed
    assert summary.counts.sent == 60
    if summary.possible_duplicates:
        assert "may have received it twice" in server.sent_to(ORGANISER_ID)[-1]["text"]


async def test_custom_recipients_and_origin_key_make_one_broadcast_per_key(running_bot, protests):
    await subscribe_many(running_bot.db, [101, 102, 103])
    going = select(Chat.id).where(Chat.telegram_id.in_([101, 103]))
    first = await create(running_bot, protests, text="Reminder: demo at 8.15", origin_key="reminder:42",
                         recipient_chat_rows=going, created_by=None)
    second = await create(running_bot, protests, text="Reminder: demo at 8.15", origin_key="reminder:42",
                          recipient_chat_rows=going, created_by=None)
    assert first is not None and second is None
    summary = await finished(running_bot, first.id)
    assert summary.counts.sent == 2
    assert [bool(texts_sent(running_bot.server, c)) for c in (101, 102, 103)] == [True, False, True]
    assert running_bot.server.sent_to(ORGANISER_ID) == []  # no organiser, no report


async def test_photo_and_document_broadcasts_carry_the_text_as_caption(running_bot, protests):
    await subscribe(running_bot.db, 101, "protests")
    first = await create(running_bot, protests, text="<b>Route map</b>", photo_file_id="photo-file-1")
    await finished(running_bot, first.id)
    second = await create(running_bot, protests, text="Leaflet", document_file_id="doc-file-1")
    await finished(running_bot, second.id)
    photo, document = running_bot.server.sent_to(101)
    assert photo["caption"].startswith("<b>Route map</b>") and photo["_parse_mode"] == "HTML"
    assert document["caption"].startswith("Leaflet")
    assert [r.params.get("photo") for r in running_bot.server.calls("sendPhoto")] == ["photo-file-1"]


async def test_texts_over_telegrams_limits_are_refused_never_cut(running_bot, protests):
    async with running_bot.db.transaction() as session:
        with pytest.raises(TextTooLong) as caught:
            await create_broadcast(session, list_id=protests.id, text="x" * 4097, created_by=None)
        assert (caught.value.length, caught.value.limit) == (4097, 4096)
        with pytest.raises(TextTooLong):
            await create_broadcast(session, list_id=protests.id, text="x" * 1025, created_by=None,
                                   photo_file_id="p")
        # Markup does not count; what the reader sees does (an emoji is two UTF-16 units).
        assert visible_length("<b>a &amp; b</b>") == 5
        assert visible_length("✊🏽") == 3


async def test_forget_erases_the_chats_deliveries(running_bot, protests):
    supporter = running_bot.person(101)
    await subscribe(running_bot.db, 101, "protests")
    summary = await finished(running_bot, (await create(running_bot, protests)).id)
    assert summary.counts.sent == 1
    assert "1 alert received" in await supporter.say("/mydata")
    chat = await chat_row(running_bot.db, 101)
    await supporter.say("/forget")
    await supporter.press("Yes, erase")
    async with running_bot.db.transaction() as session:
        left = await session.scalar(select(func.count()).select_from(Delivery)
                         .where(Delivery.chat_id == chat.id))
        subscribed = await session.scalar(select(func.count()).select_from(Subscription))
    assert (left, subscribed) == (0, 0)


async def test_the_bot_keeps_answering_while_a_broadcast_runs(running_bot, protests):
    await subscribe_many(running_bot.db, list(range(3001, 3041)))
    someone = running_bot.person(555)
    broadcast = await create(running_bot, protests)
    await running_bot.server.wait_until(lambda: running_bot.server.sent_total >= 3)
    assert "not on any list" in await someone.say("/mylists")
    async with running_bot.db.transaction() as session:
        during = await broadcast_summary(session, broadcast_id=broadcast.id)
    assert during.status is BroadcastStatus.SENDING
    await finished(running_bot, broadcast.id)


# ------------------------------------------------------------------ rows that cannot be handled (issue 11)

CANT_PARSE = "Bad Request: can't parse entities: Unsupported start tag \"blink\" at byte offset 0"


async def until(condition, timeout=10.0):
    """Waits on the event loop (not on the injected clock) until the database shows `condition`."""
    import asyncio

    async with asyncio.timeout(timeout):
        while not await condition():
            await asyncio.sleep(0.02)


def status_of(running_bot, broadcast_id):
    async def read():
        async with running_bot.db.transaction() as session:
            return await broadcast_summary(session, broadcast_id=broadcast_id)
    return read


async def test_a_broadcast_too_long_with_its_footer_is_failed_once_and_the_others_go_on(running_bot, protests):
    await subscribe_many(running_bot.db, [101, 102])
    # Fits alone (so it was accepted), but not with the list's footer: nothing retries that into shape.
    too_long = await create(running_bot, protests, text="x" * 4090)
    fine = await create(running_bot, protests)
    failed = await finished(running_bot, too_long.id)
    assert (await finished(running_bot, fine.id)).counts.sent == 2

    assert failed.status is BroadcastStatus.FAILED
    assert "more than the 4096 Telegram allows" in failed.problem
    assert (failed.counts.sent, failed.counts.failed, failed.counts.pending) == (0, 2, 0)
    assert texts_sent(running_bot.server, 101) == texts_sent(running_bot.server, 102)
    assert [t.startswith(ALERT) for t in texts_sent(running_bot.server, 101)] == [True]
    engine = running_bot.services.broadcaster
    engine.wake()
    await engine.wait_until_idle()
    told = [t for t in texts_sent(running_bot.server, ORGANISER_ID) if "Broadcast not sent" in t]
    assert len(told) == 1 and "more than the 4096 Telegram allows" in told[0]
    assert "You get this as a member" not in told[0]  # a notice to the organiser carries no list footer


async def test_first_sends_refused_for_the_message_pause_the_broadcast_and_resume_sends_them(
        running_bot, protests, organiser):
    chat_ids = list(range(1101, 1141))
    await subscribe_many(running_bot.db, chat_ids)
    server = running_bot.server
    for chat_id in chat_ids:
        server.set_fault(chat_id, ChatFault(kind="bad_request", description=CANT_PARSE))
    engine = running_bot.services.broadcaster
    broadcast = await create(running_bot, protests)
    await until(lambda: _paused_and_told(running_bot, broadcast.id))
    await engine.wait_until_idle()

    paused = await status_of(running_bot, broadcast.id)()
    # python-telegram-bot keeps Telegram's description, less its "Bad Request: " prefix.
    assert paused.status is BroadcastStatus.PAUSED and "can't parse entities" in paused.problem.lower()
    # Nobody was failed one by one: the attempts went back to the queue.
    assert (paused.counts.failed, paused.counts.pending, paused.counts.sent) == (0, 40, 0)
    attempts = [r for r in server.calls("sendMessage") if r.chat_id in chat_ids]
    assert 5 <= len(attempts) <= 5 + engine.concurrency
    [notice] = [t for t in texts_sent(server, ORGANISER_ID) if "Broadcast paused" in t]
    assert "can't parse entities" in html.unescape(notice).lower()
    listing = html.unescape(await organiser.say("/broadcasts"))
    assert "paused" in listing and "Why: Can't parse entities" in listing

    for chat_id in chat_ids:
        server.clear_fault(chat_id)
    await organiser.press(f"Resume #{broadcast.id}")
    summary = await finished(running_bot, broadcast.id)
    assert summary.status is BroadcastStatus.DONE and summary.problem is None
    assert (summary.counts.sent, summary.counts.failed) == (40, 0)
    assert {chat: server.delivered[chat] for chat in chat_ids} == {chat: 1 for chat in chat_ids}


async def _paused_and_told(running_bot, broadcast_id):
    summary = await status_of(running_bot, broadcast_id)()
    told = any("Broadcast paused" in t for t in texts_sent(running_bot.server, ORGANISER_ID))
    return summary.status is BroadcastStatus.PAUSED and told


async def test_a_small_broadcast_whose_every_send_is_refused_pauses_too(running_bot, protests):
    await subscribe_many(running_bot.db, [101, 102])
    for chat_id in (101, 102):
        running_bot.server.set_fault(chat_id, ChatFault(
            kind="bad_request", description="Bad Request: wrong file identifier/HTTP URL specified"))
    broadcast = await create(running_bot, protests, text="Route map", photo_file_id="no-such-file")
    await until(lambda: _paused_and_told(running_bot, broadcast.id))
    paused = await status_of(running_bot, broadcast.id)()
    assert "wrong file identifier" in paused.problem.lower()
    assert (paused.counts.failed, paused.counts.pending) == (0, 2)


async def test_recipient_level_400s_never_trip_the_breaker(running_bot, protests):
    await subscribe_many(running_bot.db, list(range(101, 111)))
    server = running_bot.server
    for chat_id in (101, 102, 103):
        server.set_fault(chat_id, ChatFault(kind="not_found"))
    for chat_id in (104, 105, 106):  # ids Telegram does not take for a chat
        server.set_fault(chat_id, ChatFault(kind="bad_request", description="Bad Request: PEER_ID_INVALID"))
    server.set_fault(107, ChatFault(kind="bad_request", description="Bad Request: not enough rights to send text "
                                                                    "messages to the chat"))
    summary = await finished(running_bot, (await create(running_bot, protests)).id)
    c = summary.counts
    assert summary.status is BroadcastStatus.DONE
    assert (c.sent, c.gone, c.failed, c.pending) == (3, 6, 1, 0)
    assert (await chat_row(running_bot.db, 104)).active is False
    assert (await chat_row(running_bot.db, 107)).active is True  # one refusal is no reason to stop writing


async def test_a_refusal_after_the_message_got_through_fails_only_that_recipient(running_bot, protests):
    await subscribe_many(running_bot.db, [101, 102, 103])
    for chat_id in (102, 103):
        running_bot.server.set_fault(chat_id, ChatFault(kind="bad_request", description="Bad Request: message is "
                                                                                         "too long"))
    summary = await finished(running_bot, (await create(running_bot, protests)).id)
    assert summary.status is BroadcastStatus.DONE
    assert (summary.counts.sent, summary.counts.failed, summary.counts.pending) == (1, 2, 0)


async def test_an_outcome_that_cannot_be_stored_does_not_take_its_batch_with_it(running_bot, protests):
    # Telegram says the group moved to an id no database column can hold: the send is recorded,
    # the move is not, and the other deliveries of the same batch are recorded as usual.
    await subscribe_many(running_bot.db, [101, 102, 103, -300])
    running_bot.server.set_fault(-300, ChatFault(kind="migrated", new_chat_id=2**70))
    summary = await finished(running_bot, (await create(running_bot, protests)).id, timeout=10)
    assert summary.status is BroadcastStatus.DONE
    assert (summary.counts.sent, summary.counts.pending) == (4, 0)
    assert await slugs_of(running_bot.db, -300) == ["protests"]


async def test_a_broadcast_nobody_created_that_pauses_itself_tells_every_organiser(running_bot, protests):
    # A reminder, or an alert queued from the terminal: there is no creator to tell.
    await subscribe(running_bot.db, 101, "protests")
    running_bot.server.set_fault(101, ChatFault(kind="bad_request", description="Bad Request: message text is empty"))
    broadcast = await create(running_bot, protests, created_by=None)
    await until(lambda: _paused_and_told(running_bot, broadcast.id))
    [notice] = [t for t in texts_sent(running_bot.server, ORGANISER_ID) if "Broadcast paused" in t]
    assert "message text is empty" in notice.lower()
