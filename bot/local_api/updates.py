"""Pushing updates in: what a person would do (a message, a button press, an inline query,
blocking the bot), queued for the bot's getUpdates."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bot.local_api.chats import ChatState, bot_user_json, user_json


class PushedUpdates:
    """The update builders of `LocalBotApi` (which holds the chats and the queue of updates)."""

    bot_username: str
    keep_history: bool
    chats: dict[int, ChatState]
    _updates: list[dict[str, Any]]
    _update_ids: itertools.count
    _callback_ids: itertools.count
    _notify: Callable[[], Awaitable[None]]
    # The language of each person's Telegram app, by user id (absent: "en").
    user_languages: dict[int, str]

    def _user(self, user_id: int) -> dict[str, Any]:
        return user_json(user_id, self.user_languages.get(user_id, "en"))

    def set_user_language(self, user_id: int, language_code: str) -> None:
        """From now on `user_id`'s updates say their Telegram app is in `language_code` ("bn", "bn-BD")."""
        self.user_languages[user_id] = language_code

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
            "from": self._user(user_id),
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
            "from": self._user(user_id),
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
        inline = {"id": str(next(self._callback_ids)), "from": self._user(user_id), "query": query, "offset": ""}
        return self.push_update({"inline_query": inline})

    def member_status_change(self, user_id: int, *, chat_id: int | None = None, new_status: str) -> dict[str, Any]:
        """The bot's own membership changed: "kicked" when a user blocks it, "member" when unblocked."""
        chat = self._chat(chat_id if chat_id is not None else user_id)
        bot_user = bot_user_json(self.bot_username)
        old_status = "member" if new_status == "kicked" else "kicked"
        change: dict[str, Any] = {
            "chat": chat.as_json(),
            "from": self._user(user_id),
            "date": int(time.time()),
            "old_chat_member": {"status": old_status, "user": bot_user},
            "new_chat_member": {"status": new_status, "user": bot_user},
        }
        for member in (change["old_chat_member"], change["new_chat_member"]):
            if member["status"] == "kicked":
                member["until_date"] = 0
        return self.push_update({"my_chat_member": change})
