"""The rule the broadcast engine's crash safety rests on, and how the engine's parts wait for one
another.

A send may start only while fewer than `size` deliveries are claimed (marked SENDING in the
database) and not yet recorded. Whatever the moment of a kill, at most that many deliveries are
left SENDING; at start-up they are put back in the queue, sent again and counted in
`possible_duplicates`. Everything else is either recorded or still pending, so nobody is skipped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from storage.broadcasts.deliveries import DeliveryOutcome


class ClaimWindow:
    def __init__(self, size: int) -> None:
        self.size = size
        self._free = asyncio.Semaphore(size)
        self._unrecorded: dict[int, int] = {}  # per broadcast id

    async def reserve(self, count: int) -> None:
        """Waits until `count` more sends may start (before claiming them)."""
        for _ in range(count):
            await self._free.acquire()

    def give_back(self, count: int) -> None:
        """Reserved but not claimed after all (already taken, or the broadcast stopped)."""
        for _ in range(count):
            self._free.release()

    def claimed(self, broadcast_id: int, count: int) -> None:
        self._unrecorded[broadcast_id] = self._unrecorded.get(broadcast_id, 0) + count

    def recorded(self, outcomes: Iterable[DeliveryOutcome]) -> None:
        for outcome in outcomes:
            self._unrecorded[outcome.broadcast_id] -= 1
            self._free.release()

    def unrecorded(self, broadcast_id: int) -> int:
        return self._unrecorded.get(broadcast_id, 0)


class Progress:
    """Something was recorded or finished: whoever waits for it looks again."""

    def __init__(self) -> None:
        self._changed = asyncio.Condition()

    async def wait(self, at_most: float) -> None:
        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait(), at_most)
            except TimeoutError:
                pass

    async def tell(self) -> None:
        async with self._changed:
            self._changed.notify_all()
