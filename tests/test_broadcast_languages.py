"""Alerts in several languages, through the local Bot API server: the organiser adds a Bengali
version at the preview, each recipient gets the version in its chat's language (else the
original), a killed send resumes with the same versions, the report counts per language, and
reminders reach each chat rendered in its language."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from bot.engines.broadcaster import Broadcaster
from messages import render
from storage.broadcasts.deliveries import count_deliveries
from storage.broadcasts.listings import broadcast_summary
from storage.broadcasts.status import create_broadcast
from storage.broadcasts.tables import Broadcast, BroadcastStatus, BroadcastVersion, DeliveryStatus
from storage.broadcasts.versions import LanguageCount, languages_queued, versions_of
from storage.lists.models import Chat
from tests.builders import make_list, subscribe
from tests.conftest import ORGANISER_ID, invoke
from tests.test_events import rsvp_statuses, utc
from tests.test_events_reminders import bot_running, demo, reminders_to  # noqa: F401 (demo: a fixture)
from tests.test_place_offers import full_with_waiting, groups  # noqa: F401 (groups: a fixture)

ENGLISH = "Demo tomorrow 8.15am, Harrington Gardens entrance"
BENGALI = "আগামীকাল সকাল ৮.১৫-এ বিক্ষোভ, হ্যারিংটন গার্ডেনসের প্রবেশপথে"
FOOTER = "<i>You get this as a member of Protests &amp; demos. To leave: /unsubscribe protests</i>"


async def speak(db, telegram_id: int, language: str | None) -> None:
    """Sets a chat's language directly, as /language will."""
    async with db.transaction() as session:
        await session.execute(update(Chat).where(Chat.telegram_id == telegram_id).values(language=language))


async def make_protests(running_bot, *, english=(101, 103), bengali=(102,)):
    mailing_list = await make_list(running_bot.db, "protests", "Protests & demos")
    for chat_id in (*english, *bengali):
        await subscribe(running_bot.db, chat_id, "protests")
    for chat_id in bengali:
        await speak(running_bot.db, chat_id, "bn")
    await speak(running_bot.db, english[-1], "en")  # chose English: gets the original
    return mailing_list


async def newest_broadcast_id(db) -> int:
    async with db.transaction() as session:
        return await session.scalar(select(Broadcast.id).order_by(Broadcast.id.desc()).limit(1))


async def compose_alert(organiser):
    await organiser.say("/broadcast")
    await organiser.press("Protests & demos")
    return await organiser.send(ENGLISH)


async def test_a_bilingual_alert_reaches_each_chat_in_its_language_and_the_report_counts_them(
        running_bot, organiser):
    await make_protests(running_bot)
    _preview, confirm = await compose_alert(organiser)
    assert "Add বাংলা version" in [b["text"] for b in organiser.buttons(confirm)]

    asked = await organiser.press("Add বাংলা version")
    assert "Send the <b>বাংলা</b> version of broadcast #" in asked[0]["text"]
    english, bengali, confirm = await organiser.send(BENGALI)
    # Each version as it will be sent: the same footer, each in its own language's rendering.
    assert english["text"] == f"{ENGLISH}\n\n{FOOTER}"
    assert bengali["text"].startswith(BENGALI) and bengali["text"] != english["text"]
    assert "first the original, then <b>বাংলা</b>" in confirm["text"]
    assert "reach the <b>3</b> chats" in confirm["text"]
    assert "Add বাংলা version" not in [b["text"] for b in organiser.buttons(confirm)]

    await organiser.press("Send now")
    broadcast_id = await newest_broadcast_id(running_bot.db)
    summary = await running_bot.services.broadcaster.wait_until_finished(broadcast_id)
    server = running_bot.server
    assert [m["text"] for m in server.sent_to(101)] == [english["text"]]
    assert [m["text"] for m in server.sent_to(103)] == [english["text"]]
    assert [m["text"] for m in server.sent_to(102)] == [bengali["text"]]
    assert summary.counts.sent == 3
    assert summary.by_language == (LanguageCount(None, 2), LanguageCount("bn", 1))
    assert "Sent by language: 2 in the original, 1 in বাংলা." in organiser.last["text"]
    status = render("cli_broadcast_status.txt", items=[summary], tz=running_bot.services.settings.tz, rate=25,
                    detail=True)
    assert "Sent by language: 2 original, 1 bn" in status


async def test_a_bengali_version_too_long_with_the_footer_is_refused_and_can_be_sent_again(running_bot, organiser):
    await make_protests(running_bot)
    await compose_alert(organiser)
    await organiser.press("Add বাংলা version")
    # Within 4,096 on its own, over it with the footer every recipient gets.
    refused = await organiser.send("ক" * 4050)
    assert len(refused) == 1
    answer = refused[0]["text"]
    assert "The বাংলা version was not added." in answer
    assert "characters with the footer; Telegram allows 4,096" in answer
    broadcast_id = await newest_broadcast_id(running_bot.db)
    async with running_bot.db.transaction() as session:
        assert await versions_of(session, broadcast_id=broadcast_id) == {}
    # The question stays open: a shorter version is taken.
    *_previews, confirm = await organiser.send(BENGALI)
    assert "first the original, then <b>বাংলা</b>" in confirm["text"]
    async with running_bot.db.transaction() as session:
        assert await versions_of(session, broadcast_id=broadcast_id) == {"bn": BENGALI}


async def test_a_killed_send_resumes_with_each_recipients_version_and_counts_each_once(running_bot):
    english, bengali = list(range(3001, 3031)), list(range(3101, 3131))
    mailing_list = await make_protests(running_bot, english=english, bengali=bengali)
    server = running_bot.server
    engine = running_bot.services.broadcaster
    async with running_bot.db.transaction() as session:
        broadcast = await create_broadcast(session, list_id=mailing_list.id, text=ENGLISH, versions={"bn": BENGALI},
                                           created_by=ORGANISER_ID, now=running_bot.services.clock.now())
    engine.wake()
    await server.wait_until(lambda: server.sent_total >= 20, timeout=10)
    engine.halt_as_if_killed()
    await running_bot.application.bot_data["scheduler_lease"].stop()
    # Every chat changes its language while the bot is down: what it gets was fixed when queued.
    for chat_id in english:
        await speak(running_bot.db, chat_id, "bn")
    for chat_id in bengali:
        await speak(running_bot.db, chat_id, None)

    restarted = Broadcaster(db=running_bot.db, sender=engine.sender, clock=engine.clock, compose=engine.compose,
                            report=engine.report, rate=engine.rate, concurrency=engine.concurrency)
    running_bot.services.broadcaster = restarted
    restarted.start()
    summary = await restarted.wait_until_finished(broadcast.id, timeout=20)
    assert summary.status is BroadcastStatus.DONE
    for chat_id in english + bengali:
        texts = {m["text"] for m in server.sent_to(chat_id)}
        wanted = ENGLISH if chat_id in english else BENGALI
        assert len(texts) == 1 and texts.pop().startswith(wanted), chat_id
    duplicates = sum(count - 1 for chat, count in server.delivered.items() if chat != ORGANISER_ID)
    assert duplicates <= summary.possible_duplicates
    async with running_bot.db.transaction() as session:
        assert (await count_deliveries(session, broadcast_id=broadcast.id))[DeliveryStatus.SENT] == 60
        assert await languages_queued(session, broadcast_id=broadcast.id) == {None: 30, "bn": 30}
        summary = await broadcast_summary(session, broadcast_id=broadcast.id)
    assert summary.by_language == (LanguageCount(None, 30), LanguageCount("bn", 30))


@pytest.mark.usefixtures("demo")
async def test_a_reminder_reaches_a_bengali_chat_in_bengali_once(database, telegram, clock, settings):
    async with database.transaction() as session:
        await session.execute(update(Chat).where(Chat.telegram_id == 102).values(language="bn"))
    async with bot_running(database, telegram, clock, settings) as bot:
        clock.set(utc(2018, 3, 20, 19, 0))  # the evening before
        assert len((await bot.services.reminders.fire_due()).sent) == 1
        async with database.transaction() as session:
            broadcast_id = await session.scalar(select(Broadcast.id).where(Broadcast.origin_key.like("reminder:%")))
        await bot.services.broadcaster.wait_until_finished(broadcast_id)
    async with bot_running(database, telegram, clock, settings) as bot:
        await bot.services.reminders.rebuild()
        assert not (await bot.services.reminders.fire_due()).sent
    [bengali] = [m["text"] for m in telegram.sent_to(102)]
    assert bengali.startswith("<b>রিমাইন্ডার: Demo at the Millennium Conference Centre</b>")
    assert [len(reminders_to(telegram, chat)) for chat in (101, 103)] == [1, 1]
    async with database.transaction() as session:
        languages = set(await session.scalars(
            select(BroadcastVersion.language).where(BroadcastVersion.broadcast_id == broadcast_id)))
        assert await languages_queued(session, broadcast_id=broadcast_id) == {None: 2, "bn": 1}
    assert languages == {"bn"}  # rendered once per language, not once per recipient


def test_the_terminal_queues_a_bengali_version_from_a_file(cli_env, tmp_path):
    invoke("lists", "create", "protests", "--title", "Protests and demos")
    ids = tmp_path / "ids.csv"
    ids.write_text("1001\n")
    invoke("subscribers", "import", str(ids), "--list", "protests")
    bengali = tmp_path / "alert-bn.html"
    bengali.write_text(f"<b>{BENGALI}</b>\n", encoding="utf-8")
    too_long = tmp_path / "long-bn.html"
    too_long.write_text("ক" * 4090, encoding="utf-8")
    for spec, expected in ((f"fr={bengali}", "give a language the bot speaks"),
                           (f"bn={tmp_path}/missing.html", "Could not read the file"),
                           (f"bn={too_long}", "Telegram allows 4096. Nothing was queued")):
        refused = invoke("broadcast", "send", "--list", "protests", "--text", ENGLISH, "--version", spec)
        assert refused.exit_code == 1 and expected in refused.output, (spec, refused.output)
    queued = invoke("broadcast", "send", "--list", "protests", "--text", ENGLISH, "--version", f"bn={bengali}")
    assert queued.exit_code == 0, queued.output
    assert "Broadcast #1" in queued.output
    # Queued with its version: what the running bot sends is then the engine's business (tested above).
    detail = invoke("broadcast", "status", "1")
    assert detail.exit_code == 0 and "Sent by language: 0 original, 0 bn" in detail.output


@pytest.mark.usefixtures("groups")
async def test_a_place_offer_reaches_a_bengali_chat_with_its_button_in_bengali(database, telegram, clock, settings):
    async with bot_running(database, telegram, clock, settings) as bot:
        date_id, (first, second) = await full_with_waiting(bot, clock, settings, waiting=1)
        await speak(bot.db, second.chat_id, "bn")
        await first.press("Can't go")
        # The offer's heading is in Bengali too ("a place came free"), so it is found by those words.
        def offers() -> list[dict]:
            return [m for m in second.messages if "জায়গা খালি" in m.get("text", "")]
        await bot.server.wait_until(lambda: len(offers()) >= 1)
        [offer] = offers()
        assert [b["text"] for b in second.buttons(offer)] == ["জায়গাটি নিন"]  # "Take the place"
        await second.press("জায়গাটি নিন", offer)
        assert (await rsvp_statuses(bot.db, date_id))[second.chat_id] == "going"
