"""A per-person sliding-window limit, so one person's flood of questions cannot crowd out others.

Each key (a Telegram user id) may make `limit` requests in any `window` seconds. Only the
people who asked within the last window are remembered, and never more than `max_keys` of
them, so memory stays bounded however many people ever ask.
"""

from __future__ import annotations

import collections
import dataclasses
import math
import time
from collections.abc import Callable, Hashable


@dataclasses.dataclass(frozen=True)
class Decision:
    allowed: bool
    # Whole seconds until the next request would be allowed; 0 when allowed.
    retry_after: int = 0
    # The first refusal since the key's last allowed request. Later refusals in the same
    # stretch can be dropped quietly: answering every message of a flood is itself a flood.
    first_refusal: bool = False


@dataclasses.dataclass
class _Window:
    stamps: collections.deque[float]
    refused: bool = False


class SlidingWindowLimiter:
    def __init__(self, limit: int, window: float = 60.0, *, max_keys: int = 50_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._clock = clock
        # Least recently seen first, so idle keys are found and dropped at the front.
        self._windows: collections.OrderedDict[Hashable, _Window] = collections.OrderedDict()

    def __len__(self) -> int:
        return len(self._windows)

    def check(self, key: Hashable) -> Decision:
        """Count a request by `key` if it is within the limit; say when to come back if not."""
        now = self._clock()
        self._forget_idle(now)
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = _Window(collections.deque(maxlen=self.limit))
        else:
            self._windows.move_to_end(key)
        stamps = window.stamps
        while stamps and now - stamps[0] >= self.window:
            stamps.popleft()
        if len(stamps) < self.limit:
            stamps.append(now)
            window.refused = False
            return Decision(True)
        first = not window.refused
        window.refused = True
        return Decision(False, max(1, math.ceil(stamps[0] + self.window - now)), first)

    def _forget_idle(self, now: float) -> None:
        windows = self._windows
        while windows:
            key, window = next(iter(windows.items()))
            idle = not window.stamps or now - window.stamps[-1] >= self.window
            if not idle and len(windows) < self.max_keys:
                return
            del windows[key]
