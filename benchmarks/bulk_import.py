"""Bulk work at the terminal: importing, exporting and snapshotting the recipients of 100,000 chats.

    .venv/bin/python benchmarks/bulk_import.py [--rows 100000] [--postgres URL | --no-postgres]

On a fresh SQLite file, and on a fresh schema of the PostgreSQL server at --postgres (default
postgresql+asyncpg://postgres@127.0.0.1:5432/test; skipped if it does not answer), it runs, each
as its own `campaign-bot` process as an operator would:

- `subscribers import ids.csv --list bulk` of --rows distinct chat ids, none known before;
- `subscribers export --list bulk` to a file (the rows are counted afterwards);
- `broadcast send --list bulk --text ...`: a broadcast sent now, whose recipients (one pending
  delivery per subscriber) are fixed in the same transaction: the snapshot at send time.

For each it prints wall seconds, CPU seconds (user + system of the process, from wait4) and peak
RSS, and the load average. Targets: import < 5 s and < 100 MB; export and snapshot alike.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CAMPAIGN_BOT = str(Path(sys.executable).with_name("campaign-bot"))
DEFAULT_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
LIST_SLUG = "bulk"
FIRST_CHAT = 7_000_000_001


def measured(arguments: list[str], env: dict[str, str], *, stdout=subprocess.DEVNULL) -> tuple[float, float, float]:
    """(wall s, CPU s, peak RSS MB) of one `campaign-bot ARGUMENTS` process; exits if it fails."""
    started = time.perf_counter()
    child = subprocess.Popen([CAMPAIGN_BOT, *arguments], env=env, stdout=stdout, stderr=subprocess.PIPE)
    _pid, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    errors = child.stderr.read().decode()
    child.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"campaign-bot {' '.join(arguments)} failed: {errors}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def run_on(label: str, env: dict[str, str], folder: Path, rows: int) -> None:
    ids = folder / "ids.csv"
    ids.write_text("chat_id\n" + "".join(f"{FIRST_CHAT + n}\n" for n in range(rows)), encoding="utf-8")
    subprocess.run([CAMPAIGN_BOT, "db", "upgrade"], env=env, check=True, stdout=subprocess.DEVNULL)
    subprocess.run([CAMPAIGN_BOT, "lists", "create", LIST_SLUG, "--title", "Bulk"], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    results = [("import", measured(["subscribers", "import", str(ids), "--list", LIST_SLUG], env))]
    out = folder / "export.csv"
    with out.open("wb") as handle:
        results.append(("export", measured(["subscribers", "export", "--list", LIST_SLUG], env, stdout=handle)))
    exported = sum(1 for _ in out.open(encoding="utf-8")) - 1
    results.append(("snapshot (broadcast send)",
                    measured(["broadcast", "send", "--list", LIST_SLUG, "--text", "Bulk benchmark"], env)))
    for name, (wall, cpu, rss) in results:
        print(f"{label:<11} {name:<26} {rows:>8,} {wall:>8.2f} {cpu:>8.2f} {rss:>9.1f}")
    if exported != rows:
        raise SystemExit(f"{label}: exported {exported} rows, expected {rows}")


async def postgres_schema(url: str) -> str | None:
    from storage.db import create_schema

    schema = f"bench_{uuid.uuid4().hex[:12]}"
    try:
        await asyncio.wait_for(create_schema(url, schema), 10)
    except (TimeoutError, OSError) as error:
        print(f"PostgreSQL at {url} did not answer ({error}); skipped")
        return None
    return schema


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES)
    parser.add_argument("--no-postgres", action="store_true")
    arguments = parser.parse_args()
    base = {key: value for key, value in os.environ.items()
            if key not in ("TELEGRAM_BOT_TOKEN", "DATABASE_SCHEMA", "PYTHONDONTWRITEBYTECODE")}
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'database':<11} {'step':<26} {'rows':>8} {'wall s':>8} {'CPU s':>8} {'peak MB':>9}")
    with tempfile.TemporaryDirectory() as folder:
        run_on("SQLite", {**base, "DATABASE_URL": f"sqlite+aiosqlite:///{folder}/bulk.db"}, Path(folder),
               arguments.rows)
    if not arguments.no_postgres:
        schema = asyncio.run(postgres_schema(arguments.postgres))
        if schema is not None:
            from storage.db import drop_schema

            try:
                with tempfile.TemporaryDirectory() as folder:
                    run_on("PostgreSQL", {**base, "DATABASE_URL": arguments.postgres, "DATABASE_SCHEMA": schema},
                           Path(folder), arguments.rows)
            finally:
                asyncio.run(drop_schema(arguments.postgres, schema))
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
