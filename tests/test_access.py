"""Who may do what (privacy and access): every organiser-only command, button and conversation
step refused to non-organisers and to organisers removed a moment ago, with no effect at all;
event buttons only for chats that may see the event; attendance only in private; group sign-ups
only by a group's administrators."""

from __future__ import annotations

import csv
import dataclasses
import io
import re
from typing import Any

import pytest
from sqlalchemy import inspect, select, text
from telegram.ext import CallbackQueryHandler, CommandHandler, ConversationHandler, MessageHandler

from bot.handlers import broadcasts as broadcast_handlers
from bot.handlers import event_conversations as event_handlers
from bot.handlers.common import Who
from messages import render
from storage.broadcasts.status import change_broadcast, create_broadcast, schedule_broadcast, send_broadcast_now
from storage.events import catalogue
from storage.events.tables import Rsvp
from storage.lists import organisers
from storage.lists.mailing_lists import create_list
from storage.lists.models import Chat
from tests.builders import make_list, slugs_of, subscribe
from tests.conftest import ORGANISER_ID, Person
from tests.test_events import small_event

REFUSED = render("refused_organiser.html")
REFUSED_IN_GROUP = render("refused_group_admin.html")
STALE = render("stale_button.html")
FORMER_ORGANISER = 333
SUPPORTER = 101
ANONYMOUS_ADMIN_BOT = 1087968824  # the user Telegram puts on an anonymous administrator's messages


@dataclasses.dataclass
class World:
    protests: int  # a public list
    inner: int  # a list that is not public
    public_date: int  # an event date on protests
    inner_event: int
    inner_date: int  # an event date on inner, one place only
    draft: int
    paused: int
    scheduled: int

    def fill(self, row: str) -> str:
        return row.format(**dataclasses.asdict(self))


@pytest.fixture
async def world(running_bot, clock, settings) -> World:
    db = running_bot.db
    protests = await make_list(db, "protests", "Protests and demos")
    await make_list(db, "encounter-groups", "Free encounter groups")  # so /newevent asks which list
    async with db.transaction() as session:
        inner = await create_list(session, slug="inner", title="Steering group", public=False)
    await subscribe(db, 102, "protests")
    await subscribe(db, 103, "inner")
    public_date = await small_event(db, clock, settings, slug="protests", capacity=None)
    inner_date = await small_event(db, clock, settings, slug="inner", capacity=1)
    async with db.transaction() as session:
        inner_event = (await catalogue.get_event_date(session, event_date_id=inner_date))[0].id
        made = []
        for _ in range(3):
            made.append((await create_broadcast(session, list_id=protests.id, text="Alert", draft=True,
                                                created_by=ORGANISER_ID, now=clock.now())).id)
        draft, paused, scheduled = made
        await send_broadcast_now(session, broadcast_id=paused, now=clock.now())
        await change_broadcast(session, broadcast_id=paused, action="pause", now=clock.now())
        await schedule_broadcast(session, broadcast_id=scheduled, send_at=clock.now().replace(year=2019),
                                 now=clock.now())
    return World(protests.id, inner.id, public_date, inner_event, inner_date, draft, paused, scheduled)


# ------------------------------------------------------------------ helpers


async def every_row(db) -> dict[str, list[str]]:
    """Every row of every table but the leases (which each process renews on its own clock)."""
    async with db.engine.connect() as connection:
        tables = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
        rows = {}
        for table in sorted(set(tables) - {"leases"}):
            found = (await connection.execute(text(f'SELECT * FROM "{table}"'))).all()
            rows[table] = sorted(repr(tuple(row)) for row in found)
        return rows


def sent_elsewhere(server, chat_id: int) -> dict[int, int]:
    return {other: len(server.sent_to(other)) for other in list(server.chats) if other != chat_id}


async def set_organiser(bot, user_id: int, *, organiser: bool) -> None:
    async with bot.db.transaction() as session:
        if organiser:
            await organisers.add_organiser(session, user_id=user_id, added_by=ORGANISER_ID, configured=frozenset())
        else:
            await organisers.remove_organiser(session, user_id=user_id, configured=frozenset())


async def press_data(person: Person, data: str, message: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Press a button with `data` (forged, or from an old message) on a message of the chat."""
    update = person.bot.server.press_button(person.user_id, message or person.messages[-1], data)
    return await person._changes_after(update)


async def act(person: Person, step: tuple[str, str]) -> list[dict[str, Any]]:
    how, what = step
    if how == "say":
        return await person.send(what)
    if how == "press":
        return await person.press(what)
    return await press_data(person, what)


async def refused_without_effect(bot, person: Person, step: tuple[str, str], *, answer: str = REFUSED) -> None:
    rows, elsewhere = await every_row(bot.db), sent_elsewhere(bot.server, person.chat_id)
    changed = await act(person, step)
    assert [m.get("text") for m in changed] == [answer], f"{step}: {changed}"
    assert await every_row(bot.db) == rows, f"{step} changed the database"
    assert sent_elsewhere(bot.server, person.chat_id) == elsewhere, f"{step} sent to someone else"
    left = bot.application.user_data.get(person.user_id, {})
    assert not set(left) & {broadcast_handlers.STEP, *event_handlers.DRAFT_KEYS}, f"{step} kept a draft"


@pytest.fixture
async def actors(running_bot, world) -> dict[str, Person]:
    """A supporter, and an organiser removed a moment ago; both have talked to the bot."""
    supporter, former = running_bot.person(SUPPORTER), running_bot.person(FORMER_ORGANISER)
    await set_organiser(running_bot, FORMER_ORGANISER, organiser=True)
    for person in (supporter, former):
        await person.send("/help")
    await set_organiser(running_bot, FORMER_ORGANISER, organiser=False)
    return {"non-organiser": supporter, "just-removed organiser": former}


# ------------------------------------------------------------------ the table


ORGANISER_COMMANDS = ["/newlist secret-plans Secret plans", "/organiser add 444", "/organiser list", "/broadcast",
                      "/broadcast protests", "/broadcasts", "/newevent", "/editevent", "/cancelevent"]
ORGANISER_BUTTONS = ["bcast:list:{protests}", "bcast:send:{draft}", "bcast:schedule:{draft}", "bcast:drop:{draft}",
                     "bcast:at:yes:{draft}:4102444800", "bcast:at:other:{draft}:4102444800",
                     "bcast:pause:{paused}", "bcast:resume:{paused}", "bcast:cancel:{scheduled}",
                     "bcast:ring:urgent:{draft}", "bcast:ring:ordinary:{draft}", "bcast:lang:bn:{draft}",
                     "review:approve:{draft}",
                     "review:reject:{draft}", "review:send:{scheduled}", "review:drop:{scheduled}",
                     "attendees:{inner_event}", "cancelevent:pick:{inner_date}", "cancelevent:yes:{public_date}",
                     "cancelevent:no:{public_date}"]
# The buttons of a conversation's steps: outside the conversation they are unknown buttons (inside
# it, see the step tests below).
CONVERSATION_BUTTONS = ["newevent:list:{protests}", "newevent:dates_done", "newevent:publish", "newevent:discard",
                        "editevent:date:{public_date}", "editevent:field:time"]


@pytest.mark.parametrize("command", ORGANISER_COMMANDS)
async def test_organiser_commands_are_refused_with_no_effect(running_bot, actors, command):
    for person in actors.values():
        await refused_without_effect(running_bot, person, ("say", command))


@pytest.mark.parametrize("data", ORGANISER_BUTTONS)
async def test_organiser_buttons_are_refused_with_no_effect(running_bot, world, actors, data):
    for person in actors.values():
        await refused_without_effect(running_bot, person, ("data", world.fill(data)))


@pytest.mark.parametrize("data", CONVERSATION_BUTTONS)
async def test_conversation_buttons_outside_a_conversation_do_nothing(running_bot, world, actors, data):
    for person in actors.values():
        await refused_without_effect(running_bot, person, ("data", world.fill(data)), answer=STALE)


def _inventory(application) -> dict[str, set]:
    """Read back from the wiring which handlers are organisers-only."""
    found: dict[str, set] = {"commands": set(), "buttons": set(), "messages": set(), "conversations": set()}

    def organisers_only(handler) -> bool:
        return getattr(handler.callback, "who", Who.ANYONE) is Who.ORGANISERS

    for handlers in application.handlers.values():
        for handler in handlers:
            if isinstance(handler, ConversationHandler):
                steps = [*handler.entry_points, *handler.fallbacks, *(h for s in handler.states.values() for h in s)]
                assert all(organisers_only(step) for step in steps), f"a step of {handler.name} is unguarded"
                found["conversations"].add(handler.name)
                found["buttons"].update(("conversation", s.pattern.pattern) for s in steps
                                        if isinstance(s, CallbackQueryHandler))
            elif not organisers_only(handler):
                continue
            elif isinstance(handler, CommandHandler):
                found["commands"].update(handler.commands)
            elif isinstance(handler, CallbackQueryHandler):
                found["buttons"].add(("top", handler.pattern.pattern))
            elif isinstance(handler, MessageHandler):
                found["messages"].add(handler.callback.__name__)
    return found


def test_the_table_covers_every_organiser_only_handler_in_the_wiring(running_bot, world):
    found = _inventory(running_bot.application)
    assert found["commands"] == {row.split()[0][1:] for row in ORGANISER_COMMANDS}
    for where, rows in (("top", ORGANISER_BUTTONS), ("conversation", CONVERSATION_BUTTONS)):
        patterns = {pattern for kind, pattern in found["buttons"] if kind == where}
        for pattern in patterns:
            assert any(re.match(pattern, world.fill(row)) for row in rows), f"no row tries {pattern}"
        for row in rows:
            assert any(re.match(pattern, world.fill(row)) for pattern in patterns), f"{row} matches no handler"
    # The answers to /broadcast's questions, and the conversations, are tried step by step below.
    assert found["messages"] == {"next_step_message"}
    assert found["conversations"] == {"newevent", "editevent"}


# ------------------------------------------------------------------ removed mid-conversation


NEWEVENT_STEPS = [
    ("entry", ("say", "/newevent")),
    (event_handlers.NEW_LIST, ("press", "Protests and demos")),
    (event_handlers.NEW_TITLE, ("say", "Demo")),
    (event_handlers.NEW_START, ("say", "wed 21 march 8:15")),
    (event_handlers.NEW_END, ("say", "10am")),
    (event_handlers.NEW_MORE_DATES, ("say", "22 March 2018 8:15")),
    (event_handlers.NEW_MORE_DATES, ("press", "No more dates")),
    (event_handlers.NEW_VENUE, ("say", "Millennium Conference Centre")),
    (event_handlers.NEW_ADDRESS, ("say", "4-18 Harrington Gardens, London SW7 4LH")),
    (event_handlers.NEW_MEETING_POINT, ("say", "skip")),
    (event_handlers.NEW_STATION, ("say", "skip")),
    (event_handlers.NEW_MAP, ("say", "skip")),
    (event_handlers.NEW_DETAILS, ("say", "skip")),
    (event_handlers.NEW_ACCESSIBILITY, ("say", "skip")),
    (event_handlers.NEW_REFRESHMENTS, ("say", "skip")),
    (event_handlers.NEW_COST, ("say", "skip")),
    (event_handlers.NEW_CONTACT, ("say", "skip")),
    (event_handlers.NEW_CAPACITY, ("say", "no limit")),
    (event_handlers.NEW_CONFIRM, ("press", "Publish")),
]
EDITEVENT_STEPS = [
    ("entry", ("say", "/editevent")),
    (event_handlers.EDIT_PICK, ("press", "Small group")),
    (event_handlers.EDIT_FIELD, ("press", "Time")),
    (event_handlers.EDIT_VALUE, ("say", "17 March 2018 11:00")),
]
BROADCAST_STEPS = [
    ("entry", ("say", "/broadcast")),
    ("list", ("press", "Protests and demos")),
    ("text", ("say", "Demo tomorrow")),
    ("schedule", ("press", "Schedule")),
    ("time", ("say", "tomorrow 07:00")),
]
BROADCAST_SENT_NOW = [*BROADCAST_STEPS[:3], ("send now", ("press", "Send now"))]
CANCELEVENT_STEPS = [
    ("entry", ("say", "/cancelevent")),
    ("pick", ("press", "Small group")),
    ("confirm", ("press", "Yes, cancel it")),
]


def test_the_step_lists_try_every_state_of_each_conversation():
    new, edit = event_handlers.conversations()
    assert {state for state, _ in NEWEVENT_STEPS[1:]} == set(new.states)
    assert {state for state, _ in EDITEVENT_STEPS[1:]} == set(edit.states)


@pytest.mark.parametrize("steps", [NEWEVENT_STEPS, EDITEVENT_STEPS, BROADCAST_STEPS, BROADCAST_SENT_NOW,
                                   CANCELEVENT_STEPS],
                         ids=["newevent", "editevent", "broadcast-schedule", "broadcast-send-now", "cancelevent"])
async def test_an_organiser_removed_mid_way_is_refused_at_the_next_step(running_bot, world, steps):
    former = running_bot.person(FORMER_ORGANISER)
    for stop_at in range(1, len(steps)):
        await set_organiser(running_bot, FORMER_ORGANISER, organiser=True)
        for _state, step in steps[:stop_at]:
            answered = await act(former, step)
            assert answered and REFUSED not in [m.get("text") for m in answered], f"{step} did not go ahead"
        await set_organiser(running_bot, FORMER_ORGANISER, organiser=False)
        await refused_without_effect(running_bot, former, steps[stop_at][1])
        # The conversation or question is over: the next words are just words.
        assert await former.say("hello") == render("text_expected.html")


# ------------------------------------------------------------------ event buttons and visibility


async def rsvps_of(db, date_id: int) -> dict[int, str]:
    async with db.transaction() as session:
        rows = await session.execute(select(Chat.telegram_id, Rsvp.status).join(Rsvp, Rsvp.chat_id == Chat.id)
                                     .where(Rsvp.event_date_id == date_id))
        return dict(rows.all())


@pytest.mark.parametrize("data", ["rsvp:going:{inner_date}", "rsvp:no:{inner_date}", "rsvp:name:{inner_date}",
                                  "offer:take:{inner_date}", "offer:take:999999",
                                  "ics:{inner_date}", "rsvp:going:999999", "ics:999999"])
async def test_a_guessed_event_id_answers_like_an_unknown_button(running_bot, world, actors, data):
    supporter = actors["non-organiser"]
    await refused_without_effect(running_bot, supporter, ("data", world.fill(data)), answer=STALE)


async def test_a_guessed_id_cannot_take_the_last_place(running_bot, world, actors):
    member = running_bot.person(103)  # on the inner list
    outsider = actors["non-organiser"]
    await press_data(outsider, f"rsvp:going:{world.inner_date}")
    await member.send("/help")
    going = await press_data(member, f"rsvp:going:{world.inner_date}")
    assert "✓ You are going." in going[0]["text"]
    assert await rsvps_of(running_bot.db, world.inner_date) == {103: "going"}


async def test_who_may_see_an_event_date(running_bot, world, actors, clock):
    outsider = actors["non-organiser"]
    # A public list's event: anyone may answer it, even off the list.
    assert "✓ You are going." in (await press_data(outsider, f"rsvp:going:{world.public_date}"))[0]["text"]
    # Someone who answered and then left the list can still free their place.
    member = running_bot.person(103)
    await member.send("/help")
    await press_data(member, f"rsvp:going:{world.inner_date}")
    await member.send("/stop")
    assert "You said you can't go." in (await press_data(member, f"rsvp:no:{world.inner_date}"))[0]["text"]
    # An organiser, in their private chat, may see every event.
    organiser = running_bot.person(ORGANISER_ID)
    await organiser.send("/help")
    sent = await press_data(organiser, f"ics:{world.inner_date}")
    assert sent[0]["document"]["file_name"].endswith(".ics")


# ------------------------------------------------------------------ groups


@pytest.fixture
def group(running_bot, world):
    """A group on the public list, whose administrator is 601; the organiser is a plain member."""
    running_bot.server.add_group(-600, title="Tower Hamlets branch", admins={601})
    return -600


async def test_start_with_a_list_in_a_group_is_for_administrators(running_bot, group):
    member = running_bot.person(602, chat_id=group)
    assert await member.say("/start protests") == REFUSED_IN_GROUP
    assert await slugs_of(running_bot.db, group) == []
    # The join buttons /start shows in a group follow the same rule.
    await member.send("/start")
    assert [m["text"] for m in await member.press("Join: Protests")] == [REFUSED_IN_GROUP]
    assert await slugs_of(running_bot.db, group) == []
    anonymous = running_bot.person(ANONYMOUS_ADMIN_BOT, chat_id=group)
    as_group = {"id": group, "type": "group", "title": "Tower Hamlets branch"}
    joined = await anonymous.send("/start protests", sender_chat=as_group)
    assert "you are on <b>Protests and demos</b>" in joined[0]["text"]
    admin = running_bot.person(601, chat_id=group)
    assert "already on" in await admin.say("/start protests")
    assert await slugs_of(running_bot.db, group) == ["protests"]


async def test_a_group_sees_what_a_supporter_sees_even_when_an_organiser_asks(running_bot, world, group):
    await subscribe(running_bot.db, group, "protests")
    in_group = running_bot.person(ORGANISER_ID, chat_id=group)
    shown = [m for m in await in_group.send("/events") if "text" in m]
    assert len(shown) == 1 and "Small group" in shown[0]["text"]  # not the inner list's event
    assert "For organisers" not in shown[0]["text"] and "going 0" not in shown[0]["text"]
    assert [b["text"] for b in in_group.buttons(shown[0])] == ["Add to calendar"]
    assert await in_group.say("/cancelevent") == render("event_private_only.html")
    # /help in the group is the group's help too: the organiser's commands are listed in private.
    assert "For organisers" not in await in_group.say("/help")
    assert "For organisers" in await running_bot.person(ORGANISER_ID).say("/help")


async def test_attendees_pressed_in_a_group_go_to_the_organisers_private_chat(running_bot, world, group):
    sharer = running_bot.person(103)
    await sharer.send("/help")
    await press_data(sharer, f"rsvp:going:{world.inner_date}")
    await press_data(sharer, f"rsvp:name:{world.inner_date}")
    in_group = running_bot.person(ORGANISER_ID, chat_id=group)
    await in_group.send("/help")
    assert await press_data(in_group, f"attendees:{world.inner_event}") == []  # nothing posted in the group
    [sent] = running_bot.server.sent_to(ORGANISER_ID)
    rows = list(csv.DictReader(io.StringIO(sent["_upload"]["content"].decode())))
    assert rows[0]["names_shared"] == "User 103"
    answered = running_bot.server.calls("answerCallbackQuery")[-1]
    assert answered.params.get("text") == render("event_attendees_sent_privately.txt")


@pytest.mark.parametrize("fault", ["blocked", "not_found"])
async def test_attendees_in_a_group_when_the_bot_cannot_write_privately(running_bot, world, group, fault):
    from bot.local_api.faults import ChatFault

    sharer = running_bot.person(103)
    await sharer.send("/help")
    await press_data(sharer, f"rsvp:going:{world.inner_date}")
    await press_data(sharer, f"rsvp:name:{world.inner_date}")
    running_bot.server.set_fault(ORGANISER_ID, ChatFault(fault))
    in_group = running_bot.person(ORGANISER_ID, chat_id=group)
    await in_group.send("/help")
    told = await press_data(in_group, f"attendees:{world.inner_event}")
    assert [m["text"] for m in told] == [render("event_attendees_ask_privately.html")]
    assert "document" not in str(running_bot.server.sent_to(group)) and "User 103" not in str(told)


async def test_a_refusal_in_a_group_leaves_the_organisers_private_draft_alone(running_bot, world, group):
    organiser = running_bot.person(ORGANISER_ID)
    await organiser.send("/newevent")
    await organiser.press("Protests and demos")
    await organiser.say("Demo")
    assert "When does it end?" in await organiser.say("wed 21 march 8:15")
    in_group = running_bot.person(ORGANISER_ID, chat_id=group)  # a plain member there
    assert await in_group.say("/subscribe protests") == REFUSED_IN_GROUP
    assert "another date" in await organiser.say("10am")


def test_what_only_a_groups_administrators_may_do_there(running_bot):
    managed = set()
    for handlers in running_bot.application.handlers.values():
        for handler in handlers:
            if getattr(getattr(handler, "callback", None), "who", Who.ANYONE) is Who.CHAT_MANAGERS:
                managed.add(handler.callback.__name__)
    assert managed == {"join_from_link", "subscribe", "unsubscribe", "stop", "my_data", "forget", "forget_answered",
                       "list_button_pressed", "quiet_command", "quiet_pressed", "pause_command", "pause_pressed",
                       "language_command", "language_pressed"}
