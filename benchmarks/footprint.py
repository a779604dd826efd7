"""The bot's memory: at rest with the statistics loaded, and at its peak through a large broadcast.

    .venv/bin/python benchmarks/footprint.py [--recipients 1000000] [--skip-idle] [--skip-broadcast]
                                             [--imports]

1. `import bot.app` in a fresh interpreter: its RSS, and whether matplotlib or numpy came with it.
   With --imports, first what each library the bot is built on adds to a fresh interpreter's RSS,
   imported one after another in the order bot.app imports them: the floor under any idle figure.
2. Idle: a SQLite database with the bundled IAPT figures loaded (`campaign-bot stats show`, once),
   the bot started on it (`campaign-bot run`) against the project's local Bot API server; three
   /stats questions are asked (the first loads the statistics index), the last a trend chart; a
   few quiet seconds after each answer the bot's RSS (VmRSS) and its peak so far (VmHWM) are read
   from /proc. Nothing is sending. Target: <= 80 MB. Charts are drawn in a child process that
   ends after two idle minutes (messages/chart_process.py); its RSS is printed beside the bot's.
3. Broadcast: a fresh database with --recipients chats on one list (`campaign-bot subscribers
   import`), the bot at PAID_BROADCAST=true, BROADCAST_RATE=1000 against `campaign-bot local-api
   --delay 0.05 --limits --no-history` in its own process; the broadcast is queued with
   `campaign-bot broadcast send` and followed in the database until done; then the bot's VmHWM.
   Target for 1,000,000 recipients: <= 100 MB. At 1000/s that takes about 17 minutes.

Load averages are printed with the figures, since the machine may be shared.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CAMPAIGN_BOT = str(Path(sys.executable).with_name("campaign-bot"))
TOKEN = "123456:footprint"
FIRST_CHAT = 8_000_000_001
ASKER = 4_000_000_001
QUIET_SECONDS = 5.0
IMPORT_PROBE = """
import resource, sys
import bot.app
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
      ",".join(m for m in ("matplotlib", "numpy", "PIL") if m in sys.modules) or "-")
"""


# The libraries under bot.app, roughly in the order it imports them; each line adds what the ones
# before it did not already bring.
IMPORT_STEPS = ("asyncio", "uvloop", "aiohttp", "telegram", "telegram.ext", "sqlalchemy", "sqlalchemy.ext.asyncio",
                "sqlmodel", "aiosqlite", "pydantic_settings", "jinja2", "babel.dates", "babel.numbers", "apscheduler",
                "rapidfuzz", "httptools", "storage", "messages", "bot.telegram_io.sending", "bot.engines.broadcaster",
                "bot.app")
STEPS_PROBE = """
import importlib, sys
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
print("interpreter", rss())
for name in sys.argv[1:]:
    importlib.import_module(name)
    print(name, rss())
"""


def import_steps() -> None:
    out = subprocess.run([sys.executable, "-c", STEPS_PROBE, *IMPORT_STEPS], capture_output=True, text=True,
                         check=True)
    print(f"{'import':<28}{'adds MB':>9}{'RSS MB':>9}")
    before = 0.0
    for line in out.stdout.splitlines():
        name, rss = line.rsplit(" ", 1)
        print(f"{name:<28}{float(rss) - before:>9.1f}{float(rss):>9.1f}")
        before = float(rss)


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def proc_status_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def children_of(pid: int) -> list[int]:
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def base_env(db_path: Path, api_url: str, **more: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_SCHEMA",)}
    env.update({"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": api_url, "DATABASE_URL": f"sqlite:///{db_path}",
                "ORGANISER_IDS": "", "TIMEZONE": "Europe/London", **more})
    return env


def start_bot(env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("a") as handle:
        return subprocess.Popen([CAMPAIGN_BOT, "run"], env=env, stdout=handle, stderr=subprocess.STDOUT,
                                cwd=log.parent)


def stop_bot(bot: subprocess.Popen) -> None:
    bot.send_signal(signal.SIGINT)
    try:
        bot.wait(timeout=60)
    except subprocess.TimeoutExpired:
        bot.kill()
        bot.wait()


def import_footprint() -> None:
    out = subprocess.run([sys.executable, "-c", IMPORT_PROBE], capture_output=True, text=True, check=True)
    rss, heavy = out.stdout.split()
    print(f"import bot.app: peak RSS {float(rss):.1f} MB; matplotlib/numpy/PIL loaded: {heavy}")


async def idle_footprint(folder: Path) -> None:
    from bot.local_api.server import LocalBotApi

    db_path = folder / "idle.db"
    server = LocalBotApi(token=TOKEN)
    await server.start()
    env = base_env(db_path, server.url, STATS_LOAD_BUNDLE="true")
    started = time.monotonic()
    loading = await asyncio.create_subprocess_exec(CAMPAIGN_BOT, "stats", "show", "england", env=env,
                                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    await loading.wait()
    print(f"figures loaded into the idle database in {time.monotonic() - started:.0f} s")
    bot = start_bot(env, folder / "idle-bot.log")
    readings = []
    try:
        for question in ("/stats england", "/stats tower hamlets", "/stats tower hamlets trend"):
            before = len(server.sent_to(ASKER))
            server.user_message(ASKER, text=question)
            await wait_for(lambda before=before: len(server.sent_to(ASKER)) > before, 120, f"an answer to {question}")
            await asyncio.sleep(QUIET_SECONDS)
            readings.append((question, proc_status_mb(bot.pid, "VmRSS"), proc_status_mb(bot.pid, "VmHWM"),
                             proc_status_mb(bot.pid, "RssAnon"), proc_status_mb(bot.pid, "RssFile"),
                             sum(proc_status_mb(child, "VmRSS") for child in children_of(bot.pid))))
    finally:
        await asyncio.to_thread(stop_bot, bot)
        await server.stop()
    for question, rss, peak, anon, file, children in readings:
        print(f"idle bot, {QUIET_SECONDS:.0f} s after answering {question!r}: RSS {rss:.1f} MB "
              f"({anon:.1f} anonymous, {file:.1f} mapped files), peak so far {peak:.1f} MB; "
              f"its child processes (the chart process, until idle): {children:.1f} MB")
    print(f"(load average {load_average()})")


async def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"gave up waiting for {what}")
        await asyncio.sleep(0.05)


def broadcast_status(db_path: Path) -> tuple[str | None, int]:
    connection = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
    try:
        row = connection.execute("SELECT status, sent_count FROM broadcasts ORDER BY id DESC LIMIT 1").fetchone()
        return (row[0], row[1]) if row else (None, 0)
    finally:
        connection.close()


def broadcast_footprint(folder: Path, recipients: int) -> None:
    port = free_port()
    api_url = f"http://127.0.0.1:{port}"
    db_path = folder / "broadcast.db"
    env = base_env(db_path, api_url, STATS_LOAD_BUNDLE="false", PAID_BROADCAST="true", BROADCAST_RATE="1000")
    ids = folder / "ids.csv"
    ids.write_text("".join(f"{FIRST_CHAT + n}\n" for n in range(recipients)), encoding="utf-8")
    subprocess.run([CAMPAIGN_BOT, "lists", "create", "bench", "--title", "Footprint"], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run([CAMPAIGN_BOT, "subscribers", "import", str(ids), "--list", "bench"], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    with (folder / "api.log").open("w") as log:
        api = subprocess.Popen([CAMPAIGN_BOT, "local-api", "--port", str(port), "--delay", "0.05", "--limits",
                                "--no-history"], stdout=log, stderr=subprocess.STDOUT)
    bot = None
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{api_url}/_control/stats", timeout=5).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        bot = start_bot(env, folder / "broadcast-bot.log")
        time.sleep(2)
        subprocess.run([CAMPAIGN_BOT, "broadcast", "send", "--list", "bench", "--text", "Footprint benchmark"],
                       env=env, check=True, stdout=subprocess.DEVNULL)
        started = time.monotonic()
        deadline = started + recipients / 1000 * 3 + 300
        status, sent = broadcast_status(db_path)
        # RSS as each tenth of the recipients is passed: a peak at the snapshot, or a slow climb.
        timeline, next_mark = [(0, proc_status_mb(bot.pid, "VmRSS"))], recipients // 10
        while status != "done":
            if time.monotonic() > deadline:
                raise RuntimeError(f"the broadcast did not finish in time ({sent} sent)")
            time.sleep(1)
            status, sent = broadcast_status(db_path)
            if sent >= next_mark and status != "done":
                timeline.append((sent, proc_status_mb(bot.pid, "VmRSS")))
                next_mark = (sent // (recipients // 10) + 1) * (recipients // 10)
        seconds = time.monotonic() - started
        peak, rss = proc_status_mb(bot.pid, "VmHWM"), proc_status_mb(bot.pid, "VmRSS")
        anon, file = proc_status_mb(bot.pid, "RssAnon"), proc_status_mb(bot.pid, "RssFile")
        arrived = json.loads(urllib.request.urlopen(f"{api_url}/_control/stats", timeout=30).read())
    finally:
        if bot is not None:
            stop_bot(bot)
        api.terminate()
        api.wait(timeout=30)
    print(f"broadcast to {recipients:,} at 1000/s: {sent:,} recorded sent, {arrived.get('sent_total')} arrived, "
          f"{seconds:.0f} s; bot peak RSS {peak:.1f} MB, RSS at the end {rss:.1f} MB "
          f"({anon:.1f} MB anonymous, {file:.1f} MB mapped files) (load average {load_average()})")
    print("bot RSS along the way (sent: MB): " + ", ".join(f"{count:,}: {mb:.1f}" for count, mb in timeline))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=1_000_000)
    parser.add_argument("--skip-idle", action="store_true")
    parser.add_argument("--skip-broadcast", action="store_true")
    parser.add_argument("--imports", action="store_true", help="what each library adds to RSS at import")
    arguments = parser.parse_args()
    print(f"load average at the start: {load_average()}")
    if arguments.imports:
        import_steps()
    import_footprint()
    with tempfile.TemporaryDirectory() as folder:
        if not arguments.skip_idle:
            asyncio.run(idle_footprint(Path(folder)))
        if not arguments.skip_broadcast:
            broadcast_footprint(Path(folder), arguments.recipients)


if __name__ == "__main__":
    main()
