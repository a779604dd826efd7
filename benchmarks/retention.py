"""The retention sweep at scale: how long it takes, and how long its longest transaction is.

    .venv/bin/python benchmarks/retention.py                     # SQLite in a temporary directory
    .venv/bin/python benchmarks/retention.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/bench

It stores `--chats` chats (half of them on a list, half of them left 40 days ago) and
`--broadcasts` finished broadcasts to all of them, 40 days old, so every delivery row is due to
become a count and half the chats are due for erasure. Then it runs the sweep's steps in their
batches exactly as `storage.retention.sweep` does, timing each batch's transaction, and checks
that every broadcast's counts are the same afterwards. What matters is the longest transaction
(how long the sweep can hold locks the bot is waiting for), not the total.

With --database-url on PostgreSQL, everything goes in a schema of its own, dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert, select

import storage.tables  # noqa: F401  (every table on the metadata, so erasure sees them all)
from storage import retention
from storage.broadcasts.deliveries import count_deliveries
from storage.broadcasts.tables import Broadcast, BroadcastStatus, Delivery, DeliveryStatus
from storage.db import Database, create_schema, drop_schema
from storage.lists.mailing_lists import create_list
from storage.lists.models import Chat, Subscription

KEEP_FOR = dt.timedelta(days=30)


async def populate(db: Database, *, chats: int, broadcast_count: int, now: dt.datetime) -> list[int]:
    long_ago = now - dt.timedelta(days=40)
    async with db.transaction() as session:
        mailing_list = await create_list(session, slug="bench", title="Benchmark")
        list_id = mailing_list.id
    for first in range(0, chats, 5000):
        rows = [{"telegram_id": 10_000_000 + n, "kind": "private", "active": True, "first_seen_at": long_ago,
                 "left_at": long_ago if n % 2 else None} for n in range(first, min(chats, first + 5000))]
        async with db.transaction() as session:
            await session.execute(insert(Chat), rows)
    async with db.transaction() as session:
        chat_ids = list(await session.scalars(select(Chat.id).order_by(Chat.id)))
        staying = [{"chat_id": chat_id, "list_id": list_id, "subscribed_at": long_ago}
                   for chat_id in chat_ids[0::2]]
        await session.execute(insert(Subscription), staying)
    broadcast_ids = []
    statuses = [DeliveryStatus.SENT.value] * 18 + [DeliveryStatus.BLOCKED.value, DeliveryStatus.FAILED.value]
    for number in range(broadcast_count):
        async with db.transaction() as session:
            broadcast = Broadcast(list_id=list_id, status=BroadcastStatus.DONE.value, text=f"Alert {number}",
                                  created_at=long_ago, started_at=long_ago, finished_at=long_ago,
                                  recipients=len(chat_ids))
            session.add(broadcast)
            await session.flush()
            broadcast_ids.append(broadcast.id)
            for first in range(0, len(chat_ids), 5000):
                await session.execute(insert(Delivery), [
                    {"broadcast_id": broadcast.id, "chat_id": chat_id, "status": statuses[index % len(statuses)]}
                    for index, chat_id in enumerate(chat_ids[first:first + 5000], start=first)])
    return broadcast_ids


async def all_counts(db: Database, broadcast_ids: list[int]) -> list[dict]:
    async with db.transaction() as session:
        return [await count_deliveries(session, broadcast_id=bid) for bid in broadcast_ids]


async def timed_batches(db: Database, step, batch_size: int) -> tuple[int, list[float]]:
    """As `retention._in_batches`, with each transaction timed."""
    total, durations = 0, []
    while True:
        started = time.perf_counter()
        async with db.transaction() as session:
            done = await step(session)
        durations.append(time.perf_counter() - started)
        total += done
        if done < batch_size:
            return total, durations


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", help="PostgreSQL URL (default: SQLite in a temporary directory)")
    parser.add_argument("--chats", type=int, default=20_000)
    parser.add_argument("--broadcasts", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=retention.DEFAULT_BATCH_SIZE)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as directory:
        url = args.database_url or f"sqlite+aiosqlite:///{directory}/retention.db"
        schema = None
        if args.database_url:
            schema = f"bench_{uuid.uuid4().hex[:12]}"
            await create_schema(url, schema)
        db = Database.from_url(url, schema=schema)
        try:
            await db.upgrade()
            now = dt.datetime.now(dt.UTC)
            broadcast_ids = await populate(db, chats=args.chats, broadcast_count=args.broadcasts, now=now)
            before = await all_counts(db, broadcast_ids)
            size = args.batch_size
            started = time.perf_counter()
            reduced, reduce_times = await timed_batches(
                db, lambda s: retention.reduce_old_deliveries(s, now=now, keep_for=KEEP_FOR, limit=size), size)
            erased, erase_times = await timed_batches(
                db, lambda s: retention.erase_departed_chats(s, now=now, keep_for=KEEP_FOR, limit=size), size)
            total = time.perf_counter() - started
            after = await all_counts(db, broadcast_ids)
            again = await retention.sweep(db, now=now, keep_for=KEEP_FOR, batch_size=size)
        finally:
            await db.dispose()
            if schema is not None:
                await drop_schema(url, schema)

    backend = "PostgreSQL" if args.database_url else "SQLite"
    print(f"{backend}: {args.chats:,} chats, {args.broadcasts} broadcasts, batches of {size}")
    print(f"  delivery rows reduced to counts: {reduced:,} in {len(reduce_times)} transactions, "
          f"median {statistics.median(reduce_times) * 1000:.0f} ms, longest {max(reduce_times) * 1000:.0f} ms")
    print(f"  chats erased: {erased:,} in {len(erase_times)} transactions, "
          f"median {statistics.median(erase_times) * 1000:.0f} ms, longest {max(erase_times) * 1000:.0f} ms")
    print(f"  whole sweep: {total:.1f} s ({reduced / total:,.0f} delivery rows a second)")
    print(f"  counts identical before and after: {before == after}")
    print(f"  a second sweep changed: {again.deliveries_reduced + again.chats_erased} rows")


if __name__ == "__main__":
    asyncio.run(main())
