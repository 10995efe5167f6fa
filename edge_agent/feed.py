"""The store side of the change feed: apply each change once, in sequence order.

The feed is gap-free: a change is applied only when its sequence is the one after the
last applied. A later one means something was lost (the broker's queue overflowed, or
the store was offline past the session): the caller asks the centre to replay from the
last applied sequence. A change that cannot be read or applied is dead-lettered with
its reason and the feed moves past it, so one bad message never stops the store.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlite_utils import Database

from edge_agent.changes import apply_change
from edge_agent.store import Store
from sync.protocol.changes import Change, parse_change, parse_sequence
from sync.protocol.clock import to_iso
from sync.protocol.errors import ChangeRejected

FEED = "changes"


@dataclass(frozen=True)
class FeedOutcome:
    status: Literal["applied", "duplicate", "gap", "dead_lettered"]
    sequence: int | None
    reason: str | None = None
    change: Change | None = None  # the change applied, for listeners (till screens)


def last_applied(db: Database, feed: str = FEED) -> int:
    row = db.execute("SELECT last_seq FROM inbox_feeds WHERE feed = ?", [feed]).fetchone()
    return row[0] if row else 0


def receive_change(store: Store, topic: str, payload: bytes, at: datetime) -> FeedOutcome:
    """Apply, skip, or dead-letter one change message; never raises for bad input."""
    sequence = parse_sequence(payload)
    try:
        change = parse_change(payload)
    except ChangeRejected as exc:
        with store.transaction() as db:
            last = last_applied(db)
            if sequence is not None and sequence > last + 1:
                # Ahead of the feed: it comes round again in the replay.
                return FeedOutcome("gap", sequence)
            dead_letter(db, topic, payload, exc.message, at)
            if sequence == last + 1:
                _advance(db, sequence, "", "(rejected)", at)
        return FeedOutcome("dead_lettered", sequence, exc.message)
    with store.transaction() as db:
        last = last_applied(db)
        if change.sequence > last + 1:
            return FeedOutcome("gap", change.sequence)
        if change.sequence <= last:
            row = db.execute(
                "SELECT change_id FROM inbox_applied WHERE feed = ? AND seq = ?",
                [FEED, change.sequence],
            ).fetchone()
            if row is None or row[0] == change.id:
                return FeedOutcome("duplicate", change.sequence)
            reason = (
                f"replayed sequence {change.sequence} carries change {change.id}, but "
                f"{row[0] or 'a rejected change'} was applied there"
            )
            dead_letter(db, topic, payload, reason, at)
            return FeedOutcome("dead_lettered", change.sequence, reason)
        try:
            with db.atomic():
                apply_change(db, change, at)
        except (ChangeRejected, sqlite3.IntegrityError) as exc:
            reason = exc.message if isinstance(exc, ChangeRejected) else f"refused: {exc}"
            dead_letter(db, topic, payload, reason, at)
            _advance(db, change.sequence, change.id, change.type, at)
            return FeedOutcome("dead_lettered", change.sequence, reason)
        _advance(db, change.sequence, change.id, change.type, at)
    return FeedOutcome("applied", change.sequence, change=change)


def dead_letter(db: Database, topic: str, payload: bytes, reason: str, at: datetime) -> None:
    """Keep a message the agent could not use, with why, for an operator to look at."""
    db.execute(
        "INSERT INTO dead_letters (received_at, topic, payload, reason) VALUES (?, ?, ?, ?)",
        [to_iso(at), topic, payload, reason],
    )


def recent_dead_letters(db: Database, limit: int) -> list[tuple[int, str, str, str]]:
    """(id, received_at, topic, reason), newest first."""
    return db.execute(
        "SELECT id, received_at, topic, reason FROM dead_letters ORDER BY id DESC LIMIT ?",
        [limit],
    ).fetchall()


def dead_letter_count(db: Database) -> int:
    return db.execute("SELECT COUNT(*) FROM dead_letters").fetchone()[0]


def _advance(db: Database, sequence: int, change_id: str, change_type: str, at: datetime) -> None:
    db.execute(
        "INSERT INTO inbox_applied (feed, seq, change_id, type, applied_at) VALUES (?, ?, ?, ?, ?)",
        [FEED, sequence, change_id, change_type, to_iso(at)],
    )
    db.execute(
        "INSERT INTO inbox_feeds (feed, last_seq, updated_at) VALUES (?, ?, ?) "
        "ON CONFLICT (feed) DO UPDATE SET last_seq = excluded.last_seq, "
        "updated_at = excluded.updated_at",
        [FEED, sequence, to_iso(at)],
    )
