"""The scheduler lease: one holder at a time, renewable, taken over once it expires."""

from __future__ import annotations

import asyncio
import datetime as dt

from storage.leases import lease_holder, release_lease, take_or_renew_lease

T0 = dt.datetime(2018, 3, 21, 7, 0, tzinfo=dt.UTC)
TTL = dt.timedelta(seconds=5)


async def take(db, holder: str, now: dt.datetime) -> bool:
    async with db.transaction() as session:
        return await take_or_renew_lease(session, name="scheduler", holder=holder, now=now, ttl=TTL)


async def test_one_holder_at_a_time_and_takeover_after_expiry(database):
    assert await take(database, "a", T0)
    assert not await take(database, "b", T0 + dt.timedelta(seconds=1))
    assert await take(database, "a", T0 + dt.timedelta(seconds=4))  # renewed until T0+9s
    assert not await take(database, "b", T0 + dt.timedelta(seconds=8))
    assert await take(database, "b", T0 + dt.timedelta(seconds=10))  # a died: its lease ran out
    assert not await take(database, "a", T0 + dt.timedelta(seconds=11))
    async with database.transaction() as session:
        assert await lease_holder(session, name="scheduler", now=T0 + dt.timedelta(seconds=11)) == "b"


async def test_release_hands_over_at_once(database):
    assert await take(database, "a", T0)
    async with database.transaction() as session:
        await release_lease(session, name="scheduler", holder="a")
    assert await take(database, "b", T0 + dt.timedelta(seconds=1))


async def test_racing_takers_get_exactly_one_lease(database):
    results = await asyncio.gather(*(take(database, f"p{n}", T0) for n in range(8)))
    assert results.count(True) == 1
