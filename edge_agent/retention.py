"""Pruning what the device no longer needs, so the database stays bounded for years:
events the centre has acknowledged, old scan logs, dead letters and finished print jobs.

Never touches an event the centre has not acknowledged: the outbox is the only copy.
Deletes go in small batches, each its own transaction, so a till's write never waits
long behind the pruner.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from edge_agent.context import AgentContext
from edge_agent.outbox import PRUNABLE
from sync.protocol.clock import to_iso

BATCH_ROWS = 2000


@dataclass(frozen=True)
class PruneRule:
    table: str
    key: str  # the row's key column
    time_column: str
    days_setting: str  # the RetentionSettings field that says how long to keep
    extra: str = ""  # an additional condition rows must meet to go


RULES = (
    # Never the newest row, even acknowledged: it keeps seq from being reused.
    PruneRule("outbox", "seq", "acked_at", "acked_events_days", PRUNABLE),
    PruneRule("scan_log", "id", "at", "scan_log_days"),
    PruneRule("dead_letters", "id", "received_at", "dead_letters_days"),
    PruneRule("return_requests", "id", "expires_at", "expired_return_slips_days"),
    # A sale or return counts until the centre's figure includes it; a month on, it has.
    PruneRule("stock_movements", "id", "at", "scan_log_days"),
    # A request whose order came back from the centre is shown as that order.
    PruneRule(
        "order_requests",
        "event_id",
        "created_at",
        "acked_events_days",
        "EXISTS (SELECT 1 FROM orders o WHERE o.number = order_requests.number)",
    ),
    PruneRule(
        "customers",
        "id",
        "MAX(updated_at, COALESCE(last_seen_at, ''))",
        "customer_cache_days",
        "NOT EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = customers.id"
        " AND o.status IN ('placed', 'processing', 'shipped', 'ready_for_pickup'))",
    ),
)


def prune(ctx: AgentContext, now: datetime | None = None) -> dict[str, int]:
    """Delete rows past their retention; return rows deleted per table."""
    now = now or ctx.clock()
    settings = ctx.config.retention
    existing = set(ctx.store.db.table_names())
    deleted: dict[str, int] = {}
    for rule in RULES:
        if rule.table not in existing:
            continue
        cutoff = to_iso(now - timedelta(days=getattr(settings, rule.days_setting)))
        condition = f"{rule.time_column} < ?" + (f" AND {rule.extra}" if rule.extra else "")
        total = 0
        while True:
            with ctx.store.transaction() as db:
                cursor = db.execute(
                    f"DELETE FROM {rule.table} WHERE {rule.key} IN (SELECT {rule.key} FROM"
                    f" {rule.table} WHERE {condition} LIMIT {BATCH_ROWS})",
                    [cutoff],
                )
                total += cursor.rowcount
            if cursor.rowcount < BATCH_ROWS:
                break
        deleted[rule.table] = total
    return deleted
