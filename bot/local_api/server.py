"""A small Bot API server of the project's own, for loopback use only.

It speaks the HTTP API python-telegram-bot uses (`/bot{token}/{method}`), keeps each chat's
history, lets a caller push user messages, commands and button presses in as updates, records
every request the bot makes, and can be told to answer a chat with Telegram's errors
(403 blocked, 400 chat not found, 429 retry_after, 5xx, group migration) or with a delay.
With `limits` set it enforces Telegram's flood limits and answers 429 beyond them. It is as strict
as Telegram about what a request may carry (HTML, lengths, buttons, commands: `bot/local_api/rules.py`),
so a text Telegram would refuse fails here too.

It serves the tests, `campaign-bot try`, and the benchmarks (in another process, through the
`/_control/...` routes). It does not import `telegram`: it is the other side of the wire.

This module holds the server's state, the HTTP side and the control routes; beside it are the
method handlers (`methods.py`), the updates pushed in (`updates.py`), the chats (`chats.py`), the
faults a chat can be told to answer with (`faults.py`) and the flood limits (`flood.py`).
"""


from __future__ import annotations

import asyncio
import collections
import dataclasses
import itertools
import json
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from bot.local_api.chats import BOT_USER_ID, ChatState
from bot.local_api.faults import Answer, ChatFault, fault_answer
from bot.local_api.flood import FloodGate, Limits
from bot.local_api.menus import CommandMenus
from bot.local_api.methods import ApiError, ApiMethods
from bot.local_api.rules import refusal_of
from bot.local_api.updates import PushedUpdates

SEND_METHODS = frozenset(
    {"sendMessage", "sendPhoto", "sendDocument", "sendVenue", "sendLocation", "copyMessage", "forwardMessage"}
)
# Parameters that python-telegram-bot sends as JSON strings inside the form.
JSON_PARAMETERS = frozenset(
    {"reply_markup", "entities", "caption_entities", "allowed_updates", "commands", "results", "link_preview_options",
     "reply_parameters", "scope", "media"}
)


@dataclasses.dataclass
class ApiRequest:
    method: str
    params: dict[str, Any]
    at: float
    status: int = 200

    @property
    def chat_id(self) -> int | None:
        value = self.params.get("chat_id")
        return value if isinstance(value, int) else None


def _decode_param(name: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    if name in JSON_PARAMETERS:
        try:
            return json.loads(value)
        except ValueError:
            return value
    if name in {"chat_id", "user_id", "message_id", "offset", "limit", "from_chat_id"}:
        try:
            return int(value)
        except ValueError:
            return value
    if name in {"timeout", "latitude", "longitude", "retry_after"}:
        try:
            return float(value)
        except ValueError:
            return value
    if name in {"allow_paid_broadcast", "disable_notification", "show_alert", "is_personal"}:
        return value.lower() == "true"
    return value


class LocalBotApi(CommandMenus, ApiMethods, PushedUpdates):
    def __init__(
        self,
        *,
        token: str | None = None,
        bot_username: str = "campaign_bot",
        reply_delay: float = 0.0,
        limits: Limits | None = None,
        keep_history: bool = True,
    ) -> None:
        # token=None accepts any token; otherwise others get 401 like the real server.
        self.token = token
        self.bot_username = bot_username
        self.reply_delay = reply_delay
        self.limits = limits
        self.keep_history = keep_history
        self.requests: list[ApiRequest] = []
        self.chats: dict[int, ChatState] = {}
        self.user_languages: dict[int, str] = {}
        self.command_menus: dict = {}  # (scope, language code) -> commands (bot/local_api/menus.py)
        self.faults: dict[int, ChatFault] = {}
        self.delivered: collections.Counter[int] = collections.Counter()
        self.answered_429 = 0
        self.sent_total = 0
        # Kept as sends happen, so that reading them stays cheap however often a benchmark asks.
        self.duplicates = 0
        self.busiest_second = 0
        self._last_second: list[float] = []
        # Every send that arrived, refused ones too (Telegram counts them against the limit alike):
        # how many, the first and last arrival, the most in any one second.
        self.attempts = 0
        self.first_attempt_at = 0.0
        self.last_attempt_at = 0.0
        self.busiest_attempt_second = 0
        self._attempt_window: collections.deque[float] = collections.deque()
        # The latest attempts' (chat id, arrival), for benchmarks that compare them with when they were sent.
        self.arrivals: collections.deque[tuple[int, float]] = collections.deque(maxlen=100_000)
        self._arrived_at = 0.0
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._callback_ids = itertools.count(1)
        self._message_ids_without_history = itertools.count(1)
        self._changed = asyncio.Condition()
        self._flood = FloodGate(limits) if limits is not None else None
        self._runner: web.AppRunner | None = None
        self._closing = False
        self.url = ""
        # Methods answered with a redirect to themselves, for ever: no Telegram server does this,
        # but it makes an HTTP client fail with an error that quotes the request URL (and its token).
        self.redirect_loop_methods: set[str] = set()

    # ------------------------------------------------------------------ serving

    def make_app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_post("/_control/push", self._control_push)
        app.router.add_post("/_control/fault", self._control_fault)
        app.router.add_get("/_control/stats", self._control_stats)
        app.router.add_post("/_control/reset", self._control_reset)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._runner = web.AppRunner(self.make_app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound_port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://{host}:{bound_port}"
        return self.url

    async def release_long_polls(self) -> None:
        """Answer pending and future getUpdates at once, so a stopping bot need not wait out its poll."""
        self._closing = True
        await self._notify()

    async def stop(self) -> None:
        await self.release_long_polls()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if self.token is not None and request.match_info["token"] != self.token:
            self.requests.append(ApiRequest(method=method, params={}, at=time.monotonic(), status=401))
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        if method in self.redirect_loop_methods:
            self.requests.append(ApiRequest(method=method, params={}, at=time.monotonic(), status=307))
            await self._notify()
            raise web.HTTPTemporaryRedirect(request.path_qs)
        params: dict[str, Any] = {}
        if request.method == "POST":
            if request.content_type == "application/json":
                params = await request.json()
            else:
                form = await request.post()
                for name, value in form.items():
                    if isinstance(value, web.FileField):
                        params[name] = {"filename": value.filename, "content": value.file.read()}
                    else:
                        params[name] = _decode_param(name, value)
        params.update({k: _decode_param(k, v) for k, v in request.query.items()})
        record = ApiRequest(method=method, params=params, at=time.monotonic())
        status, body = await self._answer(method, params)
        record.status = status
        if self.keep_history or method not in SEND_METHODS:
            self.requests.append(record)
        await self._notify()
        return web.json_response(body, status=status)

    async def _answer(self, method: str, params: dict[str, Any]) -> Answer:
        arrived_at = time.monotonic()
        if method == "getUpdates":
            return 200, {"ok": True, "result": await self._get_updates(params)}
        # Telegram refuses a malformed request whatever the chat, so this comes before faults.
        broken_rule = refusal_of(method, params)
        if broken_rule is not None:
            return 400, {"ok": False, "error_code": 400, "description": broken_rule}
        if method in SEND_METHODS:
            self._note_attempt(arrived_at)
            if isinstance(params.get("chat_id"), int):
                self.arrivals.append((params["chat_id"], arrived_at))
        if method in SEND_METHODS or method == "editMessageText":
            refusal = await self._refusal_for(method, params)
            if refusal is not None:
                return refusal
        if self.reply_delay and method != "getUpdates":
            await asyncio.sleep(self.reply_delay)
        handler = getattr(self, f"_api_{method}", None)
        if handler is None:
            return 404, {"ok": False, "error_code": 404, "description": "Not Found: method not found"}
        try:
            # Read by _bot_message, which the handler calls at once (no await in between).
            self._arrived_at = arrived_at
            return 200, {"ok": True, "result": handler(params)}
        except ApiError as error:
            return error.status, {"ok": False, "error_code": error.status, "description": error.description}

    def _note_attempt(self, moment: float) -> None:
        if not self.attempts:
            self.first_attempt_at = moment
        self.attempts += 1
        self.last_attempt_at = max(self.last_attempt_at, moment)
        window = self._attempt_window
        window.append(moment)
        while moment - window[0] >= 1.0:
            window.popleft()
        self.busiest_attempt_second = max(self.busiest_attempt_second, len(window))

    async def _refusal_for(self, method: str, params: dict[str, Any]) -> Answer | None:
        chat_id = params.get("chat_id")
        # The limits first: a send to a chat that blocked the bot or no longer exists takes its
        # slot of the limit like any other (Telegram counts attempts), and over it is refused 429.
        if self._flood is not None and method in SEND_METHODS and isinstance(chat_id, int):
            refusal = self._flood.refusal(chat_id, paid=bool(params.get("allow_paid_broadcast")), now=time.monotonic())
            if refusal is not None:
                self.answered_429 += 1
                return refusal
        fault = self.faults.get(chat_id) if isinstance(chat_id, int) else None
        if fault is not None:
            if fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    del self.faults[chat_id]
            answer = fault_answer(fault)
            if fault.kind == "delay":
                await asyncio.sleep(fault.delay)
            elif answer is not None:
                if answer[0] == 429:
                    self.answered_429 += 1
                return answer
        return None

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # ------------------------------------------------------------------ faults

    def set_fault(self, chat_id: int, fault: ChatFault) -> None:
        self.faults[chat_id] = fault

    def clear_fault(self, chat_id: int) -> None:
        self.faults.pop(chat_id, None)

    # ------------------------------------------------------------------ reading out

    def sent_to(self, chat_id: int) -> list[dict[str, Any]]:
        """What the bot has sent to a chat, oldest first (edits are applied in place)."""
        chat = self.chats.get(chat_id)
        if chat is None:
            return []
        return [m for m in chat.history if m.get("from", {}).get("id") == BOT_USER_ID]

    def calls(self, method: str) -> list[ApiRequest]:
        return [r for r in self.requests if r.method == method]

    async def wait_until(self, condition: Callable[[], bool], timeout: float = 5.0) -> None:
        """Wait until `condition()` holds after some request; TimeoutError if it never does."""
        async with asyncio.timeout(timeout):
            async with self._changed:
                while not condition():
                    await self._changed.wait()

    def stats(self) -> dict[str, Any]:
        return {
            "busiest_second": self.busiest_second,
            "sent_total": self.sent_total,
            "attempts": self.attempts,
            "first_attempt_at": self.first_attempt_at,
            "last_attempt_at": self.last_attempt_at,
            "busiest_attempt_second": self.busiest_attempt_second,
            "distinct_chats": len(self.delivered),
            "duplicates": self.duplicates,
            "answered_429": self.answered_429,
            "pending_updates": len(self._updates),
        }

    # ------------------------------------------------------------------ control routes (other processes)

    async def _control_push(self, request: web.Request) -> web.Response:
        body = await request.json()
        kind = body.pop("kind")
        if kind == "text":
            update = self.user_message(int(body["user_id"]), chat_id=body.get("chat_id"), text=body["text"])
        else:
            update = self.push_update(body["update"])
        return web.json_response(update)

    async def _control_fault(self, request: web.Request) -> web.Response:
        body = await request.json()
        chat_id = int(body.pop("chat_id"))
        if body.get("kind") == "clear":
            self.clear_fault(chat_id)
        else:
            self.set_fault(chat_id, ChatFault(**body))
        return web.json_response({"ok": True})

    async def _control_stats(self, request: web.Request) -> web.Response:
        stats = self.stats()
        if request.query.get("chat_id"):
            chat_id = int(request.query["chat_id"])
            # Counted even with keep_history=False, when `messages` stays empty.
            stats["delivered_to_chat"] = self.delivered.get(chat_id, 0)
            stats["messages"] = [
                {k: v for k, v in m.items() if not k.startswith("_")} for m in self.sent_to(chat_id)
            ]
        if request.query.get("counts") == "1":
            stats["delivered"] = {str(chat): count for chat, count in self.delivered.items()}
        if request.query.get("arrivals"):
            stats["arrivals"] = list(self.arrivals)
        return web.json_response(stats)

    async def _control_reset(self, request: web.Request) -> web.Response:
        self.requests.clear()
        self.chats.clear()
        self.command_menus.clear()
        self.delivered.clear()
        self.faults.clear()
        self.answered_429 = 0
        self.sent_total = 0
        self.duplicates = 0
        self.busiest_second = 0
        self._last_second.clear()
        self.attempts = 0
        self.first_attempt_at = self.last_attempt_at = 0.0
        self.busiest_attempt_second = 0
        self._attempt_window.clear()
        self.arrivals.clear()
        if self._flood is not None:
            self._flood.clear()
        return web.json_response({"ok": True})


async def serve_forever(*, host: str, port: int, token: str | None, reply_delay: float, limits: Limits | None,
                        keep_history: bool) -> None:
    server = LocalBotApi(token=token, reply_delay=reply_delay, limits=limits, keep_history=keep_history)
    url = await server.start(host, port)
    print(f"local Bot API server listening on {url}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()
