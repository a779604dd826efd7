"""The one sender: every broadcast and reminder goes out through it, under Telegram's limits.

`Sender` is the small interface the engine talks to; `TelegramSender` is the implementation on
python-telegram-bot. It maps what Telegram answers to a `SendResult`:

- 429 `retry_after`: all sending pauses for that long, then the message is tried again, and
  the pace drops by a tenth for a while (repeated 429s lengthen Telegram's ban);
- 403 (blocked, deactivated, kicked): BLOCKED;
- 400 about the message itself ("can't parse entities", "message is too long", a file id
  Telegram does not know...): REFUSED, so the engine can pause a broadcast every recipient
  would refuse instead of failing the whole list one by one;
- 400 about the recipient ("chat not found", an invalid peer): GONE; any other 400: FAILED,
  not retried;
- a group that became a supergroup (migrate_to_chat_id): sent again to the new id, and the
  result carries the new id so the caller can store it;
- 5xx and network errors: retried after `RETRY_DELAYS`, then FAILED.

`Throttle` (bot/telegram_io/throttle.py) keeps Telegram's limits for it, with the one margin,
`ARRIVAL_GUARD`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import json
import logging
import urllib.parse
import warnings
from collections.abc import Awaitable
from typing import Protocol

from telegram import Bot
from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.ext import BaseRateLimiter
from telegram.warnings import PTBDeprecationWarning, PTBUserWarning

from bot.telegram_io.throttle import Throttle
from bot.telegram_io.transport import SEND_METHODS, AiohttpRequest, EncodedRequestData

logger = logging.getLogger(__name__)

# `Bot.do_api_request` suggests the typed method; we call the raw one on purpose (see send_outgoing).
warnings.filterwarnings("ignore", message=r"Please use 'Bot\.send(Message|Photo|Document)'", category=PTBUserWarning)

# Seconds to wait before each retry of a 5xx or network error; after the last, the send has failed.
RETRY_DELAYS: tuple[float, ...] = (1.0, 5.0, 15.0)
# Consecutive 429s one message may meet before it counts as failed (a ban that does not lift).
MAX_RATE_LIMITED_TRIES = 20
FREE_CAP_PER_SECOND = 30
PAID_CAP_PER_SECOND = 1000


class SendOutcome(enum.StrEnum):
    SENT = "sent"
    BLOCKED = "blocked"
    GONE = "gone"
    FAILED = "failed"
    REFUSED = "refused"  # Telegram refused the message itself: every recipient would refuse it alike


# Telegram's descriptions (lower case) of a 400 that is about the message, not the recipient: the
# same message would be refused for anyone. Telegram words them this way in its answers; the codes
# in capitals are the MTProto errors it passes through as descriptions.
MESSAGE_LEVEL_REFUSALS: tuple[str, ...] = (
    "can't parse entities",
    "message is too long",
    "caption is too long",
    "media_caption_too_long",
    "message text is empty",
    "text must be non-empty",
    "wrong file identifier",
    "wrong remote file identifier",
    "wrong type of the web page content",
    "failed to get http url content",
    "button_data_invalid",
    "reply markup is too long",
    "entities_too_long",
    "photo_invalid_dimensions",
    "can't use file of type",
)
# ...and of a 400 that means the recipient is not there (no such chat, or an id that is not one).
RECIPIENT_GONE: tuple[str, ...] = (
    "chat not found",
    "peer_id_invalid",
    "user not found",
    "chat_id is empty",
    "group chat was upgraded to a supergroup chat",  # without the new id to follow
)


def outcome_of_bad_request(description: str) -> SendOutcome:
    """What a 400 means for a broadcast: the message is wrong (REFUSED), the recipient is gone
    (GONE), or something about this one recipient (FAILED)."""
    words = description.lower()
    if any(phrase in words for phrase in MESSAGE_LEVEL_REFUSALS):
        return SendOutcome.REFUSED
    if any(phrase in words for phrase in RECIPIENT_GONE):
        return SendOutcome.GONE
    return SendOutcome.FAILED


@dataclasses.dataclass(frozen=True)
class Outgoing:
    """A message as recipients see it: Telegram HTML text, or a photo or document with that caption;
    `silent` sends it without a notification sound (quiet hours), `buttons` are inline buttons
    (rows of (label, callback_data)) under a notice to an organiser."""

    text: str
    photo: str | None = None
    document: str | None = None
    silent: bool = False
    buttons: tuple[tuple[tuple[str, str], ...], ...] | None = None


@dataclasses.dataclass(frozen=True)
class SendResult:
    outcome: SendOutcome
    new_chat_id: int | None = None
    detail: str = ""


class Sender(Protocol):
    async def send(self, chat_id: int, message: Outgoing) -> SendResult:
        """Deliver `message` to `chat_id` within the limits; never raises for Telegram's answers."""
        ...



def api_call(chat_id: int, message: Outgoing, *, paid: bool = False) -> tuple[str, dict[str, object]]:
    """The Bot API method and parameters that deliver `message` to `chat_id`."""
    params: dict[str, object] = {"chat_id": chat_id, "parse_mode": "HTML"}
    if paid:
        params["allow_paid_broadcast"] = True
    if message.silent:
        params["disable_notification"] = True
    if message.buttons:
        params["reply_markup"] = {"inline_keyboard": [[{"text": text, "callback_data": data} for text, data in row]
                                                      for row in message.buttons]}
    if message.photo:
        return "sendPhoto", {**params, "photo": message.photo, "caption": message.text}
    if message.document:
        return "sendDocument", {**params, "document": message.document, "caption": message.text}
    return "sendMessage", {**params, "text": message.text}


def _form_value(value: object) -> str:
    """A parameter as the Bot API reads it from a form: JSON for anything but a string."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


@dataclasses.dataclass(frozen=True)
class EncodedMessage:
    """`message` encoded once for many chats: the method, and the form body but for the chat id."""

    method: str
    rest: bytes

    @classmethod
    def of(cls, message: Outgoing, *, paid: bool) -> EncodedMessage:
        method, params = api_call(0, message, paid=paid)
        del params["chat_id"]
        rest = urllib.parse.urlencode({name: _form_value(value) for name, value in params.items()})
        return cls(method, rest.encode())

    def body(self, chat_id: int) -> bytes:
        return b"chat_id=%d&%b" % (chat_id, self.rest)


async def send_encoded(bot: Bot, chat_id: int, encoded: EncodedMessage) -> None:
    """`send_outgoing` for a message encoded once: one Bot API call, raising what python-telegram-bot
    raises (its request class maps the answer to the same errors)."""
    # The answer (a Message) is not parsed: nothing here reads it (see send_outgoing). The request
    # class's wrapper still maps every answer other than 200 to python-telegram-bot's errors.
    await bot.request._request_wrapper(f"{bot.base_url}/{encoded.method}", "POST",
                                       request_data=EncodedRequestData(encoded.body(chat_id)))


async def send_outgoing(bot: Bot, chat_id: int, message: Outgoing, *, paid: bool = False) -> None:
    """One Bot API call for `message`; raises what python-telegram-bot raises. Also used for previews,
    so the organiser sees exactly what recipients will.

    The answer is not parsed into a `Message` (a fifth of the CPU a send costs): nothing here reads it.
    """
    method, params = api_call(chat_id, message, paid=paid)
    await bot.do_api_request(method, api_kwargs=params)


class TelegramSender:
    """The `Sender` on python-telegram-bot: one `Bot`, one `Throttle`."""

    def __init__(self, bot: Bot, *, rate: float, paid: bool = False,
                 retry_delays: tuple[float, ...] | None = None) -> None:
        self.bot = bot
        self.paid = paid
        cap = PAID_CAP_PER_SECOND if paid else FREE_CAP_PER_SECOND
        self.throttle = Throttle(rate=min(rate, cap), hard_cap=cap)
        self.retry_delays = RETRY_DELAYS if retry_delays is None else retry_delays
        self.rate_limited = 0  # 429s met, for reports and benchmarks
        # Photos and documents go as python-telegram-bot sends them (a file id, or an upload);
        # text is encoded once per message when the transport can take an encoded body.
        self._encodes = isinstance(bot.request, AiohttpRequest)
        self._encoded: dict[Outgoing, EncodedMessage] = {}

    def _deliver(self, chat_id: int, message: Outgoing) -> Awaitable[None]:
        if not self._encodes or message.photo or message.document:
            return send_outgoing(self.bot, chat_id, message, paid=self.paid)
        encoded = self._encoded.get(message)
        if encoded is None:
            if len(self._encoded) >= 64:  # a broadcast or two at a time; forget older ones
                self._encoded.clear()
            encoded = self._encoded[message] = EncodedMessage.of(message, paid=self.paid)
        return send_encoded(self.bot, chat_id, encoded)

    @property
    def rate(self) -> float:
        return self.throttle.rate

    async def send(self, chat_id: int, message: Outgoing) -> SendResult:
        new_chat_id: int | None = None
        failures = 0
        rate_limited = 0
        while True:
            await self.throttle.wait_turn(chat_id)
            try:
                await self._deliver(chat_id, message)
                return SendResult(SendOutcome.SENT, new_chat_id)
            except RetryAfter as error:
                self.rate_limited += 1
                rate_limited += 1
                with warnings.catch_warnings():
                    # PTB 22 warns that retry_after will become a timedelta; both are handled here.
                    warnings.simplefilter("ignore", PTBDeprecationWarning)
                    seconds = error.retry_after
                seconds = seconds.total_seconds() if hasattr(seconds, "total_seconds") else float(seconds)
                logger.warning("Telegram asked to wait %.0f s (429); pausing all sending", seconds)
                self.throttle.pause_all(seconds)
                if rate_limited >= MAX_RATE_LIMITED_TRIES:
                    return SendResult(SendOutcome.FAILED, new_chat_id, "rate limited")
            except ChatMigrated as error:
                if new_chat_id is not None and error.new_chat_id == new_chat_id:
                    return SendResult(SendOutcome.FAILED, new_chat_id, "migration loop")
                chat_id = new_chat_id = error.new_chat_id
            except Forbidden as error:
                return SendResult(SendOutcome.BLOCKED, new_chat_id, error.message)
            except BadRequest as error:
                outcome = outcome_of_bad_request(error.message)
                if outcome is SendOutcome.REFUSED:
                    logger.error("Telegram refused a broadcast message: %s", error.message)
                return SendResult(outcome, new_chat_id, error.message)
            except NetworkError as error:  # 5xx, timeouts, connections refused or reset
                if failures >= len(self.retry_delays):
                    return SendResult(SendOutcome.FAILED, new_chat_id, error.message)
                await asyncio.sleep(self.retry_delays[failures])
                failures += 1
            except TelegramError as error:  # an invalid token and other answers no retry will change
                logger.error("sending failed: %s", error.message)
                return SendResult(SendOutcome.FAILED, new_chat_id, error.message)


class RepliesInTheSendingWindow(BaseRateLimiter[None]):
    """python-telegram-bot's rate-limiter hook for the bot's ordinary replies.

    Telegram counts a reply and a broadcast message alike; while a broadcast fills the budget, a
    reply the sender did not know of would be one too many and be refused with 429. The replies
    therefore count in the sender's window (see `Throttle.admit_reply`). Until the broadcast engine
    has started, there is nothing to share with and replies go straight out.
    """

    def __init__(self) -> None:
        self.throttle: Throttle | None = None

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def process_request(self, callback, args, kwargs, endpoint, data, rate_limit_args):
        if self.throttle is not None and endpoint in SEND_METHODS:
            await self.throttle.admit_reply()
        return await callback(*args, **kwargs)
