"""The transactional outbox: an event is written in the same transaction as the change
it describes, so the centre hears of every change the store kept and of nothing else."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlite_utils import Database

from sync.protocol.clock import from_iso, utc_now
from sync.protocol.envelope import build_event

# Which acknowledged rows may be deleted: all but the newest row. SQLite numbers a new
# row after the highest seq present (the outbox has no AUTOINCREMENT, see
# migrations.OUTBOX_SEQUENCE), so keeping the newest row is what keeps a seq from ever
# being handed out twice; the centre orders and spots gaps per device by seq.
PRUNABLE = "acked_at IS NOT NULL AND seq < (SELECT MAX(seq) FROM outbox)"


# One encoder for every event: json.dumps with options builds a new one per call, a
# cost paid inside every till write.
_ENCODER = json.JSONEncoder(ensure_ascii=False)


@dataclass(frozen=True)
class EventOrigin:
    """Who emits: the store and the device the agent runs on."""

    store_id: str
    device_id: str


@dataclass(frozen=True)
class OutboxStats:
    depth: int
    oldest_age_seconds: float | None


def append_event(
    db: Database,
    origin: EventOrigin,
    event_type: str,
    subject: str | None,
    data: dict[str, Any],
    at: datetime,
) -> int:
    """Add one event; must be called inside the caller's write transaction. Returns seq."""
    if not db.conn.in_transaction:
        raise RuntimeError("append_event must run inside the transaction of its change")
    event = build_event(
        event_type=event_type,
        store_id=origin.store_id,
        device_id=origin.device_id,
        subject=subject,
        data=data,
        at=at,
    )
    # The raw connection: this runs in every till write, and sqlite-utils' execute()
    # wrapper costs a few microseconds of Python that buy nothing here.
    cursor = db.conn.execute(
        "INSERT INTO outbox (event_id, type, subject, created_at, envelope) VALUES (?, ?, ?, ?, ?)",
        [event["id"], event_type, subject, event["time"], _ENCODER.encode(event)],
    )
    return int(cursor.lastrowid or 0)


def event_state(db: Database, seq: int) -> Literal["queued", "acked", "parked"]:
    """Where the event appended as `seq` is: waiting to go, taken by the centre, or
    parked (refused). A row pruned after its ack is "acked"."""
    row = db.execute("SELECT acked_at, parked_reason FROM outbox WHERE seq = ?", [seq]).fetchone()
    if row is None or row[0] is not None:
        return "acked"
    return "parked" if row[1] is not None else "queued"


def outbox_stats(db: Database) -> OutboxStats:
    depth, oldest = db.execute(
        "SELECT COUNT(*), MIN(created_at) FROM outbox WHERE acked_at IS NULL"
    ).fetchone()
    age = None if oldest is None else (utc_now() - from_iso(oldest)).total_seconds()
    return OutboxStats(depth=depth, oldest_age_seconds=age)


def pending_events(db: Database, limit: int = 100) -> list[dict[str, Any]]:
    """Unacknowledged events in store order, each with its `sequence` stamped."""
    rows = db.execute(
        "SELECT seq, envelope FROM outbox WHERE acked_at IS NULL ORDER BY seq LIMIT ?", [limit]
    ).fetchall()
    events = []
    for seq, envelope in rows:
        event = json.loads(envelope)
        event["sequence"] = str(seq)
        events.append(event)
    return events
