"""Passes the centre issued, written where identification reads them (`passes`).

The centre is the only issuer: it tells a store which serial belongs to which customer
with the customer (`pass.upserted` down the feed, or in a look-up answer), so a scanned
pass is recognised here offline. A revoked status goes through `revoke_pass`, the one
writer of revocations.
"""

from __future__ import annotations

from datetime import datetime

from sqlite_utils import Database

from edge_agent.revocations import revoke_pass
from sync.protocol.clock import to_iso
from sync.protocol.wallet_changes import PassUpserted


def record_centre_pass(db: Database, issued: PassUpserted, at: datetime) -> None:
    """Inside the caller's transaction; idempotent. A pass whose customer this store does
    not hold (erased, expired from the cache) is kept without one: a scan then asks the
    centre, as for a pass never seen."""
    if issued.status == "revoked":
        revoke_pass(db, issued.serial, at, issued.customer_id, issued.kind, issued.platform)
        return
    known = db.execute("SELECT 1 FROM customers WHERE id = ?", [issued.customer_id]).fetchone()
    db.execute(
        "INSERT INTO passes (serial, customer_id, kind, platform, status, issued_at, on_device)"
        " VALUES (?, ?, ?, ?, 'active', ?, ?) ON CONFLICT (serial) DO UPDATE SET"
        " customer_id = excluded.customer_id, on_device = excluded.on_device"
        " WHERE passes.status = 'active'",
        [issued.serial, issued.customer_id if known else None, issued.kind, issued.platform,
         to_iso(at), int(issued.on_device)],
    )  # fmt: skip
