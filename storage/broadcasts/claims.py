"""Claims: a delivery is marked SENDING, with the process that claimed it, just before that
process sends it, so several processes can share one broadcast and none sends a delivery twice.

After a crash, deliveries still claimed by a process that is no longer alive are the only ones
that may have been sent without being recorded: they go back in the queue, are sent again, and
count as possible duplicates.
"""

from __future__ import annotations

from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.broadcasts.deliveries import PendingDelivery, add_to_counters
from storage.broadcasts.tables import Broadcast, BroadcastStatus, Delivery, DeliveryStatus
from storage.db import few_shapes

# Core tables, for statements where the ORM's bookkeeping would cost more than the SQL.
_broadcasts = Broadcast.__table__
_deliveries = Delivery.__table__


async def requeue_interrupted_deliveries(session: AsyncSession, *, broadcast_id: int, alive: set[str]) -> int:
    """Deliveries claimed by a process not in `alive` (it stopped or died before recording them) go
    back in the queue.

    They may or may not have reached the person, so they count as possible duplicates. Claims
    of living processes are left alone: those processes are still sending them.
    """
    claimed_by_the_dead = and_(
        Delivery.broadcast_id == broadcast_id,
        Delivery.status == DeliveryStatus.SENDING.value,
        or_(Delivery.claimed_by.is_(None), Delivery.claimed_by.not_in(alive)),
    )
    result = await session.execute(
        update(Delivery).where(claimed_by_the_dead).values(status=DeliveryStatus.PENDING.value, claimed_by=None)
    )
    requeued = result.rowcount or 0
    if requeued:
        await session.execute(
            update(Broadcast).where(Broadcast.id == broadcast_id)
            .values(possible_duplicates=Broadcast.possible_duplicates + requeued)
        )
    return requeued


async def claimed_elsewhere(session: AsyncSession, *, broadcast_id: int) -> bool:
    """Whether any delivery of the broadcast is still claimed (by this or another process)."""
    return bool(await session.scalar(select(exists().where(
        Delivery.broadcast_id == broadcast_id, Delivery.status == DeliveryStatus.SENDING.value))))


async def claim_deliveries(session: AsyncSession, *, broadcast_id: int, deliveries: list[PendingDelivery],
                           claimer: str) -> list[PendingDelivery] | None:
    """Marks the reachable deliveries SENDING, those of chats that paused alerts PAUSED and the
    others SKIPPED, if the broadcast is still sending.

    Returns the deliveries this call claimed (the caller now sends exactly those), or None when
    the broadcast was paused, cancelled or deleted meanwhile (then nothing is changed).
    """
    # Core statements on the tables: this runs for every few messages, and the ORM's
    # bookkeeping would cost more than the SQL.
    status = await session.scalar(select(_broadcasts.c.status).where(_broadcasts.c.id == broadcast_id))
    if status != BroadcastStatus.SENDING.value:
        return None
    for settled, ids in ((DeliveryStatus.SKIPPED, [d.id for d in deliveries if not d.reachable]),
                         (DeliveryStatus.PAUSED, [d.id for d in deliveries if d.reachable and d.paused])):
        if ids:
            result = await session.execute(
                update(_deliveries).where(_deliveries.c.id.in_(few_shapes(ids)),
                                          _deliveries.c.status == DeliveryStatus.PENDING.value)
                .values(status=settled.value)
            )
            await add_to_counters(session, broadcast_id, {settled: result.rowcount or 0})
    wanted = [d.id for d in deliveries if d.reachable and not d.paused]
    if not wanted:
        return []
    # Only rows still PENDING are taken, so two processes never claim the same delivery. On
    # PostgreSQL, rows another process is claiming right now are skipped rather than waited for.
    still_pending = select(_deliveries.c.id).where(_deliveries.c.id.in_(few_shapes(wanted)),
                                                   _deliveries.c.status == DeliveryStatus.PENDING.value)
    if session.get_bind().dialect.name == "postgresql":
        still_pending = still_pending.with_for_update(skip_locked=True)
    result = await session.execute(
        update(_deliveries).where(_deliveries.c.id.in_(still_pending))
        .values(status=DeliveryStatus.SENDING.value, claimed_by=claimer)
        .returning(_deliveries.c.id)
    )
    claimed = set(result.scalars().all())
    return [d for d in deliveries if d.id in claimed]
