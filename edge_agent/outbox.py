"""The transactional outbox: an event is written in the same transaction as the change
it describes, so the centre hears of every change the store kept and of nothing else.

This module owns the `outbox` table. The publisher (`sync.publisher`) drains it through
the functions below: read what is unsent, mark what the centre acknowledged, park what
the broker or the centre refused; nothing else writes its SQL.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlite_utils import Database

from sync.protocol.chain import CHAIN_ATTRIBUTE, GENESIS, event_hash
from sync.protocol.clock import from_iso, utc_now
from sync.protocol.envelope import build_event, sequence_text

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
    event = {
        # Stored as it goes on the wire (sequence first, see stamp_sequence), so the hash
        # is of exactly the text the centre receives.
        "sequence": sequence_text(seq),
        **build_event(
            event_type=event_type,
            store_id=origin.store_id,
            device_id=origin.device_id,
            subject=subject,
            data=data,
            at=at,
        ),
        CHAIN_ATTRIBUTE: (newest[1] if newest is not None else None) or GENESIS,
    }
    envelope = _ENCODER.encode(event)
    # The raw connection: this runs in every till write, and sqlite-utils' execute()
    # wrapper costs a few microseconds of Python that buy nothing here.
    db.conn.execute(
        "INSERT INTO outbox (seq, event_id, type, subject, created_at, envelope, chain_hash)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        [seq, event["id"], event_type, subject, event["time"], envelope,
         event_hash(envelope)],
    )  # fmt: skip
    return seq


def event_id_at(db: Database, seq: int) -> str:
    """The id of the event appended as `seq` (inside the transaction that appended it)."""
    return str(db.execute("SELECT event_id FROM outbox WHERE seq = ?", [seq]).fetchone()[0])


def event_state(db: Database, seq: int) -> Literal["queued", "acked", "parked"]:
    """Where the event appended as `seq` is: waiting to go, taken by the centre, or
    parked (refused). A row pruned after its ack is "acked"."""
    row = db.execute("SELECT acked_at, parked_reason FROM outbox WHERE seq = ?", [seq]).fetchone()
    if row is None or row[0] is not None:
        return "acked"
    return "parked" if row[1] is not None else "queued"


def outbox_stats(db: Database) -> OutboxStats:
    # One statement: the three figures come from the same snapshot.
    depth, oldest, newest = db.execute(
        "SELECT COUNT(*), MIN(created_at), (SELECT MAX(seq) FROM outbox) FROM outbox"
        " WHERE acked_at IS NULL"
    ).fetchone()
    age = None if oldest is None else (utc_now() - from_iso(oldest)).total_seconds()
    return OutboxStats(depth=depth, oldest_age_seconds=age, newest_seq=newest or 0)


def unsent_events(db: Database, after_seq: int, limit: int) -> list[tuple[int, str]]:
    """(seq, envelope) of events after `after_seq` neither acknowledged nor parked, in
    store order."""
    return db.conn.execute(
        "SELECT seq, envelope FROM outbox WHERE seq > ? AND acked_at IS NULL"
        " AND parked_reason IS NULL ORDER BY seq LIMIT ?",
        [after_seq, limit],
    ).fetchall()


def mark_acked(db: Database, first: int, last: int, at: str) -> int:
    """The centre committed events `first`..`last`; returns how many were new to us."""
    return db.conn.execute(
        "UPDATE outbox SET acked_at = ? WHERE seq BETWEEN ? AND ? AND acked_at IS NULL",
        [at, first, last],
    ).rowcount


def mark_acked_by_id(db: Database, ids: list[str], low: int, high: int, at: str) -> list[int]:
    """Acknowledge by event id within seqs `low`..`high` (event_id has no index, the
    seq range keeps the look-up short); returns the seqs marked."""
    marked: list[int] = []
    for chunk in _chunks(ids, 500):
        marks = ",".join("?" * len(chunk))
        rows = db.conn.execute(
            f"UPDATE outbox SET acked_at = ? WHERE seq BETWEEN ? AND ?"
            f" AND acked_at IS NULL AND event_id IN ({marks}) RETURNING seq",
            [at, low, high, *chunk],
        ).fetchall()
        marked.extend(seq for (seq,) in rows)
    return marked


def count_refusal(db: Database, seq: int, reason: str, park_after: int) -> str | None:
    """The broker refused event `seq` once more; park it at `park_after` refusals.
    Returns its event id when it was parked now."""
    db.execute(
        "UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE seq = ?",
        [f"broker refused: {reason}", seq],
    )
    row = db.execute("SELECT attempts, event_id FROM outbox WHERE seq = ?", [seq]).fetchone()
    if row is None or row[0] < park_after:
        return None
    db.execute(
        "UPDATE outbox SET parked_reason = ? WHERE seq = ?",
        [f"broker refused it {row[0]} times: {reason}", seq],
    )
    return str(row[1])


def park(db: Database, seq: int, reason: str) -> None:
    """Set event `seq` aside with `reason`: it can never go as it is (too large)."""
    db.execute(
        "UPDATE outbox SET parked_reason = ?, last_error = ?, attempts = attempts + 1"
        " WHERE seq = ? AND acked_at IS NULL",
        [reason, reason, seq],
    )


def park_rejected(
    db: Database, event_id: str, reason: str, seq: int | None, in_flight: tuple[int, int]
) -> list[int]:
    """The centre refused `event_id`; park it. By seq and id together: the acks topic is
    shared by the store's devices, and the id (a UUID) makes sure the row is ours, the
    seq (or the `in_flight` seq range when the centre did not say) finds it without an
    index. Returns the seqs parked."""
    if seq is None:
        where, params = "seq BETWEEN ? AND ? AND event_id = ?", [*in_flight, event_id]
    else:
        where, params = "seq = ? AND event_id = ?", [seq, event_id]
    rows = db.conn.execute(
        f"UPDATE outbox SET parked_reason = ?, last_error = ? WHERE {where}"
        " AND acked_at IS NULL RETURNING seq",
        [f"refused by the centre: {reason}", reason, *params],
    ).fetchall()
    return [parked for (parked,) in rows]


def prune_acked(db: Database, before: str) -> int:
    """Delete rows acknowledged before `before` (but never the newest row)."""
    return db.execute(f"DELETE FROM outbox WHERE {PRUNABLE} AND acked_at < ?", [before]).rowcount


def pending_sources(db: Database) -> set[str]:
    """The event sources (devices) of events still waiting to be sent."""
    rows = db.conn.execute(
        "SELECT DISTINCT json_extract(envelope, '$.source') FROM outbox"
        " WHERE acked_at IS NULL AND parked_reason IS NULL"
    ).fetchall()
    return {r[0] for r in rows if isinstance(r[0], str)}


def parked_count(db: Database) -> int:
    return db.execute(
        "SELECT COUNT(*) FROM outbox WHERE parked_reason IS NOT NULL AND acked_at IS NULL"
    ).fetchone()[0]


def parked_events(db: Database) -> list[tuple[int, str, str, str, str]]:
    """(seq, event_id, type, created_at, parked_reason) of every parked event."""
    return db.execute(
        "SELECT seq, event_id, type, created_at, parked_reason FROM outbox"
        " WHERE parked_reason IS NOT NULL AND acked_at IS NULL ORDER BY seq"
    ).fetchall()


def unpark_all(db: Database, at: str) -> int:
    """Queue every parked event again; returns how many."""
    return db.execute(
        "UPDATE outbox SET parked_reason = NULL, attempts = 0,"
        " last_error = 'unparked ' || ? WHERE parked_reason IS NOT NULL"
        " AND acked_at IS NULL",
        [at],
    ).rowcount


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


@dataclass(frozen=True)
class UnconfirmedLoyalty:
    points: int  # net points change of the events the centre had not counted
    earned: int  # the positive part (lifetime points)
    events: int


def unconfirmed_loyalty(
    db: Database, customer_id: str, counted_through: dict[str, int]
) -> UnconfirmedLoyalty:
    """The customer's points events this device emitted that the centre's balance does not
    count yet (sequence above what it counted for this device's source)."""
    rows = db.execute(
        "SELECT seq, json_extract(envelope, '$.source'), json_extract(envelope, '$.data.delta'),"
        " json_extract(envelope, '$.data.points_spent') FROM outbox"
        " WHERE type IN ('loyalty.points_changed', 'coupon.redeemed')"
        " AND json_extract(envelope, '$.data.customer_id') = ?",
        [customer_id],
    ).fetchall()
    points = earned = events = 0
    for seq, source, delta, spent in rows:
        if seq <= counted_through.get(source, 0):
            continue
        change = int(delta or 0) - int(spent or 0)
        points += change
        earned += max(int(delta or 0), 0)
        events += 1
    return UnconfirmedLoyalty(points, earned, events)


def unacknowledged_redemptions(db: Database) -> UnconfirmedLoyalty:
    """Coupon redemptions this device made that the centre has not acknowledged yet:
    how many, and the points they spent (the offline redemption budget counts these)."""
    count, spent = db.execute(
        "SELECT COUNT(*), COALESCE(SUM(json_extract(envelope, '$.data.points_spent')), 0)"
        " FROM outbox WHERE type = 'coupon.redeemed' AND acked_at IS NULL"
    ).fetchone()
    return UnconfirmedLoyalty(points=int(spent), earned=0, events=int(count))
