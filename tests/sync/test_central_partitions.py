"""Years of events: on PostgreSQL, `events` partitioned by month, made ahead, a resend
still stored once, old months dropped whole by `edge-central prune`."""

from __future__ import annotations

import json
import subprocess
import uuid
from datetime import UTC, datetime, timedelta

import psycopg

from sync.central import partitions, schema
from sync.central.db import CentralDb
from sync.central.ingest import ingest_batch
from sync.protocol.batches import build_batches
from sync.protocol.envelope import build_event
from sync.protocol.topics import StoreTopics
from tests.sync.conftest import EDGE_CENTRAL, scan_data
from tests.sync.postgres import rows

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def event(store: str, seq: int, at: datetime, event_id: str | None = None) -> dict:
    body = build_event(
        event_type="scan.recorded",
        store_id=store,
        device_id="till-1",
        subject=None,
        data=scan_data(seq),
        at=at,
        event_id=event_id or str(uuid.uuid4()),
    )
    return {**body, "sequence": seq}


def ingest(db: CentralDb, store: str, events: list[dict]):  # type: ignore[no-untyped-def]
    topic = StoreTopics("retail/v1", store).events
    payloads = [json.dumps(e).encode() for e in events]
    return ingest_batch(db, "retail/v1", [(topic, p) for p in payloads])


def partition_of(url: str, event_id: str) -> str:
    return rows(url, f"SELECT tableoid::regclass::text FROM events WHERE event_id = '{event_id}'")[
        0
    ][0]


def test_events_land_in_their_month_and_a_resend_is_stored_once(postgres_url):
    schema.migrate(postgres_url)
    db = CentralDb(postgres_url)
    try:
        with db.transaction():
            partitions.ensure_partitions(db.execute, NOW)
        this_month = event("s1", 1, NOW)
        last_month = event("s1", 2, NOW - timedelta(days=30))
        long_ago = event("s1", 3, NOW - timedelta(days=400))  # no partition: the default
        first = ingest(db, "s1", [this_month, last_month, long_ago])
        again = ingest(db, "s1", [this_month, last_month, long_ago])  # acks lost: resent
    finally:
        db.close()
    assert (first.inserted, again.inserted, again.duplicates) == (3, 0, 3)
    assert partition_of(postgres_url, this_month["id"]) == "events_y2026m12"
    assert partition_of(postgres_url, last_month["id"]) == "events_y2026m11"
    assert partition_of(postgres_url, long_ago["id"]) == "events_default"
    assert rows(postgres_url, "SELECT COUNT(*) FROM events") == [(3,)]


def test_a_month_made_later_takes_its_rows_out_of_the_default_partition(postgres_url):
    schema.migrate(postgres_url)
    early = event("s1", 1, NOW + timedelta(days=200))  # a clock months ahead
    db = CentralDb(postgres_url)
    try:
        ingest(db, "s1", [early])
        assert partition_of(postgres_url, early["id"]) == "events_default"
        made = partitions.maintain(db, NOW + timedelta(days=120))  # months later
        again = ingest(db, "s1", [early])
    finally:
        db.close()
    assert "events_y2027m06" in made
    assert partition_of(postgres_url, early["id"]) == "events_y2027m06"
    assert again.duplicates == 1  # still found once moved
    assert rows(postgres_url, "SELECT COUNT(*) FROM events") == [(1,)]


def test_workers_make_the_months_ahead_once_however_many_start(postgres_url):
    schema.migrate(postgres_url)
    now = datetime.now(UTC)
    db = CentralDb(postgres_url)
    try:
        partitions.maintain(db, now)
        assert partitions.maintain(db, now) == []  # a second worker finds them made
    finally:
        db.close()
    names = {r[0] for r in rows(postgres_url, "SELECT relname FROM pg_class")}
    start = partitions.month_start(now)
    for _ in range(partitions.MONTHS_AHEAD + 1):
        assert partitions.partition_name(start) in names
        start = partitions.next_month(start)


def test_prune_drops_whole_old_months_and_old_default_rows(postgres_url):
    schema.migrate(postgres_url)
    db = CentralDb(postgres_url)
    old = datetime.now(UTC) - timedelta(days=100)
    try:
        with db.transaction():
            partitions.create_month(db.execute, partitions.month_start(old))
        kept = event("s1", 1, datetime.now(UTC))
        dropped = event("s1", 2, old)
        ancient = event("s1", 3, old - timedelta(days=400))  # in the default partition
        ingest(db, "s1", [kept, dropped, ancient])
    finally:
        db.close()
    result = subprocess.run(
        [EDGE_CENTRAL, "prune", "--db", postgres_url, "--older-than", "45"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    name = partitions.partition_name(partitions.month_start(old))
    assert result.stdout.strip() == f"dropped partitions: {name}; deleted 1 older event(s)"
    assert rows(postgres_url, "SELECT event_id FROM events") == [(kept["id"],)]
    assert name not in {r[0] for r in rows(postgres_url, "SELECT relname FROM pg_class")}


def test_prune_deletes_old_rows_on_sqlite(tmp_path):
    url = f"sqlite://{tmp_path / 'central.sqlite3'}"
    db = CentralDb(url)
    try:
        db.create_schema()
        kept = event("s1", 1, datetime.now(UTC))
        ingest(db, "s1", [kept, event("s1", 2, datetime.now(UTC) - timedelta(days=50))])
        pruned = partitions.prune(db, timedelta(days=45), datetime.now(UTC))
        left = db.execute("SELECT event_id FROM events").fetchall()
    finally:
        db.close()
    assert (pruned.dropped, pruned.deleted) == ((), 1)
    assert left == [(kept["id"],)]


def test_per_store_queries_use_the_store_index_and_one_month(postgres_url):
    schema.migrate(postgres_url)
    with psycopg.connect(postgres_url) as conn:
        conn.execute("SET enable_seqscan = off")  # a tiny table: ask what serves the query
        plan = "\n".join(
            r[0]
            for r in conn.execute(
                "EXPLAIN SELECT envelope FROM events WHERE store_id = 's1'"
                " AND occurred_at >= '2026-12-01' AND occurred_at < '2026-12-06'"
            )
        )
    assert "events_y2026m12" in plan and "events_y2026m11" not in plan  # one month read
    assert "store_id_occurred_at_idx" in plan


def test_a_database_with_events_is_partitioned_with_them(postgres_url):
    from alembic import command

    engine = schema._engine(postgres_url)
    with engine.connect() as conn, conn.begin():
        config = schema._config()
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
        conn.exec_driver_sql(
            "INSERT INTO events VALUES ('old-1', 's1', '/stores/s1/devices/d', 1,"
            " 'scan.recorded', '2025-03-04T05:06:07.000000Z', '{}', '2025-03-04T05:06:08Z')"
        )
    engine.dispose()
    schema.migrate(postgres_url)
    assert partition_of(postgres_url, "old-1") == "events_y2025m03"
    assert rows(postgres_url, "SELECT occurred_at FROM events") == [
        (datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC),)
    ]


def test_batched_events_are_partitioned_too(postgres_url):
    schema.migrate(postgres_url)
    events = [event("s1", n, NOW - timedelta(days=31 * (n % 2))) for n in range(1, 11)]
    # As the store sends them: the sequence is stamped into each envelope by the batch.
    batches = build_batches([(e.pop("sequence"), json.dumps(e)) for e in events])
    db = CentralDb(postgres_url)
    try:
        topic = StoreTopics("retail/v1", "s1").events
        with db.transaction():
            partitions.ensure_partitions(db.execute, NOW)
        result = ingest_batch(db, "retail/v1", [(topic, b.payload) for b in batches])
    finally:
        db.close()
    assert result.inserted == 10
    counts = rows(postgres_url, "SELECT tableoid::regclass::text, COUNT(*) FROM events GROUP BY 1")
    assert sorted(counts) == [("events_y2026m11", 5), ("events_y2026m12", 5)]


def test_an_event_time_without_an_offset_is_refused_not_guessed(postgres_url):
    schema.migrate(postgres_url)
    naive = {**event("s1", 1, NOW), "time": "2026-12-06T12:00:00"}
    db = CentralDb(postgres_url)
    try:
        result = ingest(db, "s1", [naive])
    finally:
        db.close()
    assert (result.inserted, result.rejected) == (0, 1)
    reason = rows(postgres_url, "SELECT reason FROM rejected_events")[0][0]
    assert reason == "time '2026-12-06T12:00:00' is not an RFC 3339 time with an offset"


def test_an_event_time_past_the_end_of_utc_is_refused_and_the_rest_stored(postgres_url):
    schema.migrate(postgres_url)
    # 9999-12-31 23:00 at UTC-5 is in year 10000 in UTC: no datetime holds it.
    beyond = {**event("s1", 1, NOW), "time": "9999-12-31T23:00:00-05:00"}
    db = CentralDb(postgres_url)
    try:
        result = ingest(db, "s1", [beyond, event("s1", 2, NOW)])
    finally:
        db.close()
    assert (result.inserted, result.rejected) == (1, 1)
    reason = rows(postgres_url, "SELECT reason FROM rejected_events")[0][0]
    assert reason == "time '9999-12-31T23:00:00-05:00' is out of range in UTC"
