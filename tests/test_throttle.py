"""The sender's limits on virtual time: the pace, the one-second cap, per-chat spacing, sharing
the rate between processes, and 429 pauses, with timers that fire late as a busy loop's do."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import random

import pytest

from bot.telegram_io.throttle import ARRIVAL_GUARD, LATE_TURN, WIDEST_ARRIVAL_GUARD, WINDOW_SPAN, Throttle


class VirtualTime:
    """A monotonic clock and a sleep on it. `run` lets every task go as far as it can, then wakes
    the earliest sleeper, `late()` seconds after it asked to be woken."""

    def __init__(self, *, late=lambda: 0.0) -> None:
        self.now = 1000.0
        self.late = late
        self._sleepers: list[tuple[float, int, asyncio.Future]] = []
        self._order = itertools.count()

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        woken = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + max(0.0, seconds), next(self._order), woken))
        await woken

    async def _settle(self) -> None:
        for _ in range(20):
            await asyncio.sleep(0)

    async def run(self, tasks: list[asyncio.Task]) -> None:
        await self._settle()
        while not all(task.done() for task in tasks):
            assert self._sleepers, "every task is blocked on something other than time"
            wake_at, _, woken = heapq.heappop(self._sleepers)
            self.now = max(self.now, wake_at + self.late())
            woken.set_result(None)
            await self._settle()


def busiest_second(times: list[float], span: float = 1.0) -> int:
    times = sorted(times)
    busiest, start = 0, 0
    for end, moment in enumerate(times):
        while times[start] <= moment - span:
            start += 1
        busiest = max(busiest, end - start + 1)
    return busiest


async def send_all(time: VirtualTime, throttle: Throttle, chats: list[int]) -> list[float]:
    sent_at: list[float] = []

    async def send(chat_id: int) -> None:
        await throttle.wait_turn(chat_id)
        sent_at.append(time.now)

    tasks = [asyncio.ensure_future(send(chat_id)) for chat_id in chats]
    await time.run(tasks)
    return sent_at


async def test_the_pace_leaves_only_the_arrival_guard_and_no_second_holds_more_than_the_rate():
    time = VirtualTime()
    throttle = Throttle(rate=25, hard_cap=30, clock=time.clock, sleep=time.sleep)
    sent_at = await send_all(time, throttle, list(range(1, 1001)))
    achieved = (len(sent_at) - 1) / (max(sent_at) - min(sent_at))
    assert abs(achieved - 25 / WINDOW_SPAN) < 0.01
    assert busiest_second(sent_at) == 25
    # A second and the guard (less a microsecond of rounding) hold no more than the rate:
    # sends up to the guard late still fit any second.
    assert busiest_second(sent_at, WINDOW_SPAN - 1e-6) == 25


async def test_the_whole_cap_is_the_rate_with_no_other_margin():
    time = VirtualTime()
    throttle = Throttle(rate=30, hard_cap=30, clock=time.clock, sleep=time.sleep)
    sent_at = await send_all(time, throttle, list(range(1, 601)))
    achieved = (len(sent_at) - 1) / (max(sent_at) - min(sent_at))
    assert achieved > 0.98 * 30
    assert busiest_second(sent_at, WINDOW_SPAN - 1e-6) == 30


async def test_sends_late_by_less_than_the_guard_fit_any_second_at_arrival():
    jitter = random.Random(5)
    time = VirtualTime(late=lambda: jitter.uniform(0, LATE_TURN))
    throttle = Throttle(rate=1000, hard_cap=1000, clock=time.clock, sleep=time.sleep)
    sent_at = await send_all(time, throttle, list(range(1, 6001)))
    # On the way each send is delayed by a different amount, less than what the guard leaves.
    way = random.Random(6)
    arrived_at = [moment + way.uniform(0, ARRIVAL_GUARD - LATE_TURN) for moment in sent_at]
    assert busiest_second(arrived_at) <= 1000


async def test_timers_firing_a_little_late_cost_no_pace():
    jitter = random.Random(7)
    time = VirtualTime(late=lambda: jitter.uniform(0, 0.004))
    throttle = Throttle(rate=200, hard_cap=1000, clock=time.clock, sleep=time.sleep)
    sent_at = await send_all(time, throttle, list(range(1, 4001)))
    assert busiest_second(sent_at) <= 200
    achieved = (len(sent_at) - 1) / (max(sent_at) - min(sent_at))
    assert achieved > 0.995 * 200 / WINDOW_SPAN


async def test_after_a_stall_the_sends_due_meanwhile_do_not_overfill_a_second():
    jitter = random.Random(11)
    stalls: list[float] = []

    def late() -> float:
        # Now and then the loop is busy for a tenth of a second (a GC pause, a slow commit).
        if jitter.random() < 0.002:
            stalls.append(0.1)
            return 0.1
        return jitter.uniform(0, 0.004)

    time = VirtualTime(late=late)
    throttle = Throttle(rate=200, hard_cap=1000, clock=time.clock, sleep=time.sleep)
    sent_at = await send_all(time, throttle, list(range(1, 4001)))
    assert stalls and busiest_second(sent_at) <= 200
    # Each stall costs at most its own length; the pace does not drift further after it.
    steady = (len(sent_at) - 1) / (200 / WINDOW_SPAN)
    assert max(sent_at) - min(sent_at) <= steady + sum(stalls) + 0.05
    # The sends due during a stall do not all go when it ends: no burst beyond the pace's own.
    assert busiest_second(sent_at, 0.05) <= 0.05 * 200 + 4


async def test_processes_sharing_the_rate_each_keep_to_their_part():
    time = VirtualTime()
    throttles = [Throttle(rate=200, hard_cap=1000, clock=time.clock, sleep=time.sleep) for _ in range(2)]
    for throttle in throttles:
        throttle.share_with(2)
    sent_at: list[float] = []

    async def send(throttle: Throttle, chat_id: int) -> None:
        await throttle.wait_turn(chat_id)
        sent_at.append(time.now)

    tasks = [asyncio.ensure_future(send(throttles[chat_id % 2], chat_id)) for chat_id in range(1, 2001)]
    await time.run(tasks)
    assert busiest_second(sent_at) <= 200
    assert (len(sent_at) - 1) / (max(sent_at) - min(sent_at)) > 0.97 * 200


async def test_one_chat_gets_a_message_a_second_and_a_group_twenty_a_minute():
    time = VirtualTime()
    throttle = Throttle(rate=1000, hard_cap=1000, clock=time.clock, sleep=time.sleep)
    to_person = await send_all(time, throttle, [42] * 5)
    gaps = [later - earlier for earlier, later in itertools.pairwise(sorted(to_person))]
    assert all(gap >= 1.0 for gap in gaps)
    to_group = sorted(await send_all(time, throttle, [-100] * 25))
    assert busiest_second(to_group) == 1
    assert to_group[20] - to_group[0] >= 60.0  # the 21st waits for the first to leave the minute


async def test_a_429_pauses_every_send_for_retry_after():
    time = VirtualTime()
    throttle = Throttle(rate=25, hard_cap=30, clock=time.clock, sleep=time.sleep)
    await send_all(time, throttle, [1])
    paused_at = time.now
    throttle.pause_all(5.0)
    sent_at = await send_all(time, throttle, [2, 3, 4])
    assert min(sent_at) >= paused_at + 5.0


async def test_each_pause_for_a_429_doubles_the_arrival_guard_up_to_its_widest():
    time = VirtualTime()
    throttle = Throttle(rate=1000, hard_cap=1000, clock=time.clock, sleep=time.sleep)
    assert throttle.rate == pytest.approx(1000 / (1 + ARRIVAL_GUARD))
    throttle.pause_all(1.0)
    throttle.pause_all(1.0)  # more sends met the same 429: one widening
    assert throttle.rate == pytest.approx(1000 / (1 + 2 * ARRIVAL_GUARD))
    time.now += 2.0
    for _ in range(5):
        throttle.pause_all(1.0)
        time.now += 2.0
    assert throttle.rate == pytest.approx(1000 / (1 + WIDEST_ARRIVAL_GUARD))
    # The wider window is kept as well as the slower pace: no second of arrivals overfills.
    sent_at = await send_all(time, throttle, list(range(1, 2001)))
    assert busiest_second(sent_at) <= 1000
