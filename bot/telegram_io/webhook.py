"""Receiving updates by webhook: where Telegram posts them, and a warning for each request that
comes without the right secret (someone probing the endpoint)."""

from __future__ import annotations

import dataclasses
import logging
from urllib.parse import urlsplit


@dataclasses.dataclass(frozen=True)
class Webhook:
    """Where Telegram posts updates, and the secret each request must carry."""

    url: str
    secret: str
    listen: str = "127.0.0.1"
    port: int = 8443

    @property
    def path(self) -> str:
        return urlsplit(self.url).path.lstrip("/")


class _WebhookRefusalsAsWarnings(logging.Filter):
    """python-telegram-bot logs a refused webhook request at debug level, among much other debug
    chatter. A POST without the right secret is someone probing the endpoint: worth a warning."""

    REFUSALS = ("Request did not include the secret token", "Request had the wrong secret token")

    def __init__(self, passthrough_level: int) -> None:
        super().__init__()
        self.passthrough_level = passthrough_level

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and record.msg.startswith(self.REFUSALS):
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            # The wrong token itself is not logged: it may be a near miss of the real one.
            record.msg, record.args = "refused a webhook request without the right secret token", ()
            return True
        return record.levelno >= self.passthrough_level


def log_webhook_refusals() -> None:
    ptb_logger = logging.getLogger("telegram.ext.Updater")  # where the webhook handler logs
    if any(isinstance(f, _WebhookRefusalsAsWarnings) for f in ptb_logger.filters):
        return
    ptb_logger.addFilter(_WebhookRefusalsAsWarnings(ptb_logger.getEffectiveLevel()))
    ptb_logger.setLevel(logging.DEBUG)
