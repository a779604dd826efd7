"""Button presses with any callback data, end to end (issue 11, "Fuzzing").

A Telegram client sends back whatever callback_data it likes (1 to 64 bytes), for buttons the
bot made long ago or never made. Through the local Bot API server and the real Application,
every press must be answered (answerCallbackQuery, so the client stops its spinner) and none may
reach the error handler. The pure side, every pattern against arbitrary data, is in
test_fuzz_parsers.py; this runs fewer examples, each a real round trip.
"""

from __future__ import annotations

import logging

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.builders import make_list

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
