"""Running the bot for real: polling Telegram until stopped."""

from __future__ import annotations

import asyncio
import logging
import secrets

from telegram import Update
from telegram.error import InvalidToken, NetworkError

from bot.app import Webhook, build_application, log_webhook_refusals, running
from bot.services import Services
from bot.settings import Settings
from storage.clock import SystemClock
from storage.db import Database


class _ReportedToThePerson(logging.Filter):
    """A refused token, or a Bot API server that cannot be reached at start-up, is told to the
    person in one sentence; the traceback would only bury it. Network errors later on, while
    polling, are still logged: those the bot retries, and an operator wants to see them."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, InvalidToken):
            return False
        return not (isinstance(error, NetworkError) and record.getMessage().startswith("Network Retry Loop (Bootstrap"))


async def _run_worker(application) -> None:
    async with running(application, receive_updates=False):
        await asyncio.Event().wait()  # until interrupted


def run_bot(settings: Settings, *, webhook_url: str | None = None, worker: bool = False) -> str | None:
    """Polls (or serves a webhook) until interrupted.

    Returns the reason it could not start (a template key), or None after a clean stop.
    """
    assert settings.telegram_bot_token is not None
    services = Services(settings=settings, clock=SystemClock(),
                        db=Database.from_url(settings.database_url, schema=settings.database_schema))
    for name in ("telegram.ext", "telegram.ext.Application", "telegram.ext.Updater"):
        logging.getLogger(name).addFilter(_ReportedToThePerson())
    application = build_application(services, token=settings.telegram_bot_token, api_url=settings.telegram_api_url)
    try:
        if worker:
            try:
                asyncio.run(_run_worker(application))
            except KeyboardInterrupt:
                pass
        elif webhook_url is None:
            application.run_polling(allowed_updates=Update.ALL_TYPES)
        else:
            webhook = Webhook(url=webhook_url, secret=settings.webhook_secret or secrets.token_urlsafe(32),
                              listen=settings.webhook_listen, port=settings.webhook_port)
            log_webhook_refusals()
            application.run_webhook(listen=webhook.listen, port=webhook.port, url_path=webhook.path,
                                    webhook_url=webhook.url, secret_token=webhook.secret,
                                    allowed_updates=Update.ALL_TYPES)
    except InvalidToken:
        return "invalid_token"
    except NetworkError:
        return "unreachable"
    return None
