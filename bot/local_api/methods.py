"""The Bot API methods the server answers, one handler per method (`_api_<method>`), and the
messages the bot sends, kept in each chat's history."""

from __future__ import annotations

import asyncio
import bisect
import collections
import itertools
import time
from collections.abc import Callable
from typing import Any

from bot.local_api.chats import BOT_USER_ID, ChatState, bot_user_json


class ApiError(Exception):
    """A method's refusal, answered with `status` and Telegram's `description`."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


class ApiMethods:
    """The method handlers of `LocalBotApi` (which holds the state they read and change)."""

    bot_username: str
    keep_history: bool
    chats: dict[int, ChatState]
    delivered: collections.Counter[int]
    sent_total: int
    duplicates: int
    busiest_second: int
    _last_second: list[float]
    _arrived_at: float
    _updates: list[dict[str, Any]]
    _message_ids_without_history: itertools.count
    _changed: asyncio.Condition
    _closing: bool
    _chat: Callable[..., ChatState]
    _user: Callable[[int], dict[str, Any]]

    def _api_getMe(self, params: dict[str, Any]) -> dict[str, Any]:
        return bot_user_json(self.bot_username)

    def _api_deleteWebhook(self, params: dict[str, Any]) -> bool:
        return True

    _api_setWebhook = _api_deleteWebhook
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
                "user": self._user(user_id),
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
        return {"status": "member", "user": self._user(user_id)}

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
        raise ApiError(400, "Bad Request: message to edit not found")

    _api_editMessageReplyMarkup = _api_editMessageText

    def _bot_message(self, params: dict[str, Any], content: dict[str, Any], upload: Any = None) -> dict[str, Any]:
        chat_id = params.get("chat_id")
        if not isinstance(chat_id, int):
            raise ApiError(400, "Bad Request: chat_id is empty")
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
            # Whether it would ring: quiet hours send with the notification off.
            message["_disable_notification"] = bool(params.get("disable_notification", False))
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

    def _note_send_time(self, moment: float) -> None:
        """Tracks the most messages accepted within any one-second window so far (by arrival;
        answers may come back in another order than their requests came in)."""
        window = self._last_second
        bisect.insort(window, moment)
        while window[-1] - window[0] >= 1.0:
            window.pop(0)
        self.busiest_second = max(self.busiest_second, len(window))
