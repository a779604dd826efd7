"""Button presses with any callback data, end to end (issue 11, "Fuzzing").

A Telegram client sends back whatever callback_data it likes (1 to 64 bytes), for buttons the
bot made long ago or never made. Every pattern a handler is registered with is tried against
thousands of strings (pure, fast); then, through the local Bot API server and the real
Application, fewer presses, each a real round trip, must all be answered (answerCallbackQuery,
so the client stops its spinner) without reaching the error handler.
"""

from __future__ import annotations

import datetime as dt
import logging
import re

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from telegram.ext import CallbackQueryHandler, ConversationHandler

from bot.app import build_application
from bot.settings import Settings
from storage.clock import ManualClock
from storage.db import Database
from tests.builders import make_list

# ------------------------------------------------------------------ every pattern, pure


def _callback_patterns() -> list[re.Pattern[str]]:
    """Every pattern a CallbackQueryHandler of the real application is registered with."""
    bot_settings = Settings(_env_file=None, telegram_bot_token="1:x", stats_load_bundle=False)
    application = build_application(bot_settings, Database.from_url("sqlite+aiosqlite:///unused.db"),
                                    ManualClock(dt.datetime(2018, 3, 1, 12, 0, tzinfo=dt.UTC)),
                                    token="1:x", api_url="http://127.0.0.1:9")
    found: list[re.Pattern[str]] = []

    def collect(handlers) -> None:
        for handler in handlers:
            if isinstance(handler, ConversationHandler):
                collect(handler.entry_points)
                collect([h for state in handler.states.values() for h in state])
                collect(handler.fallbacks)
            elif isinstance(handler, CallbackQueryHandler) and isinstance(handler.pattern, re.Pattern):
                found.append(handler.pattern)

    for group in application.handlers.values():
        collect(group)
    return found


CALLBACK_PATTERNS = _callback_patterns()
# The literal start of each pattern ('bcast:', 'rsvp:name:'), so most examples reach the numbers.
# '^(join|leave):...' starts with a group, hence the two added by hand.
CALLBACK_PREFIXES = sorted({re.match(r"[a-z_:]*", p.pattern.lstrip("^")).group() for p in CALLBACK_PATTERNS}
                           | {"join:", "leave:"})
CALLBACK_WORDS = ["going", "no", "yes", "send", "pick", "summary", "trend", "2018-19", "list", "date", "field",
                  "time", "²", "٣"]
callback_fields = st.one_of(st.integers(0, 10**30).map(str), st.sampled_from(CALLBACK_WORDS), st.text(max_size=3))
any_callback_data = st.one_of(
    st.text(max_size=64),
    st.tuples(st.sampled_from(CALLBACK_PREFIXES), st.lists(callback_fields, max_size=4).map(":".join)).map("".join),
).filter(lambda data: 1 <= len(data.encode()) <= 64)


def test_every_callback_pattern_is_found():
    # The buttons of supporters, broadcasts, events and /stats; a wiring change must not hide one.
    assert len(CALLBACK_PATTERNS) >= 15


@settings(max_examples=3000)
@given(data=any_callback_data)
@example(data="join:2200000000")  # past PostgreSQL's INTEGER, the type of every row id
@example(data="stats:pick:99999999999999999999:summary:")
@example(data="rsvp:going:" + "9" * 53)
def test_callback_data_a_pattern_accepts_names_ids_the_database_can_hold(data):
    """Button data comes back from the client as the client likes (1-64 bytes); whatever a
    handler's pattern lets through, its ids must fit the database's INTEGER (32 bits on
    PostgreSQL), or the lookup fails."""
    for pattern in CALLBACK_PATTERNS:
        # Patterns with digits carry row ids (and /stats a year); 'editevent:field:\w+' a name.
        if r"\d" in pattern.pattern and pattern.match(data):
            assert all(int(digits) < 2**31 for digits in re.findall(r"\d+", data)), (pattern.pattern, data)


# ------------------------------------------------------------------ end to end

# Shapes the bot's own buttons have, so that most presses get past the patterns to the handlers.
PREFIXES = ["join:", "leave:", "forget:", "bcast:list:", "bcast:send:", "bcast:schedule:", "bcast:drop:",
            "bcast:pause:", "bcast:resume:", "bcast:cancel:", "rsvp:going:", "rsvp:no:", "rsvp:name:", "ics:",
            "attendees:", "cancelevent:pick:", "cancelevent:yes:", "cancelevent:no:", "newevent:list:",
            "newevent:publish", "newevent:discard", "newevent:dates_done", "editevent:date:", "editevent:field:",
            "stats:pick:", "stats:show:"]
NASTY = ["0", "1", "999999999", "2200000000", "9999999999999999999", "9" * 40, "٣", "²", "-1", "1\n", " 1", "",
         "yes", "no", "1:summary:", "1:trend:2018-19", "99999999999999999999:summary:", "title"]
callback_data = st.one_of(
    st.text(min_size=1, max_size=64),
    st.tuples(st.sampled_from(PREFIXES), st.sampled_from(NASTY) | st.text(max_size=4)).map("".join),
).filter(lambda data: 1 <= len(data.encode()) <= 64)


@pytest.fixture
async def chats(running_bot, supporter, organiser):
    """A supporter, an organiser and a group administrator, each with a bot message to press on."""
    await make_list(running_bot.db, "protests", "Protests and demos")
    running_bot.server.add_group(-55, admins={101})
    in_group = running_bot.person(101, chat_id=-55)
    for person, command in ((supporter, "/lists"), (organiser, "/broadcasts"), (in_group, "/lists")):
        await person.send(command)
        assert person.messages, f"{command} got no answer"
    return [supporter, organiser, in_group]


def _answered(server, query_id: str) -> bool:
    return any(call.params.get("callback_query_id") == query_id for call in server.calls("answerCallbackQuery"))


# Each example is a real round trip through HTTP and the database: a couple of hundred in all.
@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=callback_data, who=st.integers(0, 2))
@example(data="join:99999999999999999999", who=0)  # past SQLite's 64-bit integer
@example(data="leave:2200000000", who=0)  # past PostgreSQL's INTEGER
@example(data="bcast:send:99999999999999999999", who=1)
@example(data="stats:show:99999999999999999999:summary:", who=0)
@example(data="rsvp:going:9999999999999999999", who=0)
@example(data="attendees:9999999999999999999", who=1)
@example(data="cancelevent:yes:9999999999999999999", who=1)
@example(data="editevent:field:title", who=1)
@example(data="forget:yes\n", who=2)
async def test_every_button_press_is_answered_and_nothing_fails(running_bot, chats, caplog, data, who):
    caplog.set_level(logging.WARNING)
    caplog.clear()
    person = chats[who]
    message = next(m for m in reversed(person.messages))
    update = running_bot.server.press_button(person.user_id, message, data)
    await running_bot.deliver(update)
    assert _answered(running_bot.server, update["callback_query"]["id"]), data
    failures = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert failures == [], [r.getMessage() for r in failures]


@pytest.mark.parametrize("user_id", ["²", "--5", "-5", "+5", "0", "99999999999999999999999", "٣"])
async def test_organiser_command_with_a_user_id_that_is_not_one_shows_the_usage(organiser, caplog, user_id):
    caplog.set_level(logging.WARNING)
    answer = await organiser.say(f"/organiser add {user_id}")
    assert "/organiser add" in answer
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
