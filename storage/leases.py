"""Leases: at most one process at a time does a job (runs the scheduler), and another takes over
within seconds of the holder dying.

A lease is a row with a holder and an expiry. The holder renews it well before it expires;
anyone may take it once it has expired. This works the same on SQLite and PostgreSQL, and
survives a holder killed with SIGKILL (its lease simply runs out), which a session-bound
advisory lock would also do but only on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Column, String, delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel

from storage.db import UTCDateTime

# The worker leases and the scheduler lease (bot/engines/leadership.py): a dead holder is replaced
# within LEASE_TTL, and a live one renews every RENEW_EVERY, three tries within one lifetime.
LEASE_TTL = dt.timedelta(seconds=6)
RENEW_EVERY = 2.0  # seconds
# Long after any process could still be requeueing what a dead one claimed.
FORGET_DEAD_WORKERS_AFTER = dt.timedelta(days=1)


class Lease(SQLModel, table=True):
    __tablename__ = "leases"

    name: str = Field(sa_column=Column(String(64), primary_key=True))
    holder: str = Field(sa_column=Column(String(128), nullable=False))
    expires_at: dt.datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


async def take_or_renew_lease(session: AsyncSession, *, name: str, holder: str, now: dt.datetime,
                              ttl: dt.timedelta) -> bool:
    """True if `holder` holds the lease `name` until now + ttl; False if someone else does."""
    renewed = await session.execute(
        update(Lease)
        .where(Lease.name == name, or_(Lease.holder == holder, Lease.expires_at < now))
        .values(holder=holder, expires_at=now + ttl)
    )
    if renewed.rowcount == 1:
        return True
    try:
        async with session.begin_nested():
            session.add(Lease(name=name, holder=holder, expires_at=now + ttl))
        return True
    except IntegrityError:
        return False


async def release_lease(session: AsyncSession, *, name: str, holder: str) -> None:
    """Give the lease up at a clean shutdown, so a successor need not wait for it to expire."""
    await session.execute(
        update(Lease)
        .where(Lease.name == name, Lease.holder == holder)
        .values(expires_at=dt.datetime(1970, 1, 1, tzinfo=dt.UTC))
    )


async def lease_holder(session: AsyncSession, *, name: str, now: dt.datetime) -> str | None:
    lease = await session.get(Lease, name)
    if lease is None or lease.expires_at < now:
        return None
    return lease.holder


def worker_lease_name(holder: str) -> str:
    """Each running process holds a lease of its own, so others can tell it is alive."""
    return f"worker:{holder}"


async def live_workers(session: AsyncSession, *, now: dt.datetime) -> set[str]:
    """The holders of unexpired worker leases: the processes known to be running now."""
    rows = await session.scalars(select(Lease.holder).where(Lease.name.like("worker:%"), Lease.expires_at >= now))
    return set(rows)


async def forget_dead_workers(session: AsyncSession, *, expired_before: dt.datetime) -> None:
    """Worker leases of processes long gone: once nothing they claimed can be waiting, drop them."""
    await session.execute(delete(Lease).where(Lease.name.like("worker:%"), Lease.expires_at < expired_before))
