"""Telegram's flood limits, as the server enforces them: sliding one-second windows overall and
per chat, and a one-minute window per group; a send beyond them is answered 429."""

from __future__ import annotations

import collections
import dataclasses

from bot.local_api.faults import Answer, refusal


@dataclasses.dataclass
class Limits:
    """Telegram's flood limits as the server enforces them (answers 429 beyond)."""

    per_second: int = 30
    paid_per_second: int = 1000
    per_chat_per_second: int = 1
    per_group_per_minute: int = 20


def _chat_span(chat_id: int) -> float:
    """How long a chat's sends count against it: groups (negative ids) have a per-minute budget."""
    return 60.0 if chat_id < 0 else 1.0


class FloodGate:
    """The sends still inside their windows, and whether one more may go now."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._global_window: collections.deque[float] = collections.deque()
        # Per chat, its sends still inside its window; chats fall out once their window is empty,
        # so that a million-recipient run does not leave a million deques for the GC to walk.
        self._chat_sends: dict[int, collections.deque[float]] = {}
        self._chat_expiry: collections.deque[tuple[float, int]] = collections.deque()

    def refusal(self, chat_id: int, *, paid: bool, now: float) -> Answer | None:
        """The 429 for a send to `chat_id` at `now` beyond the limits; None (and the send counted) otherwise."""
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
            return refusal(429, "Too Many Requests: retry after 1", retry_after=1)
        window.append(now)
        self._chat_sends.setdefault(chat_id, collections.deque()).append(now)
        self._chat_expiry.append((now + _chat_span(chat_id), chat_id))
        return None

    def clear(self) -> None:
        self._global_window.clear()
        self._chat_sends.clear()
        self._chat_expiry.clear()

    def _forget_quiet_chats(self, now: float) -> None:
        expiry = self._chat_expiry
        while expiry and expiry[0][0] <= now:
            _, chat_id = expiry.popleft()
            sends = self._chat_sends.get(chat_id)
            if sends is None:
                continue
            span = _chat_span(chat_id)
            while sends and now - sends[0] >= span:
                sends.popleft()
            if not sends:
                del self._chat_sends[chat_id]
