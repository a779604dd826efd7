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
"""

from __future__ import annotations

import asyncio
import bisect
import collections
import dataclasses
import itertools
import json
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from bot.local_api.rules import refusal_of

BOT_USER_ID = 7000000001
SEND_METHODS = frozenset(
    {"sendMessage", "sendPhoto", "sendDocument", "sendVenue", "sendLocation", "copyMessage", "forwardMessage"}
)
# Parameters that python-telegram-bot sends as JSON strings inside the form.
JSON_PARAMETERS = frozenset(
    {"reply_markup", "entities", "caption_entities", "allowed_updates", "commands", "results", "link_preview_options",
     "reply_parameters", "scope", "media"}
)


@dataclasses.dataclass
class ChatFault:
    """How the server answers sends to one chat: `times=None` means until cleared."""

    kind: str  # "blocked", "not_found", "deactivated", "retry_after", "server_error", "migrated", "delay",
    # or "bad_request": 400 with `description` (e.g. "Bad Request: can't parse entities: ...")
    times: int | None = None
    retry_after: int = 1
    new_chat_id: int | None = None
    delay: float = 0.0
    description: str = ""


@dataclasses.dataclass
class Limits:
    """Telegram's flood limits as the server enforces them (answers 429 beyond)."""

    per_second: int = 30
    paid_per_second: int = 1000
    per_chat_per_second: int = 1
    per_group_per_minute: int = 20


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


@dataclasses.dataclass
class ChatState:
    id: int
    type: str
    title: str | None = None
    admins: set[int] = dataclasses.field(default_factory=set)
    history: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    message_ids: itertools.count = dataclasses.field(default_factory=lambda: itertools.count(1))

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "type": self.type}
        if self.type == "private":
            data["first_name"] = f"User {self.id}"
        else:
            data["title"] = self.title or f"Group {self.id}"
        return data


def _user_json(user_id: int) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": f"User {user_id}", "language_code": "en"}


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


class LocalBotApi:
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
        self.faults: dict[int, ChatFault] = {}
        self.delivered: collections.Counter[int] = collections.Counter()
        self.answered_429 = 0
        self.sent_total = 0
        # Kept as sends happen, so that reading them stays cheap however often a benchmark asks.
        self.duplicates = 0
        self.busiest_second = 0
        self._last_second: list[float] = []
        self._arrived_at = 0.0
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._callback_ids = itertools.count(1)
        self._message_ids_without_history = itertools.count(1)
        self._changed = asyncio.Condition()
        self._global_window: collections.deque[float] = collections.deque()
        # Per chat, its sends still inside its window; chats fall out once their window is empty,
        # so that a million-recipient run does not leave a million deques for the GC to walk.
        self._chat_sends: dict[int, collections.deque[float]] = {}
        self._chat_expiry: collections.deque[tuple[float, int]] = collections.deque()
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

    async def _answer(self, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        arrived_at = time.monotonic()
        if method == "getUpdates":
            return 200, {"ok": True, "result": await self._get_updates(params)}
        # Telegram refuses a malformed request whatever the chat, so this comes before faults.
        broken_rule = refusal_of(method, params)
        if broken_rule is not None:
            return 400, {"ok": False, "error_code": 400, "description": broken_rule}
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
        except _ApiError as error:
            return error.status, {"ok": False, "error_code": error.status, "description": error.description}

    async def _refusal_for(self, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
        chat_id = params.get("chat_id")
        fault = self.faults.get(chat_id) if isinstance(chat_id, int) else None
        if fault is not None:
            if fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    del self.faults[chat_id]
            answer = self._fault_answer(fault) or _bad_request_answer(fault)
            if fault.kind == "delay":
                await asyncio.sleep(fault.delay)
            elif answer is not None:
                if answer[0] == 429:
                    self.answered_429 += 1
                return answer
        if self.limits is not None and method in SEND_METHODS and isinstance(chat_id, int):
            return self._enforce_limits(chat_id, bool(params.get("allow_paid_broadcast")))
        return None

    @staticmethod
    def _fault_answer(fault: ChatFault) -> tuple[int, dict[str, Any]] | None:
        if fault.kind == "blocked":
            return 403, {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}
        if fault.kind == "deactivated":
            return 403, {"ok": False, "error_code": 403, "description": "Forbidden: user is deactivated"}
        if fault.kind == "not_found":
            return 400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}
        if fault.kind == "retry_after":
            return 429, {
                "ok": False,
                "error_code": 429,
                "description": f"Too Many Requests: retry after {fault.retry_after}",
                "parameters": {"retry_after": fault.retry_after},
            }
        if fault.kind == "server_error":
            return 500, {"ok": False, "error_code": 500, "description": "Internal Server Error"}
        if fault.kind == "migrated":
            return 400, {
                "ok": False,
                "error_code": 400,
                "description": "Bad Request: group chat was upgraded to a supergroup chat",
                "parameters": {"migrate_to_chat_id": fault.new_chat_id},
            }
        return None

    def _enforce_limits(self, chat_id: int, paid: bool) -> tuple[int, dict[str, Any]] | None:
        assert self.limits is not None
        now = time.monotonic()
        window = self._global_window
        while window and now - window[0] >= 1.0:
            window.popleft()
        self._forget_quiet_chats(now)
        per_second = self.limits.paid_per_second if paid else self.limits.per_second
        chat_window = self._chat_sends.get(chat_id, ())
        last_second = sum(1 for sent_at in chat_window if now - sent_at < 1.0)
        # Groups (negative ids) also have a per-minute budget; every chat has a per-second one.
        over_group_budget = chat_id < 0 and len(chat_window) >= self.limits.per_group_per_minute
        if len(window) >= per_second or last_second >= self.limits.per_chat_per_second or over_group_budget:
            self.answered_429 += 1
            return 429, {
                "ok": False,
                "error_code": 429,
                "description": "Too Many Requests: retry after 1",
                "parameters": {"retry_after": 1},
            }
        window.append(now)
        self._chat_sends.setdefault(chat_id, collections.deque()).append(now)
        self._chat_expiry.append((now + self._chat_span(chat_id), chat_id))
        return None

    @staticmethod
    def _chat_span(chat_id: int) -> float:
        return 60.0 if chat_id < 0 else 1.0

    def _forget_quiet_chats(self, now: float) -> None:
        expiry = self._chat_expiry
        while expiry and expiry[0][0] <= now:
            _, chat_id = expiry.popleft()
            sends = self._chat_sends.get(chat_id)
            if sends is None:
                continue
            span = self._chat_span(chat_id)
            while sends and now - sends[0] >= span:
                sends.popleft()
            if not sends:
                del self._chat_sends[chat_id]

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # ------------------------------------------------------------------ the API methods

    def _api_getMe(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": BOT_USER_ID,
            "is_bot": True,
            "first_name": "Campaign Bot",
            "username": self.bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": True,
        }

    def _api_deleteWebhook(self, params: dict[str, Any]) -> bool:
        return True

    _api_setWebhook = _api_deleteWebhook
    _api_setMyCommands = _api_deleteWebhook
    _api_deleteMyCommands = _api_deleteWebhook
    _api_answerCallbackQuery = _api_deleteWebhook
    _api_answerInlineQuery = _api_deleteWebhook
    _api_sendChatAction = _api_deleteWebhook
    _api_close = _api_deleteWebhook
    _api_logOut = _api_deleteWebhook

    def _api_getWebhookInfo(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"url": "", "has_custom_certificate": False, "pending_update_count": len(self._updates)}

    def _api_getChatMember(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(params["chat_id"])
        user_id = int(params["user_id"])
        if user_id in chat.admins:
            return {
                "status": "administrator",
                "user": _user_json(user_id),
                "can_be_edited": False,
                "is_anonymous": False,
                "can_manage_chat": True,
                "can_delete_messages": True,
                "can_manage_video_chats": True,
                "can_restrict_members": True,
                "can_promote_members": False,
                "can_change_info": True,
                "can_invite_users": True,
                "can_post_stories": False,
                "can_edit_stories": False,
                "can_delete_stories": False,
            }
        return {"status": "member", "user": _user_json(user_id)}

    def _api_sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._bot_message(params, {"text": params.get("text", "")})

    def _api_sendPhoto(self, params: dict[str, Any]) -> dict[str, Any]:
        photo = params.get("photo")
        size = len(photo["content"]) if isinstance(photo, dict) else 0
        file = {"file_id": f"photo-{self.sent_total}", "file_unique_id": f"p{self.sent_total}", "width": 800,
                "height": 600, "file_size": size}
        return self._bot_message(params, {"photo": [file], "caption": params.get("caption", "")}, upload=photo)

    def _api_sendDocument(self, params: dict[str, Any]) -> dict[str, Any]:
        document = params.get("document")
        name = document["filename"] if isinstance(document, dict) else str(document)
        file = {"file_id": f"doc-{self.sent_total}", "file_unique_id": f"d{self.sent_total}", "file_name": name}
        return self._bot_message(params, {"document": file, "caption": params.get("caption", "")}, upload=document)

    def _api_sendVenue(self, params: dict[str, Any]) -> dict[str, Any]:
        location = {"latitude": params["latitude"], "longitude": params["longitude"]}
        venue = {"location": location, "title": params.get("title", ""), "address": params.get("address", "")}
        return self._bot_message(params, {"venue": venue, "location": location})

    def _api_sendLocation(self, params: dict[str, Any]) -> dict[str, Any]:
        location = {"latitude": params["latitude"], "longitude": params["longitude"]}
        return self._bot_message(params, {"location": location})

    def _api_editMessageText(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(params["chat_id"])
        for message in chat.history:
            if message["message_id"] == params["message_id"] and message["from"]["id"] == BOT_USER_ID:
                message["text"] = params.get("text", "")
                if "reply_markup" in params:
                    message["reply_markup"] = params["reply_markup"]
                else:
                    message.pop("reply_markup", None)
                message["edit_date"] = int(time.time())
                return message
        raise _ApiError(400, "Bad Request: message to edit not found")

    _api_editMessageReplyMarkup = _api_editMessageText

    def _bot_message(self, params: dict[str, Any], content: dict[str, Any], upload: Any = None) -> dict[str, Any]:
        chat_id = params.get("chat_id")
        if not isinstance(chat_id, int):
            raise _ApiError(400, "Bad Request: chat_id is empty")
        chat = self.chats.get(chat_id)
        if chat is None and not self.keep_history:
            # With no history kept, a chat needs no state of its own: a million recipients stay
            # out of memory and out of the garbage collector's walks (whose pauses bunch requests).
            chat = ChatState(id=chat_id, type="private" if chat_id > 0 else "group")
            message_id = next(self._message_ids_without_history)
        else:
            chat = self._chat(chat_id)
            message_id = next(chat.message_ids)
        message: dict[str, Any] = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": chat.as_json(),
            "from": self._api_getMe({}),
            **content,
        }
        if "reply_markup" in params:
            message["reply_markup"] = params["reply_markup"]
        self.sent_total += 1
        self.delivered[chat_id] += 1
        if self.delivered[chat_id] > 1:
            self.duplicates += 1
        # Telegram counts a message when it arrives, not when it is answered after the delay.
        self._note_send_time(self._arrived_at)
        if self.keep_history:
            # The wire format is kept beside the message so tests can read what was asked for.
            message["_parse_mode"] = params.get("parse_mode")
            if isinstance(upload, dict):
                message["_upload"] = upload
            chat.history.append(message)
            return {k: v for k, v in message.items() if not k.startswith("_")}
        return message

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        if offset:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        timeout = float(params.get("timeout") or 0)
        limit = int(params.get("limit") or 100)
        deadline = time.monotonic() + timeout
        async with self._changed:
            while not self._updates and not self._closing:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    await asyncio.wait_for(self._changed.wait(), remaining)
                except TimeoutError:
                    break
        return self._updates[:limit]

    # ------------------------------------------------------------------ pushing updates in

    def _chat(self, chat_id: int, *, chat_type: str | None = None, title: str | None = None) -> ChatState:
        chat = self.chats.get(chat_id)
        if chat is None:
            kind = chat_type or ("private" if chat_id > 0 else "group")
            chat = ChatState(id=chat_id, type=kind, title=title)
            self.chats[chat_id] = chat
        return chat

    def add_group(self, chat_id: int, *, title: str = "Local branch", admins: set[int] = frozenset(),
                  supergroup: bool = False) -> ChatState:
        chat = self._chat(chat_id, chat_type="supergroup" if supergroup else "group", title=title)
        chat.admins.update(admins)
        return chat

    def push_update(self, payload: dict[str, Any]) -> dict[str, Any]:
        update = {"update_id": next(self._update_ids), **payload}
        self._updates.append(update)
        asyncio.get_running_loop().create_task(self._notify())
        return update

    def user_message(self, user_id: int, *, chat_id: int | None = None, text: str | None = None,
                     edited: bool = False, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """A message from `user_id` (in their private chat unless `chat_id` names a group)."""
        chat = self._chat(chat_id if chat_id is not None else user_id)
        message: dict[str, Any] = {
            "message_id": next(chat.message_ids),
            "date": int(time.time()),
            "chat": chat.as_json(),
            "from": _user_json(user_id),
        }
        if text is not None:
            message["text"] = text
            if text.startswith("/"):
                command_length = len(text.split()[0]) if text.split() else len(text)
                message["entities"] = [{"type": "bot_command", "offset": 0, "length": command_length}]
        message.update(extra or {})
        if edited:
            message["edit_date"] = int(time.time())
        if self.keep_history:
            chat.history.append(message)
        return self.push_update({"edited_message" if edited else "message": message})

    def press_button(self, user_id: int, message: dict[str, Any], callback_data: str) -> dict[str, Any]:
        query = {
            "id": str(next(self._callback_ids)),
            "from": _user_json(user_id),
            "message": {k: v for k, v in message.items() if not k.startswith("_")},
            "chat_instance": str(message["chat"]["id"]),
            "data": callback_data,
        }
        return self.push_update({"callback_query": query})

    def channel_post(self, chat_id: int, text: str) -> dict[str, Any]:
        chat = self._chat(chat_id, chat_type="channel", title="A channel")
        post = {"message_id": next(chat.message_ids), "date": int(time.time()), "chat": chat.as_json(), "text": text}
        return self.push_update({"channel_post": post})

    def inline_query(self, user_id: int, query: str) -> dict[str, Any]:
        inline = {"id": str(next(self._callback_ids)), "from": _user_json(user_id), "query": query, "offset": ""}
        return self.push_update({"inline_query": inline})

    def member_status_change(self, user_id: int, *, chat_id: int | None = None, new_status: str) -> dict[str, Any]:
        """The bot's own membership changed: "kicked" when a user blocks it, "member" when unblocked."""
        chat = self._chat(chat_id if chat_id is not None else user_id)
        bot_user = self._api_getMe({})
        old_status = "member" if new_status == "kicked" else "kicked"
        change: dict[str, Any] = {
            "chat": chat.as_json(),
            "from": _user_json(user_id),
            "date": int(time.time()),
            "old_chat_member": {"status": old_status, "user": bot_user},
            "new_chat_member": {"status": new_status, "user": bot_user},
        }
        for member in (change["old_chat_member"], change["new_chat_member"]):
            if member["status"] == "kicked":
                member["until_date"] = 0
        return self.push_update({"my_chat_member": change})

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

    def _note_send_time(self, moment: float) -> None:
        """Tracks the most messages accepted within any one-second window so far (by arrival;
        answers may come back in another order than their requests came in)."""
        window = self._last_second
        bisect.insort(window, moment)
        while window[-1] - window[0] >= 1.0:
            window.pop(0)
        self.busiest_second = max(self.busiest_second, len(window))

    def stats(self) -> dict[str, Any]:
        return {
            "busiest_second": self.busiest_second,
            "sent_total": self.sent_total,
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
        return web.json_response(stats)

    async def _control_reset(self, request: web.Request) -> web.Response:
        self.requests.clear()
        self.chats.clear()
        self.delivered.clear()
        self.faults.clear()
        self.answered_429 = 0
        self.sent_total = 0
        self.duplicates = 0
        self.busiest_second = 0
        self._last_second.clear()
        self._global_window.clear()
        self._chat_sends.clear()
        self._chat_expiry.clear()
        return web.json_response({"ok": True})


def _bad_request_answer(fault: ChatFault) -> tuple[int, dict[str, Any]] | None:
    """A 400 worded as the test chooses, such as Telegram's refusals of a message itself."""
    if fault.kind != "bad_request":
        return None
    return 400, {"ok": False, "error_code": 400, "description": fault.description or "Bad Request"}


class _ApiError(Exception):
    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


async def serve_forever(*, host: str, port: int, token: str | None, reply_delay: float, limits: Limits | None,
                        keep_history: bool) -> None:
    server = LocalBotApi(token=token, reply_delay=reply_delay, limits=limits, keep_history=keep_history)
    url = await server.start(host, port)
    print(f"local Bot API server listening on {url}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()
