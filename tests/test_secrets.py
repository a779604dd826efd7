"""The bot token (and the webhook secret) never reach a log line or a printed error, and the
default webhook secret is one every process of a bot agrees on."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import socket
import sys
from pathlib import Path

import aiohttp
import pytest
from telegram.error import InvalidToken, NetworkError

from bot.app import build_application, running
from bot.local_api.server import LocalBotApi
from bot.running import derived_webhook_secret, webhook_for
from bot.settings import Settings
from tests.conftest import TOKEN

CAMPAIGN_BOT = str(Path(sys.executable).with_name("campaign-bot"))
SECRET_PART = TOKEN.split(":", 1)[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nothing listens once the socket is closed


def every_logged_text(caplog) -> str:
    """Each record as a handler would print it (message, traceback, stack), plus pytest's capture."""
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return "\n".join([caplog.text, *(formatter.format(record) for record in caplog.records)])


def assert_no_token(text: str, token: str = TOKEN) -> None:
    secret_part = token.split(":", 1)[1]
    assert token not in text and secret_part not in text, "the token leaked into:\n" + text


@pytest.fixture
def all_logs(caplog):
    caplog.set_level(logging.DEBUG)  # the root: every logger's records propagate to it
    return caplog


async def test_a_redirect_loop_while_answering_is_logged_without_the_token(running_bot, all_logs):
    running_bot.server.redirect_loop_methods.add("sendMessage")
    await running_bot.person(101).send("/help")

    logged = every_logged_text(all_logs)
    assert "TooManyRedirects" in logged and "error while handling an update" in logged
    assert_no_token(logged)


class Keeper(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


async def test_a_logger_of_its_own_with_its_own_handler_is_cleaned_too(running_bot):
    # Not propagating to the root, so no filter on the root or its handlers would ever see it.
    secluded = logging.getLogger("somebody.elses.library")
    keeper = Keeper()
    secluded.addHandler(keeper)
    secluded.propagate = False
    try:
        try:
            raise RuntimeError(f"GET {running_bot.server.url}/bot{TOKEN}/getMe failed")
        except RuntimeError:
            secluded.exception("request to %s failed", f"{running_bot.server.url}/bot{TOKEN}/getMe")
        secluded.warning("no token here: %d", 42)
    finally:
        secluded.removeHandler(keeper)
        secluded.propagate = True
    assert "RuntimeError" in keeper.lines[0] and "/bot[redacted]/getMe" in keeper.lines[0]
    assert keeper.lines[1] == "no token here: 42"
    assert_no_token("\n".join(keeper.lines))


async def test_network_errors_at_start_up_are_logged_without_the_token(database, clock, settings, all_logs):
    application = build_application(settings, database, clock, token=TOKEN,
                                    api_url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(NetworkError) as refused:
        async with running(application):
            pass
    # Start-up failed half-way; nothing it opened is left open.
    assert not any(transport.is_open for transport in application.bot_data["transports"])
    # What an operator's own handler would log; PTB's error text must be clean as well.
    logging.getLogger("operator").error("could not start", exc_info=refused.value)
    assert_no_token(every_logged_text(all_logs) + str(refused.value))


async def test_a_refused_token_is_logged_without_the_token(database, clock, settings, all_logs):
    wrong_token = "424242:not-the-token"
    server = LocalBotApi(token=TOKEN)
    await server.start()
    try:
        application = build_application(settings, database, clock, token=wrong_token, api_url=server.url)
        with pytest.raises(InvalidToken) as refused:
            async with running(application):
                pass
    finally:
        await server.stop()
    # python-telegram-bot names the refused token in the exception's message...
    assert wrong_token in str(refused.value)
    logging.getLogger("operator").error("could not start", exc_info=refused.value)
    logging.getLogger("operator").warning("start-up failed: %s", refused.value)
    # ...which no log line repeats.
    assert_no_token(every_logged_text(all_logs), wrong_token)


async def start_campaign_bot(env: dict[str, str], *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        CAMPAIGN_BOT, "run", *args, env={**os.environ, "DATABASE_URL": "", "ORGANISER_IDS": "",
                                         "WEBHOOK_SECRET": "", **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)


async def output_of(process: asyncio.subprocess.Process, *, interrupt: bool = False) -> str:
    if interrupt and process.returncode is None:
        process.send_signal(signal.SIGINT)
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    return stdout.decode() + stderr.decode()


@pytest.mark.parametrize("args", [(), ("--worker",)])
async def test_campaign_bot_run_prints_no_token_when_the_server_redirects_for_ever(tmp_path, args):
    server = LocalBotApi(token=TOKEN)
    server.redirect_loop_methods.add("getMe")
    await server.start()
    try:
        process = await start_campaign_bot({"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": server.url,
                                            "DATABASE_URL": f"sqlite:///{tmp_path}/bot.db"}, *args)
        output = await output_of(process)
    finally:
        await server.stop()
    assert process.returncode == 1 and "Could not reach the Bot API server" in output
    assert_no_token(output)


async def test_campaign_bot_run_prints_no_refused_token(tmp_path):
    server = LocalBotApi(token="111:the-right-one")
    await server.start()
    try:
        process = await start_campaign_bot({"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": server.url,
                                            "DATABASE_URL": f"sqlite:///{tmp_path}/bot.db"})
        output = await output_of(process)
    finally:
        await server.stop()
    assert process.returncode == 1 and "refused the token" in output
    assert_no_token(output)


def test_the_default_webhook_secret_is_the_same_for_one_token_and_changes_with_it():
    def settings_with(token: str) -> Settings:
        return Settings(_env_file=None, telegram_bot_token=token)

    first = webhook_for(settings_with(TOKEN), "https://bot.example/hook").secret
    second = webhook_for(settings_with(TOKEN), "https://bot.example/hook").secret
    other_bot = webhook_for(settings_with("424242:another-token"), "https://bot.example/hook").secret
    assert first == second != other_bot
    for secret in (first, other_bot):
        assert re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret)
        assert SECRET_PART not in secret
    configured = Settings(_env_file=None, telegram_bot_token=TOKEN, webhook_secret="chosen-by-hand")
    assert webhook_for(configured, "https://bot.example/hook").secret == "chosen-by-hand"


async def test_a_webhook_process_accepts_updates_with_the_derived_secret_and_logs_neither_secret(tmp_path):
    server = LocalBotApi(token=TOKEN)
    # The bot's answer fails with an error quoting the token, so the error handler logs a traceback.
    server.redirect_loop_methods.add("sendMessage")
    await server.start()
    port = free_port()
    hook_url = f"http://127.0.0.1:{port}/telegram/hook"
    secret = derived_webhook_secret(TOKEN)
    update = {"update_id": 5, "message": {
        "message_id": 1, "date": 1521590400, "chat": {"id": 101, "type": "private"},
        "from": {"id": 101, "is_bot": False, "first_name": "A"}, "text": "/help",
        "entities": [{"type": "bot_command", "offset": 0, "length": 5}]}}
    process = await start_campaign_bot({"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": server.url,
                                        "DATABASE_URL": f"sqlite:///{tmp_path}/bot.db",
                                        "WEBHOOK_PORT": str(port)}, "--webhook", hook_url)
    logged: list[str] = []
    try:
        await server.wait_until(lambda: bool(server.calls("setWebhook")), timeout=60)
        assert server.calls("setWebhook")[-1].params["secret_token"] == secret
        async with aiohttp.ClientSession() as http:
            for _ in range(100):  # the webhook server starts listening just after setWebhook
                try:
                    answer = await http.post(hook_url, json=update,
                                             headers={"X-Telegram-Bot-Api-Secret-Token": secret})
                    break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.1)
        assert answer.status == 200
        async with asyncio.timeout(30):
            # The error handler's last words: after the answer, telling the chat failed as well.
            while b"could not tell chat about the error" not in (line := await process.stderr.readline()):
                logged.append(line.decode())
                assert line, "the bot stopped without handling the update"
    finally:
        logged.append(await output_of(process, interrupt=True))
        await server.stop()
    output = "".join(logged)
    assert "TooManyRedirects" in output
    assert_no_token(output)
    assert secret not in output
