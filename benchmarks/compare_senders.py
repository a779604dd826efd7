"""Four ways to send one alert, side by side, at Telegram's free limit (30/s) and paid limit (1000/s).

    .venv/bin/python benchmarks/compare_senders.py                   # both limits, 30 s each sender (~6 minutes)
    .venv/bin/python benchmarks/compare_senders.py --seconds 10 --limits 1000   # a quicker look

Each sender gets its own Bot API server (`campaign-bot local-api --delay 0.05 --limits
--no-history`: 50 ms per answer, Telegram's limits enforced on a strict one-second window stamped
on arrival, 429 beyond) and as many recipients as the limit allows in `--seconds` (the plain loop,
which waits for each answer, gets as many as it can reach in that time at 20/s, and the
AIORateLimiter runs at most 1,500: with more, PTB's HTTPX pool spends minutes on its own
bookkeeping before the first send). One recipient in
fifty has blocked the bot and one in fifty is a chat that no longer exists: their sends count
against the limit like any other, so every attempt is counted.

The senders:
- plain: `await bot.send_message(...)` in a loop, PTB's default HTTPX transport;
- AIORateLimiter: PTB's limiter with its defaults (the paid run raises `overall_max_rate` to
  1000, which is the limit there), every send started at once with `asyncio.gather`;
- AIORateLimiter, 3 retries: the same with `max_retries=3`, so a 429 is waited out and tried again;
- campaign-bot: the real bot (`campaign-bot run` over a fresh SQLite database with its durable
  delivery ledger), the broadcast queued with `campaign-bot broadcast send`.

Columns, all from the server (what arrived) except CPU and RSS (the sender's process):
achieved / limit = (attempts - 1) / (last arrival - first arrival) / limit, every send counted;
429s answered; lost = reachable recipients who got nothing; duplicates = messages beyond the first
to a chat; CPU seconds per 1,000 attempts from the first send to the last; peak RSS of the process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from broadcast import (
    ALERT,
    TOKEN,
    ApiServer,
    BotProcess,
    bot_env,
    prepare_database,
    queue_broadcast,
    wait_until_done,
)

FIRST_CHAT = 1_000_000_001  # prepare_database's first chat id
PLAIN_RATE = 20  # one send every 50 ms, waiting for each answer
# PTB's HTTPX pool costs grow with the square of the sends waiting on it (about 6 CPU-ms a send
# with 1,000 waiting, here; 5,000 sent nothing in three minutes): the limiter runs get at most this many.
PTB_MOST = 1500


def faulty_chats(recipients: int) -> dict[int, str]:
    """One in fifty has blocked the bot, one in fifty does not exist any more."""
    faults = {}
    for i in range(recipients):
        if i % 50 == 7:
            faults[FIRST_CHAT + i] = "blocked"
        elif i % 50 == 31:
            faults[FIRST_CHAT + i] = "not_found"
    return faults


def set_faults(server: ApiServer, faults: dict[int, str]) -> None:
    import urllib.request

    for chat_id, kind in faults.items():
        body = json.dumps({"chat_id": chat_id, "kind": kind}).encode()
        request = urllib.request.Request(f"{server.url}/_control/fault", data=body,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()


def wait_until_quiet(server: ApiServer, *, settle: float = 3.0, timeout: float = 600) -> dict:
    """The server's counters once nothing has arrived for `settle` seconds."""
    deadline = time.monotonic() + timeout
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        stats = server.stats()
        if stats["attempts"] != last:
            last, since = stats["attempts"], time.monotonic()
        elif stats["attempts"] and time.monotonic() - since >= settle:
            return stats
        time.sleep(0.2)
    raise RuntimeError("the sends did not stop")


def outcome(server: ApiServer, recipients: int, faults: dict[int, str], limit: int) -> dict:
    stats = server.stats(counts=1)
    delivered = {int(chat): count for chat, count in stats["delivered"].items()}
    wanted = {FIRST_CHAT + i for i in range(recipients)} - set(faults)
    span = stats["last_attempt_at"] - stats["first_attempt_at"]
    return {
        "recipients": recipients, "attempts": stats["attempts"],
        "ratio": (stats["attempts"] - 1) / span / limit if span > 0 else float("nan"),
        "busiest": stats["busiest_attempt_second"] / limit,
        "answered_429": stats["answered_429"], "lost": len(wanted - set(delivered)),
        "duplicates": sum(count - 1 for chat, count in delivered.items() if chat in wanted),
    }


# ------------------------------------------------------------------ PTB alone, in a process of its own


async def ptb_send(kind: str, url: str, recipients: int, limit: int) -> dict:
    from telegram import Bot
    from telegram.error import TelegramError
    from telegram.ext import AIORateLimiter, ExtBot
    from telegram.request import HTTPXRequest

    paid = limit > 30
    chats = [FIRST_CHAT + i for i in range(recipients)]
    # A pool large enough for every send in flight: 50 ms answers at the limit.
    request = HTTPXRequest(connection_pool_size=max(8, limit // 10), pool_timeout=None)
    if kind == "plain":
        bot: Bot = Bot(TOKEN, base_url=f"{url}/bot", request=request)
    else:
        limiter = AIORateLimiter(overall_max_rate=limit, max_retries=3 if kind == "aiorl3" else 0)
        bot = ExtBot(TOKEN, base_url=f"{url}/bot", rate_limiter=limiter, request=request)

    async def send(chat: int) -> None:
        try:
            await bot.send_message(chat, ALERT, allow_paid_broadcast=paid or None)
        except TelegramError:
            pass  # counted at the server

    async with bot:
        cpu = time.process_time()
        if kind == "plain":
            for chat in chats:
                await send(chat)
        else:
            await asyncio.gather(*(send(chat) for chat in chats))
        cpu = time.process_time() - cpu
    return {"cpu": cpu, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def run_ptb(workdir: Path, kind: str, *, recipients: int, limit: int) -> dict:
    server = ApiServer(workdir, f"{kind}-{limit}")
    faults = faulty_chats(recipients)
    try:
        set_faults(server, faults)
        output = subprocess.run([sys.executable, __file__, "--ptb", kind, "--url", server.url,
                                 "--recipients", str(recipients), "--limits", str(limit)],
                                check=True, capture_output=True, text=True).stdout
        measured = json.loads(output.strip().splitlines()[-1])
        result = outcome(server, recipients, faults, limit)
    finally:
        server.stop()
    result.update(cpu_per_1000=measured["cpu"] / result["attempts"] * 1000, peak_rss_mb=measured["peak_rss_mb"])
    return result


# ------------------------------------------------------------------ campaign-bot


def run_campaign_bot(workdir: Path, *, recipients: int, limit: int) -> dict:
    name = f"campaign-bot-{limit}"
    server = ApiServer(workdir, name)
    db_path = workdir / f"{name}.db"
    env = bot_env(db_path, server, rate=limit, paid=limit > 30)
    prepare_database(db_path, recipients, env)
    faults = faulty_chats(recipients)
    set_faults(server, faults)
    bot = BotProcess(workdir, name, env)
    try:
        time.sleep(2)  # started and polling
        queue_broadcast(env)
        while server.stats()["attempts"] == 0:
            time.sleep(0.01)
        cpu_at_first = bot.cpu_seconds()
        wait_until_done(db_path, timeout=recipients / limit * 3 + 120)
        cpu = bot.cpu_seconds() - cpu_at_first
        wait_until_quiet(server, settle=1.0)
        result = outcome(server, recipients, faults, limit)
        peak_rss = bot.peak_rss_mb()
    finally:
        bot.stop()
        server.stop()
    result.update(cpu_per_1000=cpu / result["attempts"] * 1000, peak_rss_mb=peak_rss)
    return result


# ------------------------------------------------------------------ the table

SENDERS = {
    "plain": "plain `await bot.send_message` loop",
    "aiorl": "PTB `AIORateLimiter` (defaults)",
    "aiorl3": "PTB `AIORateLimiter` (max_retries=3)",
    "campaign-bot": "campaign-bot broadcaster",
}


def table(results: dict[tuple[int, str], dict]) -> str:
    lines = ["| limit | sender | recipients | achieved / limit | busiest second / limit | 429s | lost | duplicates "
             "| CPU-s per 1,000 | peak RSS |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for (limit, kind), r in results.items():
        lines.append(f"| {limit}/s | {SENDERS[kind]} | {r['recipients']:,} | **{r['ratio']:.3f}** | {r['busiest']:.3f} "
                     f"| {r['answered_429']} | {r['lost']} | {r['duplicates']} | {r['cpu_per_1000']:.3f} "
                     f"| {r['peak_rss_mb']:.0f} MB |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limits", default="30,1000", help="Telegram limits to run at (30, 1000)")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long each sender sends for")
    parser.add_argument("--senders", default=",".join(SENDERS), help="which senders")
    parser.add_argument("--workdir", type=Path, default=None, help="keep databases and logs here")
    parser.add_argument("--ptb", choices=["plain", "aiorl", "aiorl3"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--recipients", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.ptb:
        print(json.dumps(asyncio.run(ptb_send(args.ptb, args.url, args.recipients, int(args.limits)))))
        return
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="campaign-bot-compare-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"benchmark work directory (databases, logs): {workdir}", file=sys.stderr)
    load_before = os.getloadavg()
    results: dict[tuple[int, str], dict] = {}
    # One at a time: on a small machine two senders side by side would disturb each other's pace.
    for limit in (int(limit) for limit in args.limits.split(",")):
        for kind in args.senders.split(","):
            recipients = int((PLAIN_RATE if kind == "plain" else limit) * args.seconds)
            if kind.startswith("aiorl"):
                recipients = min(recipients, PTB_MOST)
            if kind == "campaign-bot":
                results[limit, kind] = run_campaign_bot(workdir, recipients=recipients, limit=limit)
            else:
                results[limit, kind] = run_ptb(workdir, kind, recipients=recipients, limit=limit)
            print(f"{limit}/s {kind}: {results[limit, kind]}", file=sys.stderr)
    print(table(results))
    load_after = os.getloadavg()
    print(f"\n{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {os.cpu_count()} CPUs; load average "
          f"(1, 5, 15 min) before {', '.join(f'{x:.2f}' for x in load_before)}, "
          f"after {', '.join(f'{x:.2f}' for x in load_after)}.")


if __name__ == "__main__":
    main()
