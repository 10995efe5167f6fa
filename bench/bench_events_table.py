"""Ingest into a PostgreSQL `events` table that already holds years of events, against
the same ingest into the empty table, measured in the same run (target ratio >= 0.8).

The centre's own ingest (`sync.central.ingest.ingest_batch`, as a worker calls it: one
commit per group of store batches) writes N new events from 100 stores; then the table
is filled with FILL events spread over the past year (INSERT ... SELECT generate_series,
one row per event with a 430-byte envelope, every index in place), checkpointed, and the
same number of new events is written again.

Run: `.venv/bin/python -m bench.bench_events_table` (10 M events in the table, 100 k
written), `--quick` for 1 M / 50 k.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta

import psycopg

from bench.stats import report
from sync.central import partitions, schema
from sync.central.db import CentralDb
from sync.central.ingest import ingest_batch
from sync.protocol.topics import StoreTopics

POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
STORES = 100
# As a store sends them (sync.protocol.batches) and a worker groups them under a burst
# (sync.central.service: up to 4 MiB per commit).
EVENTS_PER_MESSAGE = 200
MESSAGES_PER_COMMIT = 20
# Rows per INSERT ... SELECT while filling: one transaction each, so the fill's WAL
# does not pile up in one.
FILL_CHUNK = 1_000_000
ROUNDS = 3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 M in the table, 50 k written")
    parser.add_argument("--fill", type=int, help="events already in the table")
    parser.add_argument("--events", type=int, help="events written in each measured run")
    args = parser.parse_args()
    fill = args.fill or (1_000_000 if args.quick else 10_000_000)
    count = args.events or (50_000 if args.quick else 100_000)
    empty_url, full_url = new_database(), new_database()
    try:
        print(f"events table benchmark: {count} events written per run, {fill} in the table")
        started = time.perf_counter()
        fill_table(full_url, fill)
        print(f"  filled {fill} events in {time.perf_counter() - started:.0f} s")
        # Alternating, so a neighbour's load on a shared machine hits both alike.
        empty, full = [], []
        for _ in range(ROUNDS):
            empty.append(ingest_rate(empty_url, count))
            full.append(ingest_rate(full_url, count))
        print(f"  empty table: {', '.join(f'{r:.0f}' for r in empty)} ev/s")
        print(f"  {fill / 1e6:g} M events: {', '.join(f'{r:.0f}' for r in full)} ev/s")
        label = f"ingest into {fill / 1e6:g} M events vs empty"
        print(report(label, statistics.median(full), statistics.median(empty), "ev/s", "higher"))
        print(
            f"  ours: {count} events from {STORES} stores, {EVENTS_PER_MESSAGE} per message,"
            f" {MESSAGES_PER_COMMIT} messages per commit, into the table holding {fill}"
            " events over the past year (monthly partitions, every index in place);"
            f" median of {ROUNDS} runs"
        )
        print(
            "  reference: the same ingest into a table holding only the earlier runs' events,"
            " alternating with ours; median of the same number of runs"
        )
    finally:
        for url in (empty_url, full_url):
            with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]} WITH (FORCE)")


def new_database() -> str:
    name = f"bench_events_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    schema.migrate(url)
    return url


def ingest_rate(url: str, count: int) -> float:
    messages = list(store_messages(count))
    db = CentralDb(url)
    try:
        started = time.perf_counter()
        written = 0
        for at in range(0, len(messages), MESSAGES_PER_COMMIT):
            written += ingest_batch(
                db, "retail/v1", messages[at : at + MESSAGES_PER_COMMIT]
            ).inserted
        elapsed = time.perf_counter() - started
    finally:
        db.close()
    assert written == count, f"{written} of {count} written"
    return count / elapsed


def store_messages(count: int):  # type: ignore[no-untyped-def]
    """`count` new events: each store's next batches from a device not seen before."""
    now = datetime.now(UTC)
    per_store = count // STORES
    for store in range(STORES):
        store_id = f"bench-{store}"
        source = f"/stores/{store_id}/devices/{uuid.uuid4().hex[:8]}"
        topic = StoreTopics("retail/v1", store_id).events
        for first in range(1, per_store + 1, EVENTS_PER_MESSAGE):
            last = min(first + EVENTS_PER_MESSAGE, per_store + 1)
            batch = [event(source, seq, now) for seq in range(first, last)]
            yield topic, json.dumps(batch).encode()


def event(source: str, seq: int, at: datetime) -> dict:
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": source,
        "type": "scan.recorded",
        "time": at.isoformat(timespec="microseconds").replace("+00:00", "Z"),
        "sequence": seq,
        "dataschema": "urn:edge-agent:schema:scan.recorded:1",
        "data": {
            "source": "lane-1",
            "symbology": "]E0",
            "kind": "gtin",
            "outcome": "product",
            "value": str(seq),
            "scanned_at": "2026-11-29T10:00:00.000000Z",
        },
    }


def fill_table(url: str, fill: int) -> None:
    """`fill` events over the past 365 days, from 5,000 stores, into monthly partitions
    that are then attached with every index built (a bulk load; the same table, indexes
    and partitions as the migrations make, only faster to get to)."""
    now = datetime.now(UTC)
    first_day = now - timedelta(days=365)
    months = []
    start = partitions.month_start(first_day)
    while start <= partitions.month_start(now) + timedelta(days=31 * partitions.MONTHS_AHEAD):
        months.append(start)
        start = partitions.next_month(start)
    with psycopg.connect(url, autocommit=True) as conn:
        for month in months:
            name = partitions.partition_name(month)
            conn.execute(f"DROP TABLE IF EXISTS {name}")  # empty, made by the migration
            conn.execute(f"CREATE TABLE {name} (LIKE events INCLUDING DEFAULTS)")
            low, high = max(month, first_day), min(partitions.next_month(month), now)
            rows = int(fill * max((high - low).total_seconds(), 0) / (365 * 86400))
            if rows:
                conn.execute(
                    f"INSERT INTO {name} (event_id, store_id, source, seq, type, time,"
                    " envelope, received_at, occurred_at)"
                    " SELECT gen_random_uuid()::text, 'fill-' || (i %% 5000),"
                    " '/stores/fill-' || (i %% 5000) || '/devices/till-1', i / 5000 + 1,"
                    " 'scan.recorded', '', repeat('x', 430), '', %s + random() * (%s - %s)"
                    " FROM generate_series(1, %s) AS i",
                    [low, high, low, rows],
                )
            bounds = (
                f"FROM ('{month.isoformat()}') TO ('{partitions.next_month(month).isoformat()}')"
            )
            conn.execute(f"ALTER TABLE events ATTACH PARTITION {name} FOR VALUES {bounds}")
        conn.execute("VACUUM ANALYZE events")
        conn.execute("CHECKPOINT")


if __name__ == "__main__":
    main()
