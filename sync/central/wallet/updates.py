"""Which customers' passes must be re-issued, and when: bursts coalesce.

A points or tier change marks the customer (inside the ingest transaction that counted
it). The first change after a quiet spell is due after GATHER_SECONDS, so a burst that
arrives together (ten awards of one basket, a batch from a store back online) is one
update. Changes after an update wait for the end of COALESCE_WINDOW_SECONDS and go out
together: a customer's phone gets at most two updates a minute however busy the tills
are. A tier change never waits for the window: it is the news ("¡Ya eres Oro!").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sync.central.db import CentralDb
from sync.protocol.clock import from_iso, to_iso

GATHER_SECONDS = 0.5
COALESCE_WINDOW_SECONDS = 60.0
# After a failed re-issue (Google unreachable...), try again this much later.
RETRY_SECONDS = 30.0


@dataclass(frozen=True)
class DueUpdate:
    customer_id: str
    changes: int  # changes counted when read; a later one keeps the customer pending
    tier_changes: int

    @property
    def tier_changed(self) -> bool:
        return self.tier_changes > 0


def mark_changed(db: CentralDb, customer_id: str, now: datetime, *, tier_changed: bool) -> None:
    """Inside the caller's transaction: the customer's passes are out of date."""
    gather = now + timedelta(seconds=GATHER_SECONDS)
    inserted = db.execute(
        "INSERT INTO wallet_updates (customer_id, pending, changes, tier_changes, due_at)"
        " VALUES (%s, 1, 1, %s, %s) ON CONFLICT (customer_id) DO NOTHING",
        [customer_id, int(tier_changed), to_iso(gather)],
    ).rowcount
    if inserted:
        return
    # Locks the row (PostgreSQL): two workers counting the same customer take turns.
    lock = " FOR UPDATE" if db.postgres else ""
    pending, due_at, last_sent = db.execute(
        "SELECT pending, due_at, last_sent_at FROM wallet_updates WHERE customer_id = %s" + lock,
        [customer_id],
    ).fetchone()
    due = from_iso(due_at)
    if pending:
        if tier_changed:
            due = min(due, gather)
    elif tier_changed or last_sent is None:
        due = gather
    else:
        due = max(gather, from_iso(last_sent) + timedelta(seconds=COALESCE_WINDOW_SECONDS))
    db.execute(
        "UPDATE wallet_updates SET changes = changes + 1, due_at = %s,"
        " tier_changes = CASE WHEN pending = 1 THEN tier_changes ELSE 0 END + %s,"
        " pending = 1 WHERE customer_id = %s",
        [to_iso(due), int(tier_changed), customer_id],
    )


def due_updates(db: CentralDb, now: datetime, limit: int = 100) -> list[DueUpdate]:
    rows = db.execute(
        "SELECT customer_id, changes, tier_changes FROM wallet_updates"
        " WHERE pending = 1 AND due_at <= %s ORDER BY due_at LIMIT %s",
        [to_iso(now), limit],
    ).fetchall()
    return [DueUpdate(r[0], int(r[1]), int(r[2])) for r in rows]


def finish(db: CentralDb, update: DueUpdate, now: datetime) -> None:
    """The customer's passes were brought up to date as of `update.changes`. A change
    counted meanwhile stays pending, due at the end of the coalescing window."""
    finish_all(db, [update], now)


def finish_all(db: CentralDb, done: list[DueUpdate], now: datetime) -> None:
    """`finish` for many, in one transaction."""
    window_end = now + timedelta(seconds=COALESCE_WINDOW_SECONDS)
    with db.transaction():
        for update in done:
            caught_up = db.execute(
                "UPDATE wallet_updates SET pending = 0, tier_changes = 0, last_sent_at = %s"
                " WHERE customer_id = %s AND changes = %s",
                [to_iso(now), update.customer_id, update.changes],
            ).rowcount
            if not caught_up:
                # A tier change counted meanwhile keeps its early due time; others wait.
                db.execute(
                    "UPDATE wallet_updates SET last_sent_at = %s,"
                    " due_at = CASE WHEN tier_changes > %s THEN due_at ELSE %s END,"
                    " tier_changes = CASE WHEN tier_changes > %s THEN tier_changes - %s"
                    " ELSE 0 END WHERE customer_id = %s",
                    [to_iso(now), update.tier_changes, to_iso(window_end),
                     update.tier_changes, update.tier_changes, update.customer_id],
                )  # fmt: skip


def retry_later(db: CentralDb, update: DueUpdate, now: datetime) -> None:
    with db.transaction():
        db.execute(
            "UPDATE wallet_updates SET due_at = %s WHERE customer_id = %s",
            [to_iso(now + timedelta(seconds=RETRY_SECONDS)), update.customer_id],
        )


def pending_count(db: CentralDb) -> int:
    return int(db.execute("SELECT COUNT(*) FROM wallet_updates WHERE pending = 1").fetchone()[0])
