"""Faults: how the server answers sends to one chat when a test (or another process) tells it to,
worded as Telegram words the same errors."""

from __future__ import annotations

import dataclasses
from typing import Any

# An HTTP status and the JSON body the Bot API answers with.
Answer = tuple[int, dict[str, Any]]


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


def refusal(status: int, description: str, **parameters: Any) -> Answer:
    """An error answer as the Bot API words it, with `parameters` (retry_after, migrate_to_chat_id) if any."""
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return status, body


def fault_answer(fault: ChatFault) -> Answer | None:
    """What Telegram would answer for `fault`; None for a delay, which answers normally, only later."""
    if fault.kind == "blocked":
        return refusal(403, "Forbidden: bot was blocked by the user")
    if fault.kind == "deactivated":
        return refusal(403, "Forbidden: user is deactivated")
    if fault.kind == "not_found":
        return refusal(400, "Bad Request: chat not found")
    if fault.kind == "retry_after":
        return refusal(429, f"Too Many Requests: retry after {fault.retry_after}", retry_after=fault.retry_after)
    if fault.kind == "server_error":
        return refusal(500, "Internal Server Error")
    if fault.kind == "migrated":
        return refusal(400, "Bad Request: group chat was upgraded to a supergroup chat",
                       migrate_to_chat_id=fault.new_chat_id)
    if fault.kind == "bad_request":
        # Worded as the test chooses, such as Telegram's refusals of a message itself.
        return refusal(400, fault.description or "Bad Request")
    return None
