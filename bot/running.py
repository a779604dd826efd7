"""Running the bot for real: polling Telegram until stopped."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging

from telegram import Update
from telegram.error import InvalidToken, NetworkError

from bot.app import build_application, running
from bot.log_redaction import redact_from_logs
from bot.settings import Settings
from bot.telegram_io.webhook import Webhook, log_webhook_refusals
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


# What the token is hashed with to make the default webhook secret. Changing it changes every
# deployed bot's secret, so it stays as it is.
WEBHOOK_SECRET_LABEL = b"campaign-bot webhook secret"


def derived_webhook_secret(token: str) -> str:
    """The webhook secret when WEBHOOK_SECRET is unset: an HMAC of the token, so every process of
    one bot agrees on it without configuration, and a new token (after a leak) brings a new secret.

    43 characters of base64url, inside Telegram's allowed 1-256 of `A-Za-z0-9_-`; the token cannot
    be recovered from it.
    """
    digest = hmac.new(token.encode(), WEBHOOK_SECRET_LABEL, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def webhook_for(settings: Settings, url: str) -> Webhook:
    assert settings.telegram_bot_token is not None
    secret = settings.webhook_secret or derived_webhook_secret(settings.telegram_bot_token)
    return Webhook(url=url, secret=secret, listen=settings.webhook_listen, port=settings.webhook_port)


async def _run_worker(application) -> None:
    async with running(application, receive_updates=False):
        await asyncio.Event().wait()  # until interrupted


def run_bot(settings: Settings, *, webhook_url: str | None = None, worker: bool = False) -> str | None:
    """Polls (or serves a webhook) until interrupted.

    Returns the reason it could not start (a template key), or None after a clean stop.
    """
    assert settings.telegram_bot_token is not None
    webhook = webhook_for(settings, webhook_url) if webhook_url is not None else None
    redact_from_logs(settings.telegram_bot_token, webhook.secret if webhook else None)
    for name in ("telegram.ext", "telegram.ext.Application", "telegram.ext.Updater"):
        logging.getLogger(name).addFilter(_ReportedToThePerson())
    application = build_application(settings, Database.from_url(settings.database_url, schema=settings.database_schema),
                                    SystemClock(), token=settings.telegram_bot_token, api_url=settings.telegram_api_url)
    try:
        if worker:
            try:
                asyncio.run(_run_worker(application))
            except KeyboardInterrupt:
                pass
        elif webhook is None:
            application.run_polling(allowed_updates=Update.ALL_TYPES)
        else:
            log_webhook_refusals()
            application.run_webhook(listen=webhook.listen, port=webhook.port, url_path=webhook.path,
                                    webhook_url=webhook.url, secret_token=webhook.secret,
                                    allowed_updates=Update.ALL_TYPES)
    except InvalidToken:
        return "invalid_token"
    except NetworkError:
        return "unreachable"
    return None
