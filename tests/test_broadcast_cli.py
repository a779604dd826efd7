"""`campaign-bot broadcast send` and `status`, run as an operator would, and sent by the running bot."""

from __future__ import annotations

import asyncio

import pytest

from tests.builders import make_list, subscribe
from tests.conftest import POSTGRES_URL, invoke


@pytest.fixture
def protests(cli_env, tmp_path):
    invoke("lists", "create", "protests", "--title", "Protests and demos")
    ids = tmp_path / "ids.csv"
    ids.write_text("1001\n1002\n")
    invoke("subscribers", "import", str(ids), "--list", "protests")


def test_send_queues_and_status_shows_it(protests):
    queued = invoke("broadcast", "send", "--list", "protests", "--text", "<b>Demo</b> tomorrow 8.15am")
    assert queued.exit_code == 0, queued.output
    assert 'Broadcast #1 to "Protests and demos" (2 chats on the list now): sending now.' in queued.output
    status = invoke("broadcast", "status")
    header, row = status.output.splitlines()
    assert header.split() == ["id", "list", "status", "sent", "pending", "blocked", "failed", "recipients", "when"]
    assert row.split()[:8] == ["1", "protests", "sending", "0", "2", "0", "0", "2"]
    detail = invoke("broadcast", "status", "1")
    assert "About 0.0 minutes to go at 25 messages a second" in detail.output


def test_template_and_scheduled_send(protests):
    queued = invoke("broadcast", "send", "--list", "protests", "--template", "alert_example",
                    "--at", "2999-03-20T19:00")
    assert queued.exit_code == 0, queued.output
    assert "scheduled for 2999-03-20 19:00 GMT" in queued.output
    assert "scheduled" in invoke("broadcast", "status").output


def test_bad_input_is_refused_with_one_sentence(protests):
    cases = {
        ("--list", "nosuch", "--text", "x"): 'There is no list called "nosuch"',
        ("--list", "protests"): "exactly one of --text",
        ("--list", "protests", "--text", "x", "--template", "alert_example"): "exactly one of --text",
        ("--list", "protests", "--template", "nosuch"): "There is no template nosuch.html",
        ("--list", "protests", "--text", "x", "--at", "2018-03-20T19:00"): '"2018-03-20T19:00" has already passed',
        ("--list", "protests", "--text", "x", "--at", "someday"): 'Could not read "someday"',
        ("--list", "protests", "--text", "x" * 4090): "Telegram allows 4096. Nothing was queued",
    }
    for args, expected in cases.items():
        result = invoke("broadcast", "send", *args)
        assert result.exit_code == 1, (args, result.output)
        assert expected in result.output, (args, result.output)
    assert "No broadcasts yet" in invoke("broadcast", "status").output
    unknown = invoke("broadcast", "status", "7")
    assert unknown.exit_code == 1 and "There is no broadcast #7" in unknown.output


async def test_the_running_bot_sends_what_the_terminal_queued(running_bot, tmp_path, monkeypatch):
    await make_list(running_bot.db, "protests", "Protests and demos")
    await subscribe(running_bot.db, 101, "protests")
    # The terminal and the bot share the database: the same SQLite file, or the same PostgreSQL schema.
    if POSTGRES_URL is None:
        monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/campaign.db")
    else:
        monkeypatch.setenv("DATABASE_URL", POSTGRES_URL)
        monkeypatch.setenv("DATABASE_SCHEMA", running_bot.db.schema)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "")
    queued = await asyncio.to_thread(invoke, "broadcast", "send", "--list", "protests", "--text", "Vigil at 6")
    assert queued.exit_code == 0, queued.output
    engine = running_bot.services.broadcaster
    engine.wake()  # the bot would notice within its poll interval anyway
    summary = await engine.wait_until_finished(1)
    assert summary.counts.sent == 1
    assert running_bot.server.sent_to(101)[0]["text"].startswith("Vigil at 6")
    status = await asyncio.to_thread(invoke, "broadcast", "status", "1")
    assert "done" in status.output and "Finished" in status.output


# Telegram's words for an entity its own parser could not close, as python-telegram-bot keeps them.
PAUSE_REASON = "Can't parse entities: can't find end of the entity starting at byte offset 0"


def test_status_says_why_the_bot_paused_a_broadcast(protests, tmp_path):
    from storage.broadcasts.status import pause_for_problem
    from storage.db import Database

    # The text passes the queue-time check of Telegram's documented HTML rules (a <blink> would not be
    # queued at all); the pause stands for Telegram refusing it anyway, which only the engine can see.
    queued = invoke("broadcast", "send", "--list", "protests", "--text", "<b>Demo</b> tomorrow")
    assert queued.exit_code == 0, queued.output

    async def pause_as_the_engine_would():
        db = Database.from_url(f"sqlite+aiosqlite:///{tmp_path}/cli.db")
        try:
            async with db.transaction() as session:
                assert await pause_for_problem(
         session, broadcast_id=1, reason=PAUSE_REASON)
        finally:
            await db.dispose()

    asyncio.run(pause_as_the_engine_would())
    for args in (("broadcast", "status"), ("broadcast", "status", "1")):
        output = invoke(*args).output
        assert "paused" in output
        assert f"#1 paused by the bot: {PAUSE_REASON}" in output
