"""The transactional outbox: an event is written in the same transaction as the change
it describes, so the centre hears of every change the store kept and of nothing else."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from sync.protocol.batches import stamp_sequence
from sync.protocol.chain import CHAIN_ATTRIBUTE, GENESIS, event_hash
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
    # The newest seq handed out: with depth 0, the centre must hold every seq up to it
    # (else events were removed from this device), see sync.central.integrity.
    newest_seq: int = 0


def append_event(
    db: Database,
    origin: EventOrigin,
    event_type: str,
    subject: str | None,
    data: dict[str, Any],
    at: datetime,
) -> int:
    """Add one event; must be called inside the caller's write transaction. Returns seq.

    The event carries the hash of the newest row's event (the chain); its seq is the
    next after the newest row, which is never pruned, so no seq is handed out twice."""
    if not db.conn.in_transaction:
        raise RuntimeError("append_event must run inside the transaction of its change")
    newest = db.conn.execute(
        "SELECT seq, chain_hash FROM outbox ORDER BY seq DESC LIMIT 1"
    ).fetchone()
    seq = 1 if newest is None else int(newest[0]) + 1
    event = build_event(
        event_type=event_type,
        store_id=origin.store_id,
        device_id=origin.device_id,
        subject=subject,
        data=data,
        at=at,
    )
    event[CHAIN_ATTRIBUTE] = (newest[1] if newest is not None else None) or GENESIS
    envelope = _ENCODER.encode(event)
    # The raw connection: this runs in every till write, and sqlite-utils' execute()
    # wrapper costs a few microseconds of Python that buy nothing here.
    db.conn.execute(
        "INSERT INTO outbox (seq, event_id, type, subject, created_at, envelope, chain_hash)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        [seq, event["id"], event_type, subject, event["time"], envelope,
         event_hash(stamp_sequence(envelope, seq))],
    )  # fmt: skip
    return seq


def outbox_stats(db: Database) -> OutboxStats:
    # One statement: the three figures come from the same snapshot.
    depth, oldest, newest = db.execute(
        "SELECT COUNT(*), MIN(created_at), (SELECT MAX(seq) FROM outbox) FROM outbox"
        " WHERE acked_at IS NULL"
    ).fetchone()
    age = None if oldest is None else (utc_now() - from_iso(oldest)).total_seconds()
    return OutboxStats(depth=depth, oldest_age_seconds=age, newest_seq=newest or 0)


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
