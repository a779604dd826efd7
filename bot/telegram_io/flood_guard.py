"""How many updates one chat may send in a short window before the bot stops listening for a while.

A person (or a script) firing commands and button presses as fast as a client allows would
otherwise keep the bot busy for everyone. The guard counts each chat's admitted updates over a
sliding window on the injected clock; beyond the limit, updates are dropped until the window has
room again. It remembers a chat only while the chat has been heard from within the last window,
so its memory is bounded by the chats active in one window, not by every chat ever seen.

It decides only; `bot.telegram_io.update_processor` does the talking to Telegram.
"""

from __future__ import annotations

import collections
import dataclasses
import logging

from storage.clock import Clock

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class FloodVerdict:
    admitted: bool
    # Dropped, and the first drop of this window: tell the chat to slow down (once a window).
    slow_down: bool = False
    # Dropped, and still within the window's quota of button presses answered (so clients stop spinning).
    answer_press: bool = False


ADMITTED = FloodVerdict(admitted=True)


@dataclasses.dataclass
class _ChatWindow:
    admitted_at: collections.deque[float]
    last_seen: float
    slowed_down_at: float | None = None
    dropped: int = 0
    presses_answered: int = 0


class FloodGuard:
    def __init__(self, *, limit: int, window_seconds: float, clock: Clock) -> None:
        if limit < 1 or window_seconds <= 0:
            raise ValueError("a flood limit needs at least one update in a positive window")
        self.limit = limit
        self.window_seconds = window_seconds
        self._clock = clock
        # Oldest-heard-from first, so that forgetting quiet chats looks only at the front.
        self._chats: collections.OrderedDict[int, _ChatWindow] = collections.OrderedDict()

    @property
    def chats_remembered(self) -> int:
        return len(self._chats)

    def check(self, chat_id: int, *, press: bool = False) -> FloodVerdict:
        """Counts one update from `chat_id` (a button press when `press`) and says whether to process it."""
        now = self._clock.now().timestamp()
        self._forget_quiet_chats(now)
        chat = self._chats.get(chat_id)
        if chat is None:
            chat = self._chats[chat_id] = _ChatWindow(admitted_at=collections.deque(maxlen=self.limit), last_seen=now)
        else:
            chat.last_seen = now
            self._chats.move_to_end(chat_id)
        while chat.admitted_at and chat.admitted_at[0] <= now - self.window_seconds:
            chat.admitted_at.popleft()
        if len(chat.admitted_at) < self.limit:
            chat.admitted_at.append(now)
            return ADMITTED
        slow_down = chat.slowed_down_at is None or now - chat.slowed_down_at >= self.window_seconds
        if slow_down:
            self._report_drops(chat)
            chat.slowed_down_at, chat.presses_answered = now, 0
        chat.dropped += 1
        # Answering a dropped press is a request too: at most `limit` of them a window, so that
        # a flood of presses cannot turn into a flood of requests to Telegram.
        answer_press = press and chat.presses_answered < self.limit
        if answer_press:
            chat.presses_answered += 1
        return FloodVerdict(admitted=False, slow_down=slow_down, answer_press=answer_press)

    def forget_all(self) -> None:
        for chat in self._chats.values():
            self._report_drops(chat)
        self._chats.clear()

    def _forget_quiet_chats(self, now: float) -> None:
        while self._chats:
            chat = next(iter(self._chats.values()))
            if chat.last_seen > now - self.window_seconds:
                return
            self._report_drops(chat)
            self._chats.popitem(last=False)

    def _report_drops(self, chat: _ChatWindow) -> None:
        # A count only: which chat flooded, and with what, is nobody's business but theirs.
        if chat.dropped:
            logger.info("dropped %d updates of one chat that sent more than %d in %g seconds",
                        chat.dropped, self.limit, self.window_seconds)
            chat.dropped = 0
