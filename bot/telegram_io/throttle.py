"""The pace of the one sender (sending.py). `Throttle` keeps Telegram's limits: never more than
`rate` messages (at most the hard cap: 30, or 1000 with paid broadcasts) in any one second as
Telegram counts them, on arrival; at most one message a second to a private chat and 20 a minute
to a group. Sends are concurrent: each waits only for its own turn, so many are in flight at once.

The one margin is `ARRIVAL_GUARD`: Telegram's window is one second of arrival time, and a send
reaches it a little later or earlier than planned (timer lateness, a GC pause or a busy loop
between the turn and the write, the network's jitter). The throttle therefore keeps every window
of 1 s + ARRIVAL_GUARD of its own turns within the rate, so that any one second at arrival holds
at most the rate as long as the sends' lateness varies by less than the guard. The pace that
fills such windows exactly is rate / (1 + ARRIVAL_GUARD), 98.5% of the rate. A 429 says the
way to Telegram bunches sends more widely than that (a busy host, a slow network): the guard then
doubles for the rest of the process, up to WIDEST_ARRIVAL_GUARD (94% of the rate).
"""

from __future__ import annotations

import asyncio
import collections
import math
import time
from collections.abc import Awaitable, Callable

PER_CHAT_INTERVAL = 1.0
GROUP_MESSAGES_PER_MINUTE = 20
# Seconds of window time kept free for the spread of the sends' lateness on the way to Telegram
# (measured by benchmarks/pace_skew.py on the local Bot API server at 30/s and 1000/s: asyncio timers
# a fraction of a millisecond late, the write after the turn ~0.1-1 ms, gen-0 GC pauses under 1 ms,
# loopback jitter under 1 ms, a loaded 2-core machine's scheduling up to several ms; monotonic clock
# resolution 1 ns). A sender whose turn comes later than this after its time (the loop stalled) does
# not go at once with the others due meanwhile: that burst could arrive spread wider than the guard.
ARRIVAL_GUARD = 0.015
# Of the guard, the part a timer may fire late and its send still go at its turn; the rest is left
# for the way from the turn to Telegram's arrival stamp (the write, the network).
LATE_TURN = 0.010
# The event loop's timer resolution (uvloop's, libuv's: one millisecond). A send this close to its
# turn goes rather than sleep again, and is stamped when it goes.
TIMER_TICK = 0.001
# The window the throttle keeps to its rate: Telegram's one second plus the guard.
WINDOW_SPAN = 1.0 + ARRIVAL_GUARD
# A 429 says the way to Telegram bunches sends more than the guard covers (a busy host, a slow
# network): the guard doubles, up to this, for the rest of the process.
WIDEST_ARRIVAL_GUARD = 0.060
# Per-chat turns are kept this much more than the limit apart, for the same reason.
WINDOW_GUARD = 0.02
# After a 429 the pace drops by a tenth for this long (repeated 429s lengthen Telegram's ban).
SLOWDOWN_AFTER_429 = 0.9
SLOWDOWN_SECONDS = 10.0


def _wake(sleeper: asyncio.Future) -> None:
    if not sleeper.done():  # cancelled meanwhile
        sleeper.set_result(None)


def is_group_chat(chat_id: int) -> bool:
    """Groups, supergroups and channels have negative ids; people have positive ones."""
    return chat_id < 0


class Throttle:
    """Waits for each send's turn under the global pace, the hard cap, and the per-chat limits."""

    def __init__(self, *, rate: float, hard_cap: int, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] | None = None) -> None:
        # Injected so tests can run the limits on virtual time, timers firing late included.
        self._clock = clock
        self._sleep = sleep or self._sleep_on_loop
        self._loop: asyncio.AbstractEventLoop | None = None
        # The configured rate, never above Telegram's cap: the guard keeps it as counted on arrival.
        self.whole_rate = min(rate, hard_cap)
        self.hard_cap = hard_cap
        self._span = WINDOW_SPAN
        self.share_with(1)
        # Turns are planned on a timeline that slides by `_shift` whenever the loop stalls, so that
        # every turn planned before the stall moves by as much (see wait_turn).
        self._next_turn = 0.0
        self._shift = 0.0
        self._recent: collections.deque[float] = collections.deque()
        self._paused_until = 0.0
        self._slowed_until = 0.0
        # Per chat: its last turn (a person), or the turns of its last minute (a group, which may
        # have 20), forgotten once they no longer matter. A broadcast to thousands of people keeps
        # one float for each of the last second's, not a deque.
        self._person_turns: dict[int, float] = {}
        self._group_turns: dict[int, collections.deque[float]] = {}
        self._expiry: collections.deque[tuple[float, int]] = collections.deque()

    async def _sleep_on_loop(self, seconds: float) -> None:
        """asyncio.sleep on the loop found at the first sleep. asyncio.sleep asks for the running
        loop each time, and CPython's answer costs a getpid() system call (its check for a fork):
        a third of the throttle's CPU at a thousand sends a second."""
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        woken = loop.create_future()
        timer = loop.call_later(seconds, _wake, woken)
        try:
            await woken
        finally:
            timer.cancel()

    @property
    def current_rate(self) -> float:
        return self.rate * SLOWDOWN_AFTER_429 if self._clock() < self._slowed_until else self.rate

    def share_with(self, processes: int) -> None:
        """Several processes send for the same bot: each keeps to its part of the rate and the cap,
        so together they stay within Telegram's limit."""
        processes = self._processes = max(1, processes)
        # No window of _span of this process's turns holds more than its part of the rate,
        # however late the loop got round to its sends; the parts add up to at most the rate.
        self._window_allowance = max(1, math.floor(self.whole_rate / processes))
        # The steady pace that fills such a window exactly.
        self.rate = self._window_allowance / self._span

    def hold(self, seconds: float) -> None:
        """Send nothing for `seconds` (a newcomer waits until the others have made room for it)."""
        self._next_turn = max(self._next_turn, self._clock() + seconds - self._shift)

    async def admit_reply(self) -> None:
        """A reply to someone goes ahead of the broadcast's queue but counts in its window, so the
        broadcast makes room for it; during a 429 pause it waits like everything else."""
        now = self._clock()
        if now < self._paused_until:
            await self._sleep(self._paused_until - now)
        self._recent.append(self._clock())

    def pause_all(self, seconds: float) -> None:
        """Telegram said 429: nothing is sent for `seconds`, then the pace is lower for a while,
        and the arrival guard is wider from then on."""
        now = self._clock()
        if now >= self._paused_until:  # once for each pause, however many sends met the 429
            self._span = 1.0 + min(WIDEST_ARRIVAL_GUARD, 2 * (self._span - 1.0))
            self.share_with(self._processes)
        self._paused_until = max(self._paused_until, now + seconds)
        self._slowed_until = self._paused_until + SLOWDOWN_SECONDS
        # Turns reserved before the pause are void; everyone queues again after it.
        self._next_turn = max(self._next_turn, self._paused_until - self._shift)

    def _forget_old_chats(self, now: float) -> None:
        expiry = self._expiry
        while expiry and expiry[0][0] <= now:
            _, chat_id = expiry.popleft()
            if not is_group_chat(chat_id):
                last = self._person_turns.get(chat_id)
                if last is not None and last + PER_CHAT_INTERVAL <= now:
                    del self._person_turns[chat_id]
                continue
            turns = self._group_turns.get(chat_id)
            if turns is not None:
                while turns and turns[0] + 60.0 <= now:
                    turns.popleft()
                if not turns:
                    del self._group_turns[chat_id]

    def _reserve_chat_turn(self, chat_id: int, now: float) -> float:
        """The earliest moment this chat may get its next message, reserved for the caller."""
        # Every chat, a group too, gets at most one message a second; a group also 20 a minute.
        if not is_group_chat(chat_id):
            last = self._person_turns.get(chat_id)
            turn = now if last is None else max(now, last + PER_CHAT_INTERVAL + WINDOW_GUARD)
            self._person_turns[chat_id] = turn
            self._expiry.append((turn + PER_CHAT_INTERVAL + WINDOW_GUARD, chat_id))
            return turn
        turns = self._group_turns.setdefault(chat_id, collections.deque())
        turn = now
        if turns:
            turn = max(turn, turns[-1] + PER_CHAT_INTERVAL + WINDOW_GUARD)
        span = 60.0 + WINDOW_GUARD
        if len(turns) >= GROUP_MESSAGES_PER_MINUTE:
            turn = max(turn, turns[-GROUP_MESSAGES_PER_MINUTE] + span)
        turns.append(turn)
        self._expiry.append((turn + span, chat_id))
        return turn

    async def wait_turn(self, chat_id: int) -> None:
        now = self._clock()
        self._forget_old_chats(now)
        chat_turn = self._reserve_chat_turn(chat_id, now)
        if chat_turn > now:
            await self._sleep(chat_turn - now)
        while True:
            # The steady pace: each send takes the next free slot, 1/rate apart.
            now = self._clock()
            planned = max(now - self._shift, self._next_turn)
            self._next_turn = planned + 1.0 / self.current_rate
            turn = planned + self._shift
            # Within a timer tick of its turn, a send goes: uvloop counts timers in whole
            # milliseconds from the time its loop read at the start of the round, so a shorter
            # sleep returns at once, and a longer one often a little early (a busy round).
            while turn - now > TIMER_TICK:
                await self._sleep(turn - now)
                now = self._clock()
                turn = planned + self._shift  # a stall meanwhile moved it
            if now < self._paused_until:
                continue  # a 429 came while we waited: queue again behind the pause
            if now - turn > LATE_TURN:
                # The loop stalled (GC, a slow commit, the machine busy): the sends due meanwhile
                # would all go at once. Instead every turn not yet taken moves by the stall, and the
                # pace resumes from now: nothing due during the stall goes in a bunch.
                self._shift += now - turn
                turn = now
            # Stamped at its turn, or when it goes if that is earlier (by less than a tick): the
            # window counts no send later than it went, and the guard covers the few milliseconds
            # a send may go after its stamp.
            stamp = min(turn, now)
            recent = self._recent
            # (A microsecond's tolerance: turns 1/rate apart add up with rounding errors.)
            while recent and recent[0] <= stamp - self._span + 1e-6:
                recent.popleft()
            if len(recent) < self._window_allowance:
                recent.append(max(stamp, recent[-1]) if recent else stamp)
                return
            # Replies took part of this window: wait until its oldest send leaves it.
            self._next_turn = max(self._next_turn, recent[0] + self._span - self._shift)
