"""How each subscription is doing, from the database (so every worker's work counts):
lag in events and seconds, deliveries, failures, dead letters."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sync.central.db import CentralDb
from sync.central.delivery.subscriptions import Subscription, list_subscriptions
from sync.protocol.clock import from_iso, utc_now


def subscription_status(db: CentralDb) -> list[dict[str, Any]]:
    """One entry per subscription (secrets left out)."""
    found = []
    for sub in list_subscriptions(db):
        type_sql, params = _filter_sql(sub)
        waiting, oldest = db.execute(
            "SELECT COUNT(*), MIN(e.received_at) FROM sources s"
            " JOIN events e ON e.source = s.source"
            " LEFT JOIN delivery_cursors c ON c.subscription_id = %s AND c.source = s.source"
            " WHERE e.seq > COALESCE(c.delivered_seq, 0) AND e.seq <= s.contiguous_seq"
            f"{type_sql}",
            [sub.id, *params],
        ).fetchone()
        delivered, failures, failing, last_delivered = db.execute(
            "SELECT COALESCE(SUM(delivered_count), 0), COALESCE(SUM(failure_count), 0),"
            " COALESCE(SUM(CASE WHEN attempts > 0 THEN 1 ELSE 0 END), 0),"
            " MAX(last_delivered_at) FROM delivery_cursors WHERE subscription_id = %s",
            [sub.id],
        ).fetchone()
        last_error = db.execute(
            "SELECT last_error FROM delivery_cursors WHERE subscription_id = %s"
            " AND last_error IS NOT NULL ORDER BY updated_at DESC LIMIT 1",
            [sub.id],
        ).fetchone()
        (dead,) = db.execute(
            "SELECT COUNT(*) FROM delivery_dead_letters WHERE subscription_id = %s", [sub.id]
        ).fetchone()
        lag_seconds = 0.0 if oldest is None else (utc_now() - from_iso(oldest)).total_seconds()
        found.append(
            {
                **sub.public(),
                "lag_events": int(waiting),
                "lag_seconds": round(max(lag_seconds, 0.0), 3),
                "delivered": int(delivered),
                "failures": int(failures),
                "failing_devices": int(failing),
                "dead_letters": int(dead),
                "last_delivered_at": last_delivered,
                "last_error": last_error[0] if last_error else None,
            }
        )
    return found


def _filter_sql(sub: Subscription) -> tuple[str, list[Any]]:
    """The subscription's filter as SQL over `e` (events)."""
    clauses: list[str] = []
    params: list[Any] = []
    if "*" not in sub.types:
        parts = []
        for pattern in sub.types:
            if pattern.endswith(".*"):
                parts.append("e.type LIKE %s")
                params.append(pattern[:-1] + "%")
            else:
                parts.append("e.type = %s")
                params.append(pattern)
        clauses.append("(" + " OR ".join(parts) + ")")
    if sub.stores:
        clauses.append("e.store_id IN (" + ", ".join(["%s"] * len(sub.stores)) + ")")
        params.extend(sub.stores)
    return "".join(f" AND {c}" for c in clauses), params


def oldest_undelivered(db: CentralDb) -> tuple[datetime, str] | None:
    """The time of the oldest event some subscription (active or paused) has not had
    yet, and that subscription's id; None when every subscriber is up to date. Events
    from then on must not be pruned."""
    row = db.execute(
        "SELECT e.occurred_at, sub.id FROM subscriptions sub CROSS JOIN sources s"
        " LEFT JOIN delivery_cursors c ON c.subscription_id = sub.id AND c.source = s.source"
        " JOIN events e ON e.source = s.source AND e.seq = (SELECT MIN(n.seq) FROM events n"
        " WHERE n.source = s.source AND n.seq > COALESCE(c.delivered_seq, 0))"
        " ORDER BY e.occurred_at LIMIT 1"
    ).fetchone()
    if row is None:
        return None
    at = row[0] if isinstance(row[0], datetime) else datetime.fromisoformat(row[0])
    return at.astimezone(UTC), row[1]
