"""Webhook mode: updates posted by Telegram reach the bot only with the secret token."""

from __future__ import annotations

import logging
import socket

import aiohttp

from bot.app import build_application, running
from bot.telegram_io.observing import ProcessedUpdates
from bot.telegram_io.webhook import Webhook
from tests.builders import make_list, slugs_of
from tests.conftest import TOKEN


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_webhook_accepts_updates_with_the_secret_and_refuses_others(database, telegram, clock, settings,
                                                                           caplog):
    caplog.set_level(logging.WARNING)
    await make_list(database, "protests", "Protests")
    port = free_port()
    hook = Webhook(url=f"http://127.0.0.1:{port}/telegram/hook", secret="s3cret-token", port=port)
    application = build_application(settings, database, clock, token=TOKEN, api_url=telegram.url)
    processed = ProcessedUpdates(application)
    update = {
        "update_id": 77,
        "message": {"message_id": 1, "date": 1521590400, "chat": {"id": 101, "type": "private"},
                    "from": {"id": 101, "is_bot": False, "first_name": "A"}, "text": "/subscribe protests",
                    "entities": [{"type": "bot_command", "offset": 0, "length": 10}]},
    }
    async with running(application, webhook=hook), aiohttp.ClientSession() as http:
        registered = telegram.calls("setWebhook")[-1].params
        assert registered["url"] == hook.url and registered["secret_token"] == "s3cret-token"

        forged = await http.post(hook.url, json=update)
        wrong = await http.post(hook.url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "guess"})
        assert (forged.status, wrong.status) == (403, 403)
        assert await slugs_of(database, 101) == []

        genuine = await http.post(hook.url, json=update,
                                  headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret-token"})
        assert genuine.status == 200
        await processed.wait_for(77)
    assert await slugs_of(database, 101) == ["protests"]
    assert "you are on" in telegram.sent_to(101)[-1]["text"]
    refusals = [r for r in caplog.records if "refused a webhook request" in r.getMessage()]
    assert [r.levelname for r in refusals] == ["WARNING", "WARNING"]
    assert "guess" not in caplog.text
