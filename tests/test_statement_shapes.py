"""Issue 16: the broadcast's hot statements come in a dozen shapes, whatever the batch sizes, so
the database driver's cache of prepared statements (per connection) stays small through a large
broadcast (`storage.db.few_shapes`; benchmarks/footprint.py measures the memory)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import event, func, select

from storage.broadcasts.claims import claim_deliveries
from storage.broadcasts.deliveries import DeliveryOutcome, pending_deliveries, record_outcomes
from storage.broadcasts.status import create_broadcast
from storage.broadcasts.tables import Delivery, DeliveryStatus
from storage.db import few_shapes
from tests.builders import make_list, subscribe

NOW = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)
RECIPIENTS = 120


def test_an_in_list_is_padded_with_its_last_value_to_a_power_of_two():
    assert few_shapes([]) == [] and few_shapes([7]) == [7]
    assert few_shapes([1, 2, 3]) == [1, 2, 3, 3]
    assert few_shapes(list(range(5))) == [0, 1, 2, 3, 4, 4, 4, 4]
    assert len(few_shapes(list(range(1000)))) == 1024
    long = list(range(5000))
    assert few_shapes(long) == long  # longer than any batch: as it is


async def test_batches_of_every_length_use_a_few_statements_and_record_each_delivery_once(database):
    mailing_list = await make_list(database, "shapes", "Shapes")
    for n in range(RECIPIENTS):
        await subscribe(database, 7_000_000 + n, "shapes")
    async with database.transaction() as session:
        broadcast = await create_broadcast(session, list_id=mailing_list.id, text="Hello", created_by=None, now=NOW)

    statements: set[str] = set()

    def seen(_connection, _cursor, statement, *_args) -> None:
        if statement.lstrip().upper().startswith("UPDATE DELIVERIES"):
            statements.add(statement)

    event.listen(database.engine.sync_engine, "before_cursor_execute", seen)
    after_id, size = 0, 1
    try:
        while True:
            async with database.transaction() as session:
                page = await pending_deliveries(session, broadcast_id=broadcast.id, after_id=after_id,
                                                limit=size, now=NOW)
                if not page:
                    break
                claimed = await claim_deliveries(session, broadcast_id=broadcast.id, deliveries=page, claimer="me")
            async with database.transaction() as session:
                await record_outcomes(session, outcomes=[
                    DeliveryOutcome(broadcast.id, d.id, d.telegram_id, DeliveryStatus.SENT) for d in claimed])
            after_id, size = page[-1].id, size + 1  # 1, 2, 3 ... 15: fifteen batch lengths
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", seen)
    async with database.transaction() as session:
        sent = await session.scalar(select(func.count()).select_from(Delivery).where(
            Delivery.broadcast_id == broadcast.id, Delivery.status == DeliveryStatus.SENT.value))
    assert sent == RECIPIENTS
    # Two statements (claim, record), each in five lengths (1, 2, 4, 8, 16), not fifteen.
    assert len(statements) <= 10, len(statements)
