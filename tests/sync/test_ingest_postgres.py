"""The centre's ingest on PostgreSQL: the fast path (COPY) and its fallback for resends,
and two workers writing the same devices' events at the same instant."""

from __future__ import annotations

import pytest

from sync.central.db import CentralDb
from sync.central.ingest import ingest_batch
from sync.protocol.acks import parse_ack
from sync.protocol.batches import split_batch
from tests.at_once import run_at_once
from tests.delivery.conftest import source, store_events
from tests.sync.postgres import postgres_url, rows  # noqa: F401 - the fixture

PREFIX = "retail/v1"


@pytest.fixture
def db(postgres_url):  # noqa: F811
    db = CentralDb(postgres_url)
    db.create_schema()
    yield db
    db.close()


def test_a_batch_holding_a_resend_stores_the_new_events_once_and_counts_the_repeat(db):
    first = store_events("store-a", "till-1", [1, 2, 3])
    assert ingest_batch(db, PREFIX, first).inserted == 3
    # The store resends seq 3 (its ack was lost) with two new events behind it.
    topic, payload = first[0]
    ((_, seq3),) = [
        (e, text) for e, text in split_batch(payload.decode()) if e["sequence"].endswith("3")
    ]
    later = [
        text for _, text in split_batch(store_events("store-a", "till-1", [4, 5])[0][1].decode())
    ]
    mixed = [(topic, ("[" + ",".join([seq3, *later]) + "]").encode())]
    result = ingest_batch(db, PREFIX, mixed)
    assert (result.inserted, result.duplicates) == (2, 1)
    (count, highest) = db.execute(
        "SELECT COUNT(*), MAX(seq) FROM events WHERE source = %s", [source("store-a", "till-1")]
    ).fetchone()
    assert (count, highest) == (5, 5)
    # Every seq of the batch is acked, the repeat too: the store may forget it.
    ack = parse_ack(result.acks["store-a"].payload())
    assert list(ack.ranges) == [(source("store-a", "till-1"), 3, 5)]


def test_two_workers_writing_the_same_devices_at_once_store_each_event_once(postgres_url):  # noqa: F811
    setup = CentralDb(postgres_url)
    setup.create_schema()
    setup.close()
    stores = [f"store-{n:02d}" for n in range(12)]
    batches = [store_events(s, "till-1", list(range(1, 41))) for s in stores]
    messages = [m for batch in batches for m in batch]

    def worker(order: list) -> object:
        db = CentralDb(postgres_url)
        try:
            return ingest_batch(db, PREFIX, order)
        finally:
            db.close()

    # Both take every store, in opposite orders: the same rows locked from both ends,
    # the same events written twice at the same instant.
    results = run_at_once(lambda: worker(messages), lambda: worker(messages[::-1]))
    errors = [r for r in results if isinstance(r, Exception)]
    assert not errors, errors
    assert sum(r.inserted for r in results) == len(stores) * 40  # type: ignore[attr-defined]
    assert rows(postgres_url, "SELECT COUNT(*), COUNT(DISTINCT event_id) FROM events") == [
        (len(stores) * 40, len(stores) * 40)
    ]
    marks = rows(postgres_url, "SELECT contiguous_seq, max_seq FROM sources")
    assert marks == [(40, 40)] * len(stores)
