"""The delivery tables in the centre's database (PostgreSQL or SQLite)."""

from __future__ import annotations

from sync.central.db import CentralDb

DELIVERY_SCHEMA = (
    # One row per platform that receives events. `secrets` is a JSON list of Standard
    # Webhooks secrets ("whsec_..."): every one of them signs, so a receiver can move
    # to a new secret while the old one still verifies (rotation).
    """CREATE TABLE IF NOT EXISTS subscriptions (
        id TEXT PRIMARY KEY,
        url TEXT NOT NULL,
        types TEXT NOT NULL,
        stores TEXT NOT NULL,
        secrets TEXT NOT NULL,
        batch_max INTEGER NOT NULL,
        state TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )""",
    # Per subscription and device (event source): every seq up to delivered_seq has been
    # delivered (or did not match the filter, or was dead-lettered). A worker holds a row
    # while it sends (lease_owner until lease_until), so two workers never send the same
    # device's events to the same subscriber at once.
    """CREATE TABLE IF NOT EXISTS delivery_cursors (
        subscription_id TEXT NOT NULL,
        source TEXT NOT NULL,
        delivered_seq BIGINT NOT NULL,
        delivered_count BIGINT NOT NULL,
        failure_count BIGINT NOT NULL,
        attempts INTEGER NOT NULL,
        next_attempt_at TEXT,
        lease_owner TEXT,
        lease_until TEXT,
        last_error TEXT,
        last_delivered_at TEXT,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (subscription_id, source)
    )""",
    # Events a subscriber answered "never" for (400, 410, 413, 415, 422), with its answer.
    """CREATE TABLE IF NOT EXISTS delivery_dead_letters (
        subscription_id TEXT NOT NULL,
        event_id TEXT NOT NULL,
        source TEXT NOT NULL,
        seq BIGINT NOT NULL,
        type TEXT NOT NULL,
        status INTEGER NOT NULL,
        response TEXT NOT NULL,
        failed_at TEXT NOT NULL,
        PRIMARY KEY (subscription_id, event_id)
    )""",
)


def create_delivery_schema(db: CentralDb) -> None:
    with db.transaction():
        for statement in DELIVERY_SCHEMA:
            db.execute(statement)
