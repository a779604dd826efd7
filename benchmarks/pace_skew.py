"""What the sender's one margin must cover: how late its sends arrive, and how full any one-second
window is at arrival, at Telegram's free limit (30/s) and paid limit (1000/s).

    .venv/bin/python benchmarks/pace_skew.py                  # both limits, 30 s and 20 s (~1 minute)
    .venv/bin/python benchmarks/pace_skew.py --limits 1000 --seconds 10

The project's Bot API server runs in its own process (`campaign-bot local-api --delay 0.05
--limits --no-history`: 50 ms per answer, 429 beyond a strict one-second window stamped on
arrival). In this process, campaign-bot's `TelegramSender` (its `Throttle` and the aiohttp
transport, as the bot sends a broadcast) sends one message to each of limit x seconds chats,
all started at once. For every send the throttle's turn (the moment it planned it for, on the
machine's monotonic clock) is set beside the server's arrival stamp for that chat.

It reports, per limit:
- how late sends arrive after their turn: p50, p99, p99.9, max, and the spread (p99.9 - min),
  which is what `ARRIVAL_GUARD` has to cover;
- the busiest one-second window at arrival / limit (every attempt counted; at most 1.000, and
  any 429 means a window held more);
- achieved / limit over the run, (attempts - 1) / (last arrival - first arrival), and the 429s.
The machine's load average is printed with the figures: on a busy machine the spread grows.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from broadcast import ALERT, TOKEN, ApiServer
from telegram import Bot

from bot.telegram_io.sending import Outgoing, TelegramSender
from bot.telegram_io.throttle import ARRIVAL_GUARD, Throttle
from bot.telegram_io.transport import AiohttpRequest

FIRST_CHAT = 2_000_000_001


class StampedThrottle(Throttle):
    """The throttle as it is, noting each send's turn (the stamp it counts the send at)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.turns: dict[int, float] = {}

    async def wait_turn(self, chat_id: int) -> None:
        await super().wait_turn(chat_id)
        self.turns[chat_id] = self._recent[-1]


async def send_all(url: str, limit: int, seconds: float) -> dict[int, float]:
    paid = limit > 30
    bot = Bot(TOKEN, base_url=f"{url}/bot", request=AiohttpRequest(connections=max(8, limit)))
    sender = TelegramSender(bot, rate=limit, paid=paid)
    throttle = StampedThrottle(rate=limit, hard_cap=sender.throttle.hard_cap)
    sender.throttle = throttle
    message = Outgoing(ALERT)
    async with bot:
        chats = [FIRST_CHAT + i for i in range(int(limit * seconds))]
        await asyncio.gather(*(sender.send(chat, message) for chat in chats))
    return throttle.turns


def percentile(ordered: list[float], fraction: float) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def measure(workdir: Path, limit: int, seconds: float) -> dict:
    server = ApiServer(workdir, f"skew-{limit}")
    try:
        turns = asyncio.run(send_all(server.url, limit, seconds))
        stats = server.stats(arrivals=1)
    finally:
        server.stop()
    # A send refused with 429 is tried again at a later turn: its chat's last arrival goes with its last turn.
    last_arrival = dict(stats["arrivals"])
    late = sorted(arrived - turns[chat] for chat, arrived in last_arrival.items() if chat in turns)
    span = stats["last_attempt_at"] - stats["first_attempt_at"]
    return {
        "limit": limit, "sends": stats["attempts"], "answered_429": stats["answered_429"],
        "ratio": (stats["attempts"] - 1) / span / limit, "busiest": stats["busiest_attempt_second"] / limit,
        "p50": percentile(late, 0.5), "p99": percentile(late, 0.99), "p999": percentile(late, 0.999),
        "max": late[-1], "spread": percentile(late, 0.999) - late[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limits", default="30,1000")
    parser.add_argument("--seconds", type=float, default=None, help="how long to send at each limit (30 s, 20 s)")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="campaign-bot-skew-"))
    load = os.getloadavg()
    rows = []
    for limit in (int(limit) for limit in args.limits.split(",")):
        rows.append(measure(workdir, limit, args.seconds or (30.0 if limit <= 30 else 20.0)))
    print("| limit | sends | arrival after turn: p50 / p99 / p99.9 / max (ms) | spread (ms) "
          "| busiest second at arrival / limit | achieved / limit | 429s |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['limit']}/s | {r['sends']:,} | {r['p50'] * 1000:.1f} / {r['p99'] * 1000:.1f} / "
              f"{r['p999'] * 1000:.1f} / {r['max'] * 1000:.1f} | {r['spread'] * 1000:.1f} | {r['busiest']:.3f} "
              f"| **{r['ratio']:.3f}** | {r['answered_429']} |")
    print(f"\nARRIVAL_GUARD = {ARRIVAL_GUARD * 1000:.0f} ms. {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
          f"{os.cpu_count()} CPUs; load average before {load[0]:.2f}, after {os.getloadavg()[0]:.2f}.")


if __name__ == "__main__":
    main()
