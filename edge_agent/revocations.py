"""Pass revocations from the centre, written where they are read.

One function writes a revocation everywhere it is read: `passes.status` (the table
identification looks the pass up in) and the wallet's `pass_revocations` (the list the
pass verifier checks first). The centre sends them down the feed (`pass.revoked`) and
as a retained broadcast list (`sync.protocol.revocations`).
"""

from __future__ import annotations

from datetime import datetime

from sqlite_utils import Database

from sync.protocol.clock import to_iso
from sync.protocol.revocations import RevocationList


def apply_revocation_list(db: Database, revocations: RevocationList, at: datetime) -> int:
    """Revoke every listed serial (inside the caller's transaction); returns how many
    were not revoked here before."""
    before = db.execute("SELECT COUNT(*) FROM passes WHERE status = 'revoked'").fetchone()[0]
    for serial in revocations.revoked:
        if serial and len(serial) <= 64:
            revoke_pass(db, serial, at)
    after = db.execute("SELECT COUNT(*) FROM passes WHERE status = 'revoked'").fetchone()[0]
    return after - before


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
    # The wallet's revocation list is what the pass verifier consults before any look-up;
    # one revocation lands in both, so neither path can accept the pass.
    db.execute(
        "INSERT INTO pass_revocations (serial, revoked_at, reason, list_version)"
        " VALUES (?, ?, 'revoked by the centre', 0) ON CONFLICT (serial) DO NOTHING",
        [serial, to_iso(at)],
    )
