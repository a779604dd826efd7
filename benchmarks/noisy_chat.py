"""One noisy chat must not slow down the others: how long a quiet chat waits for /help meanwhile.

    .venv/bin/python benchmarks/noisy_chat.py [--seconds 30] [--noisy-updates 500] [--flood-limit N]

The real bot (`campaign-bot run` in its own process, over a fresh SQLite database, polling the
project's local Bot API server, which runs on loopback in this process) serves two private chats. The noisy
chat fires `--noisy-updates` commands and button presses (/help, /lists, /mylists, join and leave
presses) as fast as they can be pushed, without waiting for any answer. Meanwhile the quiet chat
sends /help once a second for `--seconds`, and each of its answers is timed from the moment its
update is pushed into the server to the moment the bot's sendMessage for it arrives there.

It reports the quiet chat's answer time (p50, p99, max; the target is p99 under 250 ms) and what
became of the noisy chat's updates: answered, dropped by the flood guard, slow-down messages and
dropped presses answered. `--flood-limit` overrides FLOOD_LIMIT (a huge value turns the guard off,
to see the per-chat ordering on its own).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.local_api.server import LocalBotApi

CAMPAIGN_BOT = str(Path(sys.executable).with_name("campaign-bot"))

TOKEN = "424242:noisy-chat-benchmark"
NOISY_CHAT = 6001
QUIET_CHAT = 6002
TARGET_P99_MS = 250


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


class Bench:
    def __init__(self, server: LocalBotApi) -> None:
        self.server = server

    def _sends_to(self, chat_id: int, start: int) -> list:
        return [r for r in self.server.requests[start:] if r.method == "sendMessage" and r.chat_id == chat_id]

    async def answer_time(self, chat_id: int, text: str) -> float:
        """Seconds from pushing `text` to the bot's first sendMessage to the chat arriving."""
        seen = len(self.server.requests)
        pushed_at = time.monotonic()
        self.server.user_message(chat_id, text=text)
        await self.server.wait_until(lambda: bool(self._sends_to(chat_id, seen)), timeout=60)
        return self._sends_to(chat_id, seen)[0].at - pushed_at

    async def lists_message(self, chat_id: int) -> dict:
        await self.answer_time(chat_id, "/lists")
        return self.server.sent_to(chat_id)[-1]

    async def flood(self, chat_id: int, count: int, buttons_on: dict) -> None:
        """`count` updates as fast as they can be pushed: commands and presses in turn."""
        data = [button["callback_data"] for row in buttons_on["reply_markup"]["inline_keyboard"] for button in row]
        kinds = itertools.cycle(["/help", "press", "/lists", "press", "/mylists"])
        presses = itertools.cycle(data)
        for _ in range(count):
            kind = next(kinds)
            if kind == "press":
                self.server.press_button(chat_id, buttons_on, next(presses))
            else:
                self.server.user_message(chat_id, text=kind)
            await asyncio.sleep(0)  # let the bot's poll and the quiet chat run between pushes


def bot_env(directory: Path, server: LocalBotApi, flood_limit: int | None) -> dict[str, str]:
    env = {**os.environ, "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": server.url,
           "DATABASE_URL": f"sqlite:///{directory}/noisy-chat.db", "ORGANISER_IDS": "", "STATS_LOAD_BUNDLE": "false"}
    if flood_limit is not None:
        env["FLOOD_LIMIT"] = str(flood_limit)
    return env


async def run(seconds: int, noisy_updates: int, flood_limit: int | None, directory: Path) -> int:
    server = LocalBotApi(token=TOKEN)
    await server.start()
    env = bot_env(directory, server, flood_limit)
    for slug in ("protests", "vigils"):
        subprocess.run([CAMPAIGN_BOT, "lists", "create", slug, "--title", slug.title()], env=env, check=True,
                       capture_output=True)
    bench = Bench(server)
    quiet_ms: list[float] = []
    with open(directory / "bot.log", "w") as log:
        bot = subprocess.Popen([CAMPAIGN_BOT, "run"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=directory)
        try:
            await server.wait_until(lambda: bool(server.calls("getUpdates")), timeout=60)
            for _ in range(5):  # warm up templates, database pages and connections
                await bench.answer_time(QUIET_CHAT, "/help")
            buttons_on = await bench.lists_message(NOISY_CHAT)
            requests_before = len(server.requests)
            sent_before = len(server.sent_to(NOISY_CHAT))
            flooding = asyncio.create_task(bench.flood(NOISY_CHAT, noisy_updates, buttons_on))
            started = time.monotonic()
            for second in range(seconds):
                quiet_ms.append(await bench.answer_time(QUIET_CHAT, "/help") * 1000)
                await asyncio.sleep(max(0.0, started + second + 1 - time.monotonic()))
            await flooding
            noisy_calls = [r for r in server.requests[requests_before:]
                           if r.chat_id == NOISY_CHAT or r.method == "answerCallbackQuery"]
        finally:
            await server.release_long_polls()
            bot.send_signal(signal.SIGINT)
            bot.wait(timeout=60)
            await server.stop()
    log_text = (directory / "bot.log").read_text()
    dropped_lines = [line.split(": ", 1)[1] for line in log_text.splitlines() if "bot.telegram_io.flood_guard" in line]

    noisy_messages = server.sent_to(NOISY_CHAT)[sent_before:]
    slow_downs = sum(1 for m in noisy_messages if "more than I can keep up with" in m.get("text", ""))
    guard = f"FLOOD_LIMIT {flood_limit}" if flood_limit is not None else "flood guard at its default"
    print(f"noisy chat: {noisy_updates} updates pushed at once; quiet chat: /help once a second for {seconds} s; "
          f"{guard}")
    print(f"quiet chat answer time: p50 {statistics.median(quiet_ms):.1f} ms, "
          f"p99 {percentile(quiet_ms, 0.99):.1f} ms, max {max(quiet_ms):.1f} ms over {len(quiet_ms)} answers "
          f"(target p99 < {TARGET_P99_MS} ms)")
    print(f"noisy chat: {len(noisy_messages) - slow_downs} messages sent or edited for it, {slow_downs} slow-down, "
          f"{sum(1 for r in noisy_calls if r.method == 'answerCallbackQuery')} presses answered, "
          f"{sum(1 for r in noisy_calls if r.method == 'editMessageText')} edits")
    for line in dropped_lines:
        print(f"bot log: {line}")
    print("quiet chat slowest answers (ms): " + ", ".join(f"{v:.0f}" for v in sorted(quiet_ms)[-3:]))
    return 0 if percentile(quiet_ms, 0.99) < TARGET_P99_MS else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=30, help="how long the quiet chat asks (default 30)")
    parser.add_argument("--noisy-updates", type=int, default=500, help="updates the noisy chat fires (default 500)")
    parser.add_argument("--flood-limit", type=int, default=None,
                        help="override FLOOD_LIMIT (default: the setting's default; huge turns the guard off)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="noisy-chat-") as directory:
        return asyncio.run(run(args.seconds, args.noisy_updates, args.flood_limit, Path(directory)))


if __name__ == "__main__":
    sys.exit(main())
