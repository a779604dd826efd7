"""Fewer young-generation garbage collections while a broadcast sends.

At 1000 messages a second every send leaves a few hundred short-lived objects (its coroutine,
its request and answer, its outcome), so CPython's default threshold (a collection every 700
allocations more than deallocations) collects many times a second, for little: nearly all of
them are freed by reference counting anyway. While any broadcast is being delivered, the first
threshold is raised; each collection then takes longer, but stays well under the sender's
`LATE_TURN` (a few milliseconds for ~10,000 objects on this machine), and the thresholds are put
back when the last broadcast stops.
"""

from __future__ import annotations

import gc

# Allocations (net) between young collections while sending; CPython's default is 700.
SENDING_GEN0_THRESHOLD = 10_000


class RelaxedCollections:
    """Counts the deliveries under way; the first raises gc's young threshold, the last restores it."""

    def __init__(self, gen0: int = SENDING_GEN0_THRESHOLD) -> None:
        self.gen0 = gen0
        self._holders = 0
        self._saved: tuple[int, int, int] | None = None

    def enter(self) -> None:
        self._holders += 1
        if self._holders == 1:
            self._saved = gc.get_threshold()
            first, *rest = self._saved
            gc.set_threshold(max(first, self.gen0), *rest)

    def leave(self) -> None:
        self._holders = max(0, self._holders - 1)
        if self._holders == 0 and self._saved is not None:
            gc.set_threshold(*self._saved)
            self._saved = None
