"""Pass revocations from the centre, in one small function.

Kept apart on purpose: the wallet work adds its own revocation list (migration 4); the
lead reconciles both here, in one place.
"""

from __future__ import annotations

from datetime import datetime

from sqlite_utils import Database

from edge_agent.clock import to_iso


def revoke_pass(
    db: Database,
    serial: str,
    at: datetime,
    customer_id: str | None = None,
    kind: str = "loyalty",
    platform: str = "paper",
) -> None:
    """Mark pass `serial` revoked (recording it even if this store never saw the pass, so
    a later scan of it is refused). Idempotent: the first revocation time is kept."""
    known = customer_id is not None and (
        db.execute("SELECT 1 FROM customers WHERE id = ?", [customer_id]).fetchone() is not None
    )
    db.execute(
        "INSERT INTO passes (serial, customer_id, kind, platform, status, issued_at, revoked_at)"
        " VALUES (?, ?, ?, ?, 'revoked', ?, ?) ON CONFLICT (serial) DO UPDATE SET"
        " status = 'revoked', revoked_at = COALESCE(passes.revoked_at, excluded.revoked_at)",
        [serial, customer_id if known else None, kind, platform, to_iso(at), to_iso(at)],
    )
