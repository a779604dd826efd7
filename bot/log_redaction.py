"""Secrets (the bot token, the webhook secret) never reach a log line.

The Bot API puts the token in every request's URL (`/bot<token>/<method>`), and an HTTP error can
carry that URL into an exception message and from there into a logged traceback. Redaction is a
LogRecord factory rather than a filter: a filter on a logger sees only that logger's own records,
not those its children propagate, and a filter on handlers misses every handler added later
(pytest's, an operator's). Every record of every logger is made by the factory, so each one is
cleaned once, when it is created: its message with its arguments, its exception text and its stack.
"""

from __future__ import annotations

import logging
import re
import threading
from urllib.parse import quote

REDACTED = "[redacted]"
# A token in a Bot API path (`/bot<token>/`, `/file/bot<token>/`), registered or not: tokens are
# `<bot id>:<secret part>`, the colon sometimes percent-encoded.
_BOT_API_PATH = re.compile(r"/bot\d+(?::|%3A)[A-Za-z0-9_-]+", re.IGNORECASE)

_secrets: set[str] = set()
_lock = threading.Lock()
_formatter = logging.Formatter()


def redact(text: str) -> str:
    """`text` with every registered secret and every Bot API path's token replaced."""
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    return _BOT_API_PATH.sub(f"/bot{REDACTED}", text)


def redact_from_logs(*secrets: str | None) -> None:
    """Keep these values out of every log record from now on (idempotent; empty values ignored)."""
    with _lock:
        for secret in secrets:
            if secret:
                # As they would appear in a URL, too: the token's ':' is percent-encoded by some clients.
                _secrets.update({secret, quote(secret, safe=""), quote(secret)})
        previous = logging.getLogRecordFactory()
        if getattr(previous, "redacts_secrets", False):
            return
        logging.setLogRecordFactory(_redacting_factory(previous))


def _redacting_factory(make_record):
    def factory(*args, **kwargs) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        _clean(record)
        return record

    factory.redacts_secrets = True  # type: ignore[attr-defined]
    return factory


def _clean(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # a malformed format string: logging itself reports it when the record is emitted
        return
    cleaned = redact(message)
    if cleaned != message:
        # Formatted once, here: an argument's text is where a URL (and its token) usually hides.
        record.msg, record.args = cleaned, ()
    if record.exc_info and not record.exc_text:
        # Formatters use exc_text when it is set, so the traceback is printed as cleaned here.
        record.exc_text = redact(_formatter.formatException(record.exc_info))
    elif record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
