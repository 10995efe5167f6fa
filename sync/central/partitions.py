"""Years of events on PostgreSQL: `events` is partitioned by month of the event's own
time (`occurred_at`), partitions are made ahead, and retention drops whole partitions.

Why the event's time and not the time the centre received it: a store resends an event
it has no ack for, and the centre must store it once. The key that says "once" is the
event id, and PostgreSQL enforces a key on a partitioned table only if it holds the
partition column. The event's time travels with the event (a resend carries the same
envelope), so (event_id, occurred_at) catches every resend in one partition; a receive
time differs on each resend and would need a second, global table of every event id,
whose index of random UUIDs grows for years and is what slows inserts down (measured
in bench/bench_events_table.py).

Events whose month has no partition (a store offline for a long time, a clock far off)
land in `events_default`; before a month's partition is made, rows of that month are
moved out of the default (PostgreSQL refuses the partition otherwise).

SQLite, the embedded default, keeps one table; `prune` deletes rows there.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sync.central.db import CentralDb

log = logging.getLogger(__name__)

# Made ahead of time, so the month boundary never waits on DDL in the ingest path.
MONTHS_AHEAD = 3
# How often a worker checks that the partitions ahead exist: a running worker makes
# next month's long before it is needed.
MAINTAIN_SECONDS = 6 * 3600
DEFAULT_PARTITION = "events_default"
_NAME = re.compile(r"^events_y(\d{4})m(\d{2})$")


@dataclass(frozen=True)
class Pruned:
    dropped: tuple[str, ...]  # whole partitions
    deleted: int  # rows deleted one by one (default partition, or SQLite)


def month_start(at: datetime) -> datetime:
    return datetime(at.year, at.month, 1, tzinfo=UTC)


def next_month(start: datetime) -> datetime:
    return (start + timedelta(days=32)).replace(day=1)


def partition_name(start: datetime) -> str:
    return f"events_y{start.year:04d}m{start.month:02d}"


def ensure_partitions(execute: Any, now: datetime, months_ahead: int = MONTHS_AHEAD) -> list[str]:
    """Make the partitions from last month to `months_ahead` ahead that are missing;
    `execute(sql, params)` runs in the caller's transaction, which must hold the
    migration lock (sync.central.schema) so two workers never race on DDL. Returns
    the partitions made."""
    existing = {r[0] for r in execute(_PARTITIONS_SQL, []).fetchall()}
    made = []
    # From last month: events written just before midnight on the 1st still arrive.
    start = month_start(month_start(now) - timedelta(days=1))
    for _ in range(months_ahead + 2):
        name = partition_name(start)
        if name not in existing:
            _create(execute, name, start, next_month(start))
            made.append(name)
        start = next_month(start)
    return made


def maintain(db: CentralDb, now: datetime) -> list[str]:
    """On PostgreSQL, make the partitions due (this month and MONTHS_AHEAD ahead) under
    the migration lock; workers call it at start and every MAINTAIN_SECONDS."""
    if not db.postgres:
        return []
    from sync.central.schema import MIGRATION_LOCK_KEY

    with db.transaction():
        db.execute("SELECT pg_advisory_xact_lock(%s)", [MIGRATION_LOCK_KEY])
        made = ensure_partitions(db.execute, now)
    if made:
        log.info("made event partitions %s", made)
    return made


def create_month(execute: Any, start: datetime) -> str:
    """The partition for the month starting at `start` (used for back-fills)."""
    name = partition_name(start)
    _create(execute, name, start, next_month(start))
    return name


def prune(db: CentralDb, older_than: timedelta, now: datetime) -> Pruned:
    """Drop every partition wholly older than `now - older_than`, and delete older rows
    from the default partition (or from SQLite's one table)."""
    cutoff = now - older_than
    if not db.postgres:
        with db.transaction():
            deleted = db.execute(
                "DELETE FROM events WHERE occurred_at < %s", [cutoff.isoformat()]
            ).rowcount
        return Pruned((), deleted)
    from sync.central.schema import MIGRATION_LOCK_KEY

    dropped = []
    with db.transaction():
        # The same lock as migrations and partition making: DDL one worker at a time.
        db.execute("SELECT pg_advisory_xact_lock(%s)", [MIGRATION_LOCK_KEY])
        for (name,) in db.execute(_PARTITIONS_SQL, []).fetchall():
            found = _NAME.match(name)
            if found is None:
                continue
            start = datetime(int(found[1]), int(found[2]), 1, tzinfo=UTC)
            if next_month(start) <= cutoff:
                db.execute(f"DROP TABLE {name}")
                dropped.append(name)
        deleted = db.execute(
            f"DELETE FROM {DEFAULT_PARTITION} WHERE occurred_at < %s", [cutoff]
        ).rowcount
    if dropped or deleted:
        log.info("pruned events before %s: %s, %d rows", cutoff, dropped, deleted)
    return Pruned(tuple(dropped), deleted)


_PARTITIONS_SQL = (
    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
    " JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'events' ORDER BY 1"
)


def _create(execute: Any, name: str, start: datetime, end: datetime) -> None:
    # DDL takes no bind parameters; the bounds are our own datetimes, never input.
    bounds = f"FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
    stray = execute(
        f"SELECT 1 FROM {DEFAULT_PARTITION} WHERE occurred_at >= %s AND occurred_at < %s LIMIT 1",
        [start, end],
    ).fetchone()
    if stray is None:
        execute(f"CREATE TABLE {name} PARTITION OF events FOR VALUES {bounds}", [])
        return
    # Rows of this month already sit in the default partition: PostgreSQL refuses the
    # new partition until they are out of it. Move them within this transaction.
    execute(f"CREATE TABLE {name} (LIKE events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)", [])
    execute(
        f"WITH moved AS (DELETE FROM {DEFAULT_PARTITION} WHERE occurred_at >= %s"
        f" AND occurred_at < %s RETURNING *) INSERT INTO {name} SELECT * FROM moved",
        [start, end],
    )
    execute(f"ALTER TABLE events ATTACH PARTITION {name} FOR VALUES {bounds}", [])
