"""Each chat in its own language (issue 15): the Telegram app's language before any choice,
/language to choose (a group's administrators for the group), the Telegram language stored on
joining a list or answering, shown by /mydata and erased by /forget, the command menus per
language, and the cache that spares a query per update. All through the local Bot API server;
the texts asserted are those the Bengali catalogue holds today."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import event

from bot.handlers.callback_data import ForgetAnswer
from messages import label, render
from storage.lists.languages import CACHE_FOR, set_chat_language
from storage.lists.models import ChatKind
from tests.builders import chat_row, make_list, subscribe
from tests.conftest import ORGANISER_ID
from tests.test_events import small_event

NOT_ON_A_LIST_BN = "আপনি কোনো তালিকায় ছিলেন না, তাই কিছুই বদলায়নি।"
NOT_ON_A_LIST_EN = "You were not on any list, so nothing changed."
REFUSED_IN_GROUP = render("refused_group_admin.html")
BENGALI, ENGLISH = 201, 202  # Telegram apps in Bengali and in English
GROUP, ADMIN, MEMBER = -300, 301, 302
DAY = dt.timedelta(days=1)


@pytest.fixture
async def protests(running_bot):
    return await make_list(running_bot.db, "protests", "Protests and demos")


async def stored(running_bot, chat_id: int) -> str | None:
    row = await chat_row(running_bot.db, chat_id)
    return row.language if row is not None else None


# ------------------------------------------------------------------ before any choice


@pytest.mark.parametrize("code", ["bn", "bn-BD", "bn_IN"])
async def test_a_person_whose_telegram_is_in_bengali_is_answered_in_bengali(running_bot, code):
    person = running_bot.person(BENGALI, language_code=code)
    assert NOT_ON_A_LIST_BN in await person.say("/stop")
    assert "বাংলা ভাষায় কথা বলে" in await person.say("/language")
    assert NOT_ON_A_LIST_EN in await running_bot.person(ENGLISH).say("/stop")


async def test_a_language_without_a_catalogue_gets_english(running_bot):
    assert NOT_ON_A_LIST_EN in await running_bot.person(203, language_code="fr").say("/stop")


async def test_start_and_the_welcome_buttons_speak_the_persons_language(running_bot, protests):
    person = running_bot.person(BENGALI, language_code="bn")
    await person.send("/start")
    assert person.last["text"] == render("welcome.html", lists=[_membership(protests)], language="bn")


def _membership(mailing_list):
    from storage.lists.subscriptions import ListMembership
    return ListMembership(mailing_list, False)


# ------------------------------------------------------------------ /language


async def test_language_offers_each_language_in_its_own_name_the_current_one_marked(running_bot):
    person = running_bot.person(BENGALI, language_code="bn")
    await person.send("/language")
    assert [button["text"] for button in person.buttons()] == ["English", "✓ বাংলা"]
    answers = await person.press("English")
    assert "From now on the bot speaks English in this chat." in answers[-1]["text"]
    assert [button["text"] for button in person.buttons()] == ["✓ English", "বাংলা"]
    # The choice wins over the Telegram app's language from now on.
    assert NOT_ON_A_LIST_EN in await person.say("/stop")
    assert await stored(running_bot, BENGALI) == "en"


async def test_pressing_bengali_answers_in_bengali_at_once(running_bot):
    person = running_bot.person(ENGLISH)
    await person.send("/language")
    answers = await person.press("বাংলা")
    assert "এখন থেকে এই চ্যাটে বট বাংলা ভাষায় কথা বলবে।" in answers[-1]["text"]
    assert NOT_ON_A_LIST_BN in await person.say("/stop")


@pytest.mark.parametrize("typed", ["bn", "BN", "bn-BD", "বাংলা", "Bangla"])
async def test_a_language_can_be_typed(running_bot, typed):
    person = running_bot.person(ENGLISH)
    assert "বাংলা ভাষায় কথা বলবে" in await person.say(f"/language {typed}")
    assert await stored(running_bot, ENGLISH) == "bn"
    assert NOT_ON_A_LIST_BN in await person.say("/stop")


async def test_an_unknown_language_is_answered_with_the_choices(running_bot):
    person = running_bot.person(ENGLISH)
    answer = await person.say("/language klingon")
    assert "cannot speak “klingon”" in answer
    assert "<code>en</code>: English" in answer
    assert "বাংলা" in answer
    assert await chat_row(running_bot.db, ENGLISH) is None  # nothing stored
    bengali = await running_bot.person(BENGALI, language_code="bn").say("/language fr")
    assert "দুঃখিত, বট “fr” ভাষায় কথা বলতে পারে না।" in bengali


async def test_in_a_group_only_administrators_choose_its_language(running_bot):
    running_bot.server.add_group(GROUP, admins={ADMIN})
    member = running_bot.person(MEMBER, chat_id=GROUP)
    admin = running_bot.person(ADMIN, chat_id=GROUP)
    assert await member.say("/language bn") == REFUSED_IN_GROUP
    assert await stored(running_bot, GROUP) is None
    await admin.send("/language")
    assert (await member.press("বাংলা"))[-1]["text"] == REFUSED_IN_GROUP  # a member pressing the admin's buttons
    assert await stored(running_bot, GROUP) is None
    assert "গ্রুপের অ্যাডমিনরা" in await admin.say("/language bn")
    assert await stored(running_bot, GROUP) == "bn"
    # The whole group is answered in it, whatever each one's Telegram app speaks.
    assert NOT_ON_A_LIST_BN in await admin.say("/stop")


# ------------------------------------------------------------------ stored on joining, shown, erased


async def test_joining_stores_the_telegram_language_when_the_bot_speaks_it(running_bot, protests, clock,
                                                                           settings):
    bengali = running_bot.person(BENGALI, language_code="bn-BD")
    await bengali.say("/subscribe protests")
    assert await stored(running_bot, BENGALI) == "bn"
    await running_bot.person(ENGLISH).say("/subscribe protests")
    assert await stored(running_bot, ENGLISH) is None  # English is what no language gives anyway
    french = running_bot.person(203, language_code="fr")
    await french.send("/start")
    await french.press("Join")  # by the button
    assert await stored(running_bot, 203) is None
    by_button = running_bot.person(204, language_code="bn")
    await by_button.send("/start")
    await by_button.press(label("join", title="Protests and demos", language="bn"))
    assert await stored(running_bot, 204) == "bn"
    by_link = running_bot.person(205, language_code="bn")
    await by_link.send("/start protests")  # a poster's deep link
    assert await stored(running_bot, 205) == "bn"


async def test_answering_an_event_stores_it_and_a_choice_is_never_replaced(running_bot, protests, clock, settings):
    date_id = await small_event(running_bot.db, clock, settings, slug="protests", starts_at=clock.now() + 7 * DAY)
    await subscribe(running_bot.db, ENGLISH, "protests")
    chose = running_bot.person(ENGLISH)
    await chose.say("/language en")
    running_bot.server.set_user_language(ENGLISH, "bn")
    await chose.send("/events")
    await chose.press("Going")
    assert await stored(running_bot, ENGLISH) == "en"
    answering = running_bot.person(BENGALI, language_code="bn")
    await subscribe(running_bot.db, BENGALI, "protests")
    await answering.send("/events")
    await answering.press(label("event_going", language="bn"))
    assert await stored(running_bot, BENGALI) == "bn"
    assert date_id is not None


async def test_mydata_shows_the_language(running_bot, protests):
    bengali = running_bot.person(BENGALI, language_code="bn")
    await bengali.say("/subscribe protests")
    assert "ভাষা (/language): বাংলা" in await bengali.say("/mydata")
    english = running_bot.person(ENGLISH)
    await english.say("/subscribe protests")
    assert "Language (/language): none stored" in await english.say("/mydata")
    await english.say("/language en")
    assert "Language (/language): English" in await english.say("/mydata")
    assert "/language" in render("privacy.html", retention_days=30)


async def test_forget_erases_the_language_and_the_cache_forgets_it(running_bot, protests):
    person = running_bot.person(ENGLISH)
    await person.say("/language bn")
    assert NOT_ON_A_LIST_BN in await person.say("/stop")
    await person.send("/forget")
    # By its data: the label is Bengali once buttons.txt is translated, English until then.
    await running_bot.deliver(running_bot.server.press_button(ENGLISH, person.last, ForgetAnswer.build("yes")))
    assert await chat_row(running_bot.db, ENGLISH) is None
    assert NOT_ON_A_LIST_EN in await person.say("/stop")  # their Telegram app's English again


async def test_the_retention_sweep_erases_it_and_the_cache_forgets_it(running_bot, clock):
    person = running_bot.person(ENGLISH)
    await person.say("/language bn")  # stored, on no list: erased RETENTION_DAYS later
    assert NOT_ON_A_LIST_BN in await person.say("/stop")
    clock.advance(31 * DAY)
    report = await running_bot.services.retention.sweep_now()
    assert report.chats_erased == 1
    assert ENGLISH not in running_bot.services.languages
    assert NOT_ON_A_LIST_EN in await person.say("/stop")


# ------------------------------------------------------------------ the cache


def _count_language_reads(db) -> list[str]:
    seen: list[str] = []

    def record(_connection, _cursor, statement, *_args):
        if statement.lstrip().upper().startswith("SELECT CHATS.LANGUAGE"):
            seen.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    return seen


async def test_an_ordinary_command_costs_no_query_for_the_language_after_the_first(running_bot):
    reads = _count_language_reads(running_bot.db)
    person = running_bot.person(BENGALI, language_code="bn")
    for _ in range(4):
        await person.say("/stop")
    await person.send("/language")
    await person.press("English")
    await person.say("/stop")
    assert len(reads) == 1
    assert running_bot.services.languages.reads == 1


async def test_a_choice_made_through_another_process_arrives_within_the_cache_time(running_bot, clock):
    person = running_bot.person(ENGLISH)
    assert NOT_ON_A_LIST_EN in await person.say("/stop")
    async with running_bot.db.transaction() as session:  # as another process's /language would
        await set_chat_language(session, telegram_id=ENGLISH, kind=ChatKind.PRIVATE, language="bn")
    assert NOT_ON_A_LIST_EN in await person.say("/stop")
    clock.advance(CACHE_FOR)
    assert NOT_ON_A_LIST_BN in await person.say("/stop")


async def test_inline_queries_and_presses_are_in_the_senders_language(running_bot, protests):
    person = running_bot.person(BENGALI, language_code="bn")
    await running_bot.deliver(running_bot.server.inline_query(BENGALI, "tower hamlets"))
    assert BENGALI in running_bot.services.languages  # looked up for the inline query too
    await person.send("/language")
    answers = await person.press("বাংলা")
    assert "এখন থেকে এই চ্যাটে বট বাংলা ভাষায় কথা বলবে।" in answers[-1]["text"]


# ------------------------------------------------------------------ command menus


async def test_the_command_menus_are_set_in_every_language(running_bot):
    server = running_bot.server
    assert "language" in server.menu_seen_in(BENGALI, language_code="bn")
    menus = server.command_menus
    bengali = {c["command"]: c["description"] for c in menus[(("all_private_chats",), "bn")]}
    english = {c["command"]: c["description"] for c in menus[(("all_private_chats",), "")]}
    assert bengali["language"] == "এখানে বট কোন ভাষায় কথা বলে"
    assert english["language"] == "The language the bot speaks here"
    assert set(bengali) == set(english)
    organiser_bn = menus[(("chat", ORGANISER_ID), "bn")]
    assert {"broadcast", "language"} <= {c["command"] for c in organiser_bn}
    assert "broadcast" in server.menu_seen_in(ORGANISER_ID, language_code="bn")


async def test_an_organiser_removed_loses_the_menu_in_every_language(running_bot):
    server = running_bot.server
    organiser = running_bot.person(ORGANISER_ID)
    await organiser.say("/organiser add 555")
    assert "broadcast" in server.menu_seen_in(555, language_code="bn")
    await organiser.say("/organiser remove 555")
    assert "broadcast" not in server.menu_seen_in(555, language_code="bn")
    assert "broadcast" not in server.menu_seen_in(555)


async def test_a_bengali_supporter_meets_the_event_card_and_the_erasure_in_bengali(running_bot, protests, clock,
                                                                                  settings):
    await small_event(running_bot.db, clock, settings, slug="protests", starts_at=clock.now() + 7 * DAY)
    person = running_bot.person(BENGALI, language_code="bn")
    await person.say("/subscribe protests")
    await person.send("/events")
    card = next(m for m in reversed(person.messages) if person.buttons(m))
    going = label("event_going", language="bn")
    assert going in [button["text"] for button in person.buttons(card)] and going != label("event_going")
    await person.press(going)
    await person.send("/forget")
    confirm = person.last["text"]
    assert confirm == render("forget_confirm.html", language="bn") != render("forget_confirm.html")
    await running_bot.deliver(running_bot.server.press_button(BENGALI, person.last, ForgetAnswer.build("yes")))
    done = next(m["text"] for m in reversed(person.messages) if m["text"] != confirm)
    assert "এই চ্যাট সম্পর্কে রাখা সবকিছু মুছে ফেলা হয়েছে" in done  # "everything ... has been erased"
    assert await chat_row(running_bot.db, BENGALI) is None
