"""How fast the bot answers in its first seconds, while it loads the bundled IAPT figures.

    .venv/bin/python benchmarks/startup_answers.py [--runs 3] [--seconds 20] [--every 0.2]

Each run makes a fresh SQLite database with one list on it (`campaign-bot db upgrade`, `campaign-bot
lists create`, so no figures are loaded yet), starts the bot (`campaign-bot run`, with
STATS_LOAD_BUNDLE=true) in its own process against the project's local Bot API server, which this
script hosts, and from the moment the bot first polls for updates pushes `/subscribe <list>` from a
new private chat every 200 ms for 20 s. Each answer is timed from the push to the moment the bot's
sendMessage for that chat arrives at the server. The pushes go on past the 20 s until the figures
are loaded, so the whole load is covered even when it takes longer.

It prints, per run, p50 / p99 / max of the answers in the first 20 s and of those while the load
ran, and how long the load took (from the bot's first poll until the database holds every dataset
complete, read from the database file read-only, which WAL allows beside the bot's writes).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.local_api.server import LocalBotApi

BIN = Path(sys.executable).parent
CAMPAIGN_BOT = str(BIN / "campaign-bot")
TOKEN = "123456:startup-benchmark"
LIST_SLUG = "startup"
FIRST_CHAT = 5_000_000_001
DATASETS = 4  # source tables of the bundle: complete when all four are, none still marked loading
LOAD_TIMEOUT = 180.0
ANSWER_TIMEOUT = 30.0
CHECK_EVERY = 0.1  # seconds between looks at the database for the end of the load


class ServerSeeingPolls(LocalBotApi):
    """The local server, noting when the first getUpdates arrives (it is recorded only once answered,
    and a long poll is answered only when an update comes or it times out)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.first_poll = asyncio.Event()
        self.first_poll_at = 0.0

    async def _get_updates(self, params):
        if not self.first_poll.is_set():
            self.first_poll_at = time.monotonic()
            self.first_poll.set()
        return await super()._get_updates(params)


def bot_env(db_path: Path, api_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": api_url, "DATABASE_URL": f"sqlite:///{db_path}",
        "ORGANISER_IDS": "", "TIMEZONE": "Europe/London", "STATS_LOAD_BUNDLE": "true",
    })
    return env


def prepare_database(env: dict[str, str]) -> None:
    subprocess.run([CAMPAIGN_BOT, "db", "upgrade"], env=env, check=True, capture_output=True)
    subprocess.run([CAMPAIGN_BOT, "lists", "create", LIST_SLUG, "--title", "Startup benchmark"], env=env,
                   check=True, capture_output=True)


def figures_complete(db_path: Path) -> bool:
    """Every dataset present and none of them part-loaded (a read-only look beside the bot)."""
    connection = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)
    try:
        rows = connection.execute("SELECT content_sha256 FROM iapt_datasets").fetchall()
    except sqlite3.OperationalError:
        return False
    finally:
        connection.close()
    return len(rows) >= DATASETS and not any(digest.startswith("loading") for (digest,) in rows)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def summary(values: list[float]) -> str:
    if not values:
        return "no answers"
    return (f"{len(values):>4} answers  p50 {statistics.median(values):7.0f} ms  "
            f"p99 {percentile(values, 0.99):7.0f} ms  max {max(values):7.0f} ms")


async def one_run(workdir: Path, number: int, *, seconds: float, every: float) -> dict:
    server = ServerSeeingPolls(token=TOKEN)
    await server.start()
    db_path = workdir / f"run{number}.db"
    env = bot_env(db_path, server.url)
    await asyncio.to_thread(prepare_database, env)
    log = open(workdir / f"run{number}-bot.log", "w")
    started = time.monotonic()
    process = subprocess.Popen([CAMPAIGN_BOT, "run"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
    pushes: list[tuple[int, float]] = []  # (chat, when pushed)
    loaded_after: float | None = None
    try:
        await asyncio.wait_for(server.first_poll.wait(), timeout=60)
        polling_at = server.first_poll_at
        chat = FIRST_CHAT
        next_push = next_check = time.monotonic()
        while True:
            now = time.monotonic()
            if loaded_after is None and now >= next_check:
                next_check = now + CHECK_EVERY
                if await asyncio.to_thread(figures_complete, db_path):
                    loaded_after = time.monotonic() - polling_at
            past_window = now - polling_at >= seconds
            if past_window and (loaded_after is not None or now - polling_at > LOAD_TIMEOUT):
                break
            if now >= next_push:
                server.user_message(chat, text=f"/subscribe {LIST_SLUG}")
                pushes.append((chat, time.monotonic()))
                chat += 1
                next_push += every
            await asyncio.sleep(min(0.02, max(0.0, next_push - time.monotonic())))
        pending = {c for c, _ in pushes}

        def all_answered() -> bool:
            answered = {r.chat_id for r in server.calls("sendMessage")}
            return pending <= answered

        await server.wait_until(all_answered, timeout=ANSWER_TIMEOUT)
    finally:
        await server.release_long_polls()
        process.send_signal(signal.SIGINT)
        try:
            await asyncio.to_thread(process.wait, 60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        await server.stop()
    answered_at, other_answers = {}, 0
    for request in server.calls("sendMessage"):
        if request.chat_id not in answered_at:
            answered_at[request.chat_id] = request.at
            # joined.html: anything else (an error, "try again") is an answer, but not the one asked for.
            other_answers += not str(request.params.get("text", "")).startswith("Done: you are on")
    window, during_load = [], []
    for chat, pushed in pushes:
        latency = (answered_at[chat] - pushed) * 1000
        if pushed - polling_at < seconds:
            window.append(latency)
        if loaded_after is None or pushed - polling_at < loaded_after:
            during_load.append(latency)
    return {"start_to_polling": polling_at - started, "loaded_after": loaded_after, "window": window,
            "during_load": during_load, "other_answers": other_answers,
            "load_log": load_log_line(workdir / f"run{number}-bot.log")}


def load_log_line(log_path: Path) -> str:
    """What the bot logged about the load (the transactions it took, on the new code)."""
    for line in log_path.read_text(errors="replace").splitlines():
        if "loaded the bundled IAPT figures" in line:
            return line.split(": ", 1)[-1]
    return "-"


async def run(runs: int, seconds: float, every: float, workdir: Path) -> int:
    results = []
    for number in range(1, runs + 1):
        result = await one_run(workdir, number, seconds=seconds, every=every)
        results.append(result)
        loaded = (f"{result['loaded_after']:.1f} s after the first poll" if result["loaded_after"] is not None
                  else f"not finished within {LOAD_TIMEOUT:.0f} s")
        print(f"run {number}: bot polling {result['start_to_polling']:.1f} s after launch; figures loaded {loaded}")
        print(f"  first {seconds:.0f} s:   {summary(result['window'])}")
        print(f"  during the load: {summary(result['during_load'])}")
        print(f"  answers other than 'Done: you are on': {result['other_answers']}; bot log: {result['load_log']}")
    everything = [latency for result in results for latency in result["window"]]
    print(f"all runs, first {seconds:.0f} s: {summary(everything)}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="fresh starts to measure (default 3)")
    parser.add_argument("--seconds", type=float, default=20.0, help="the window after the first poll (default 20)")
    parser.add_argument("--every", type=float, default=0.2, help="seconds between /subscribe pushes (default 0.2)")
    args = parser.parse_args()
    # A bot stopped mid-request makes aiohttp log a lost connection: not a finding of this benchmark.
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    with tempfile.TemporaryDirectory(prefix="startup-benchmark-") as directory:
        return asyncio.run(run(args.runs, args.seconds, args.every, Path(directory)))


if __name__ == "__main__":
    sys.exit(main())
