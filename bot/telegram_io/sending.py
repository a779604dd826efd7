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

`Throttle` keeps the limits: never more than `rate` messages (at most the hard cap: 30, or 1000
with paid broadcasts) in any one second as Telegram counts them, on arrival; at most one message
a second to a private chat and 20 a minute to a group. Sends are concurrent: each waits only for
its own turn, so many are in flight at once.

The one margin is `ARRIVAL_GUARD`: Telegram's window is one second of arrival time, and a send
reaches it a little later or earlier than planned (timer lateness, a GC pause or a busy loop
between the turn and the write, the network's jitter). The throttle therefore keeps every window
of 1 s + ARRIVAL_GUARD of its own turns within the rate, so that any one second at arrival holds
at most the rate as long as the sends' lateness varies by less than the guard. The pace that
fills such windows exactly is rate / (1 + ARRIVAL_GUARD), 98.5% of the rate.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import enum
import json
import logging
import math
import time
import urllib.parse
import warnings
from collections.abc import Awaitable, Callable
from typing import Protocol

from telegram import Bot
from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.ext import BaseRateLimiter
from telegram.warnings import PTBDeprecationWarning, PTBUserWarning

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
PER_CHAT_INTERVAL = 1.0
GROUP_MESSAGES_PER_MINUTE = 20
# Seconds of window time kept free for the spread of the sends' lateness on the way to Telegram
# (measured by benchmarks/pace_skew.py on the local Bot API server at 30/s and 1000/s: asyncio timers
# a fraction of a millisecond late, the write after the turn ~0.1-1 ms, gen-0 GC pauses under 1 ms,
# loopback jitter under 1 ms, a loaded 2-core machine's scheduling up to several ms; monotonic clock
# resolution 1 ns). A sender whose turn comes later than this after its time (the loop stalled) does
# not go at once with the others due meanwhile: that burst could arrive spread wider than the guard.
ARRIVAL_GUARD = 0.015
# Of the guard, the part a timer may fire late and its send still go at its turn; the rest is left
# for the way from the turn to Telegram's arrival stamp (the write, the network).
LATE_TURN = 0.010
# The window the throttle keeps to its rate: Telegram's one second plus the guard.
WINDOW_SPAN = 1.0 + ARRIVAL_GUARD
# Per-chat turns are kept this much more than the limit apart, for the same reason.
WINDOW_GUARD = 0.02
# After a 429 the pace drops by a tenth for this long (repeated 429s lengthen Telegram's ban).
SLOWDOWN_AFTER_429 = 0.9
SLOWDOWN_SECONDS = 10.0


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


def is_group_chat(chat_id: int) -> bool:
    """Groups, supergroups and channels have negative ids; people have positive ones."""
    return chat_id < 0


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


class Throttle:
    """Waits for each send's turn under the global pace, the hard cap, and the per-chat limits."""

    def __init__(self, *, rate: float, hard_cap: int, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        # Injected so tests can run the limits on virtual time, timers firing late included.
        self._clock = clock
        self._sleep = sleep
        # The configured rate, never above Telegram's cap: the guard keeps it as counted on arrival.
        self.whole_rate = min(rate, hard_cap)
        self.hard_cap = hard_cap
        self.share_with(1)
        # Turns are planned on a timeline that slides by `_shift` whenever the loop stalls, so that
        # every turn planned before the stall moves by as much (see wait_turn).
        self._next_turn = 0.0
        self._shift = 0.0
        self._recent: collections.deque[float] = collections.deque()
        self._paused_until = 0.0
        self._slowed_until = 0.0
        # Per chat: the times of its recent sends (reserved turns), forgotten once they no longer matter.
        self._chat_turns: dict[int, collections.deque[float]] = {}
        self._expiry: collections.deque[tuple[float, int]] = collections.deque()

    @property
    def current_rate(self) -> float:
        return self.rate * SLOWDOWN_AFTER_429 if self._clock() < self._slowed_until else self.rate

    def share_with(self, processes: int) -> None:
        """Several processes send for the same bot: each keeps to its part of the rate and the cap,
        so together they stay within Telegram's limit."""
        processes = max(1, processes)
        # No window of WINDOW_SPAN of this process's turns holds more than its part of the rate,
        # however late the loop got round to its sends; the parts add up to at most the rate.
        self._window_allowance = max(1, math.floor(self.whole_rate / processes))
        # The steady pace that fills such a window exactly.
        self.rate = self._window_allowance / WINDOW_SPAN

    def hold(self, seconds: float) -> None:
        """Send nothing for `seconds` (a newcomer waits until the others have made room for it)."""
        self._next_turn = max(self._next_turn, self._clock() + seconds - self._shift)

    async def admit_reply(self) -> None:
        """A reply to someone goes ahead of the broadcast's queue but counts in its window, so the
        broadcast makes room for it; during a 429 pause it waits like everything else."""
        now = self._clock()
        if now < self._paused_until:
            await self._sleep(self._paused_until - now)
        self._recent.append(self._clock())

    def pause_all(self, seconds: float) -> None:
        """Telegram said 429: nothing is sent for `seconds`, then the pace is lower for a while."""
        now = self._clock()
        self._paused_until = max(self._paused_until, now + seconds)
        self._slowed_until = self._paused_until + SLOWDOWN_SECONDS
        # Turns reserved before the pause are void; everyone queues again after it.
        self._next_turn = max(self._next_turn, self._paused_until - self._shift)

    def _forget_old_chats(self, now: float) -> None:
        while self._expiry and self._expiry[0][0] <= now:
            _, chat_id = self._expiry.popleft()
            turns = self._chat_turns.get(chat_id)
            if turns is not None:
                span = 60.0 if is_group_chat(chat_id) else PER_CHAT_INTERVAL
                while turns and turns[0] + span <= now:
                    turns.popleft()
                if not turns:
                    del self._chat_turns[chat_id]

    def _reserve_chat_turn(self, chat_id: int, now: float) -> float:
        """The earliest moment this chat may get its next message, reserved for the caller."""
        turns = self._chat_turns.setdefault(chat_id, collections.deque())
        # Every chat, a group too, gets at most one message a second; a group also 20 a minute.
        turn = now
        if turns:
            turn = max(turn, turns[-1] + PER_CHAT_INTERVAL + WINDOW_GUARD)
        span = PER_CHAT_INTERVAL + WINDOW_GUARD
        if is_group_chat(chat_id):
            span = 60.0 + WINDOW_GUARD
            if len(turns) >= GROUP_MESSAGES_PER_MINUTE:
                turn = max(turn, turns[-GROUP_MESSAGES_PER_MINUTE] + span)
        turns.append(turn)
        self._expiry.append((turn + span, chat_id))
        return turn

    async def wait_turn(self, chat_id: int) -> None:
        now = self._clock()
        self._forget_old_chats(now)
        chat_turn = self._reserve_chat_turn(chat_id, now)
        if chat_turn > now:
            await self._sleep(chat_turn - now)
        while True:
            # The steady pace: each send takes the next free slot, 1/rate apart.
            now = self._clock()
            planned = max(now - self._shift, self._next_turn)
            self._next_turn = planned + 1.0 / self.current_rate
            turn = planned + self._shift
            while turn > now:
                await self._sleep(turn - now)
                now = self._clock()
                turn = planned + self._shift  # a stall meanwhile moved it
            if now < self._paused_until:
                continue  # a 429 came while we waited: queue again behind the pause
            if now - turn > LATE_TURN:
                # The loop stalled (GC, a slow commit, the machine busy): the sends due meanwhile
                # would all go at once. Instead every turn not yet taken moves by the stall, and the
                # pace resumes from now: nothing due during the stall goes in a bunch.
                self._shift += now - turn
                turn = now
            # Stamped at its turn: the guard covers the few milliseconds it may go later.
            recent = self._recent
            # (A microsecond's tolerance: turns 1/rate apart add up with rounding errors.)
            while recent and recent[0] <= turn - WINDOW_SPAN + 1e-6:
                recent.popleft()
            if len(recent) < self._window_allowance:
                recent.append(max(turn, recent[-1]) if recent else turn)
                return
            # Replies took part of this window: wait until its oldest send leaves it.
            self._next_turn = max(self._next_turn, recent[0] + WINDOW_SPAN - self._shift)


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
