"""How long the quick `campaign-bot` commands take from start to answer, and their peak memory.

    .venv/bin/python benchmarks/cli_startup.py [--runs 7] [--database-url URL]

Runs `campaign-bot --help`, `campaign-bot broadcast status` and `campaign-bot subscribers export`
each --runs times, as a person would at the terminal, on an empty database (its schema already
upgraded by `campaign-bot db upgrade`, nothing in it): a fresh SQLite file unless --database-url
names another. Each run's wall time is from starting the process to its exit, and its peak RSS
is the child's own maximum resident set (from wait4), its CPU time user + system. Prints min /
median / max of the wall times, the median CPU time and the peak RSS of each, with the load
average, since on a shared machine the wall times move with what else runs.

The children may write bytecode (PYTHONDONTWRITEBYTECODE is dropped), and one run of each is
not counted: an installed campaign-bot has its .pyc files, and compiling the project's modules
from source on every start would measure the compiler.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CAMPAIGN_BOT = str(Path(sys.executable).with_name("campaign-bot"))
COMMANDS = (["--help"], ["broadcast", "status"], ["subscribers", "export"])
TARGET_SECONDS = 0.5


def timed_run(arguments: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, peak RSS in MB) of one run of `campaign-bot ARGUMENTS`."""
    started = time.perf_counter()
    child = subprocess.Popen([CAMPAIGN_BOT, *arguments], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
    _pid, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"campaign-bot {' '.join(arguments)} failed: {child.stderr.read().decode()}")
    child.stderr.close()
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024  # ru_maxrss is in KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "DATABASE_URL": arguments.database_url or f"sqlite+aiosqlite:///{folder}/empty.db"}
        env.pop("TELEGRAM_BOT_TOKEN", None)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        subprocess.run([CAMPAIGN_BOT, "db", "upgrade"], env=env, check=True, stdout=subprocess.DEVNULL)
        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(f"{'command':<32} {'wall min':>9} {'median':>8} {'max':>8} {'CPU median':>11} {'peak RSS MB':>12}")
        for command in COMMANDS:
            timed_run(command, env)
            runs = [timed_run(command, env) for _ in range(arguments.runs)]
            walls = [wall for wall, _, _ in runs]
            median = statistics.median(walls)
            cpu = statistics.median(cpu for _, cpu, _ in runs)
            verdict = "ok" if median < TARGET_SECONDS else f"over {TARGET_SECONDS} s"
            print(f"{'campaign-bot ' + ' '.join(command):<32} {min(walls):>9.3f} {median:>8.3f} {max(walls):>8.3f} "
                  f"{cpu:>11.3f} {max(rss for _, _, rss in runs):>12.1f}  {verdict}")
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
