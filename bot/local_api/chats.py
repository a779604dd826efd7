"""The chats the server knows, as the Bot API shows them, and the users and the bot in them."""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

BOT_USER_ID = 7000000001


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


def user_json(user_id: int, language_code: str = "en") -> dict[str, Any]:
    """A person; their Telegram app is in English unless a test or the try-out says otherwise
    (`LocalBotApi.user_languages`)."""
    return {"id": user_id, "is_bot": False, "first_name": f"User {user_id}", "language_code": language_code}


def bot_user_json(username: str) -> dict[str, Any]:
    """The bot itself, as getMe and the messages it sends show it."""
    return {
        "id": BOT_USER_ID,
        "is_bot": True,
        "first_name": "Campaign Bot",
        "username": username,
        "can_join_groups": True,
        "can_read_all_group_messages": False,
        "supports_inline_queries": True,
    }
