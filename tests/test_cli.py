"""The `campaign-bot` command line, run as a user would run it."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli.main import app
from bot.local_api.server import LocalBotApi
from tests.conftest import invoke

CAMPAIGN_BOT = str(Path(sys.executable).with_name("campaign-bot"))


def test_db_upgrade_and_lists_create(cli_env):
    assert "up to date" in invoke("db", "upgrade").output
    created = invoke("lists", "create", "protests", "--title", "Protests and demos")
    assert created.exit_code == 0 and "Created list" in created.output
    again = invoke("lists", "create", "protests", "--title", "Again")
    assert again.exit_code == 1 and "exists already" in again.output


def test_unusable_settings_are_named_without_a_traceback(cli_env, monkeypatch):
    monkeypatch.setenv("DATABASE_SCHEMA", "campaign")  # with the SQLite URL of cli_env
    monkeypatch.setenv("BROADCAST_RATE", "fast")
    refused = CliRunner().invoke(app, ["db", "upgrade"])
    assert refused.exit_code == 1
    assert "BROADCAST_RATE: Input should be a valid number" in refused.output
    assert isinstance(refused.exception, SystemExit) and "Traceback" not in refused.output
    monkeypatch.setenv("BROADCAST_RATE", "25")
    refused = CliRunner().invoke(app, ["db", "upgrade"])
    assert refused.exit_code == 1
    assert "DATABASE_SCHEMA applies to PostgreSQL only" in refused.output
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1/test")
    monkeypatch.setenv("DATABASE_SCHEMA", "campaign; DROP TABLE lists")
    refused = CliRunner().invoke(app, ["db", "upgrade"])
    assert refused.exit_code == 1 and "DATABASE_SCHEMA: a schema name is letters" in refused.output


def test_subscribers_import_then_export(cli_env, tmp_path):
    invoke("lists", "create", "protests", "--title", "Protests")
    invoke("lists", "create", "groups", "--title", "Groups")
    csv_file = tmp_path / "ids.csv"
    csv_file.write_text("chat_id\n1001\n1002\n-100300\n1001\n")
    result = invoke("subscribers", "import", str(csv_file), "--list", "protests")
    assert result.exit_code == 0, result.output
    assert "4 rows read; 3 chats newly added" in result.output
    exported = invoke("subscribers", "export", "--list", "protests")
    assert exported.output.splitlines() == ["chat_id,list", "-100300,protests", "1001,protests", "1002,protests"]
    assert invoke("subscribers", "export").output.count("protests") == 3


def test_malformed_csv_names_every_bad_line_and_imports_nothing(cli_env, tmp_path):
    invoke("lists", "create", "protests", "--title", "Protests")
    csv_file = tmp_path / "bad.csv"
    csv_file.write_text("1001\nnot-a-number\n1003,extra\n\n0\n1004\n")
    result = invoke("subscribers", "import", str(csv_file), "--list", "protests")
    assert result.exit_code == 1
    assert "line 2: 'not-a-number' is not a Telegram chat id" in result.output
    assert "line 3: expected one chat id, found 2 cells" in result.output
    assert "line 5: 0 is out of range" in result.output
    assert invoke("subscribers", "export").output.splitlines() == ["chat_id,list"]


def test_import_into_missing_list_is_refused(cli_env, tmp_path):
    csv_file = tmp_path / "ids.csv"
    csv_file.write_text("1001\n")
    result = invoke("subscribers", "import", str(csv_file), "--list", "nope")
    assert result.exit_code == 1 and 'There is no list called "nope"' in result.output


async def test_run_with_a_wrong_token_exits_with_one_sentence(cli_env):
    server = LocalBotApi(token="111:right")
    await server.start()
    env = {**os.environ, **cli_env, "TELEGRAM_BOT_TOKEN": "111:wrong", "TELEGRAM_API_URL": server.url}
    try:
        process = await asyncio.create_subprocess_exec(
            CAMPAIGN_BOT, "run", env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    finally:
        await server.stop()
    assert process.returncode == 1
    assert "Traceback" not in stderr.decode() + stdout.decode()
    assert "refused the token (401 Unauthorized)" in stderr.decode()
    assert [(call.method, call.status) for call in server.requests] == [("getMe", 401)]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens once the socket is closed


async def run_campaign_bot(env: dict[str, str], *args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        CAMPAIGN_BOT, *args, env={**os.environ, **env}, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode, stdout.decode() + stderr.decode()


async def test_run_without_a_reachable_bot_api_server_says_so_in_one_sentence(cli_env):
    env = {**cli_env, "TELEGRAM_BOT_TOKEN": "111:right", "TELEGRAM_API_URL": f"http://127.0.0.1:{closed_port()}"}
    status, output = await run_campaign_bot(env, "run")
    assert status == 1
    assert output.strip() == ("Could not reach the Bot API server at TELEGRAM_API_URL: check the address "
                              "and the network, then try again.")


@pytest.mark.parametrize("args", [("run",), ("run", "--worker"), ("db", "upgrade")])
async def test_an_unreachable_database_is_named_without_a_traceback(cli_env, args):
    server = LocalBotApi(token="111:right")
    await server.start()
    env = {**cli_env, "TELEGRAM_BOT_TOKEN": "111:right", "TELEGRAM_API_URL": server.url,
           "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{closed_port()}/campaign"}
    try:
        status, output = await run_campaign_bot(env, *args)
    finally:
        await server.stop()
    assert status == 1
    assert "Traceback" not in output and "Unclosed" not in output
    assert "Could not open the database named by DATABASE_URL (" in output
    assert "check that the server is running" in output


async def test_try_mode_shows_welcome_and_lists_and_lets_a_person_join_and_leave(cli_env):
    script = "/start\n1\n/mylists\n2\n/mylists\n:organiser\n/help\n:quit\n"
    process = await asyncio.create_subprocess_exec(
        CAMPAIGN_BOT, "try", env={**os.environ, **cli_env}, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(script.encode()), 90)
    output = stdout.decode()
    assert process.returncode == 0, stderr.decode()
    assert "Welcome to the campaign bot." in output
    assert "[1] Join: Free encounter groups" in output and "[2] Join: Protests and demos" in output
    assert "✓ Joined: Free encounter groups (tap to leave)" in output
    assert "You are on:\n• Free encounter groups (encounter-groups)" in output
    # Button 2 on the last keyboard was "Join: Protests and demos".
    assert "• Protests and demos (protests)" in output
    assert "For organisers" in output


def test_run_without_token_falls_back_to_try_mode(cli_env):
    result = CliRunner().invoke(app, ["run"], input=":quit\n")
    assert result.exit_code == 0, result.output
    assert "No TELEGRAM_BOT_TOKEN is set" in result.output
    assert "campaign-bot try-out" in result.output


# Each command imports what it needs when it runs; these never need the bot, Alembic or charts.
HEAVY_FOR_A_QUICK_COMMAND = ("telegram", "alembic", "matplotlib", "numpy", "rapidfuzz", "apscheduler")
LOADED_MODULES = """
import sys
from bot.cli.main import app
try:
    app(sys.argv[1:], prog_name="campaign-bot")
except SystemExit:
    pass
print(" ".join(sys.modules), file=sys.stderr)
"""


@pytest.mark.parametrize("args", [("--help",), ("broadcast", "status"), ("subscribers", "export")])
def test_quick_commands_load_only_what_they_use(cli_env, args):
    invoke("db", "upgrade")
    process = subprocess.run([sys.executable, "-c", LOADED_MODULES, *args], env={**os.environ, **cli_env},
                             capture_output=True, text=True, timeout=60)
    loaded = {name.split(".")[0] for name in process.stderr.split()}
    assert process.returncode == 0 and "typer" in loaded
    assert loaded.isdisjoint(HEAVY_FOR_A_QUICK_COMMAND), sorted(loaded & set(HEAVY_FOR_A_QUICK_COMMAND))
    if args == ("--help",):
        assert "sqlalchemy" not in loaded
