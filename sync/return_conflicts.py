"""The `return.conflict` change: an order line returned at two or more stores, for more
than was bought. Each store saw only its own return while offline; the centre saw both
and tells every store involved, so no till refunds that line again.

`apply_return_conflict` keeps one row per conflict. The same change applied twice leaves
the same row; an updated conflict (a further return elsewhere) replaces the figures and
opens it again, since a supervisor's earlier resolution did not know of that refund.
"""

from __future__ import annotations

import json
from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlite_utils import Database

from edge_agent.clock import to_iso

RETURN_CONFLICT = "return.conflict"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


class ConflictingReturn(_Strict):
    """One store's return of the line. No names: store, return and amounts only."""

    store_id: str = Field(min_length=1, max_length=64)
    return_id: str = Field(min_length=1, max_length=64)
    quantity: int = Field(ge=1)
    refund_minor: int = Field(ge=0)
    returned_at: AwareDatetime


class ReturnConflict(_Strict):
    conflict_id: str = Field(min_length=1, max_length=64)
    order_number: str = Field(min_length=1, max_length=32)
    line_no: int = Field(ge=1)
    sku: str = Field(min_length=1, max_length=64)
    ordered_quantity: int = Field(ge=1)
    returned_quantity: int = Field(ge=1)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    returns: tuple[ConflictingReturn, ...] = Field(min_length=2)
    detected_at: AwareDatetime


def apply_return_conflict(db: Database, conflict: ReturnConflict, at: datetime) -> bool:
    """Write the conflict inside the caller's transaction; True when it is new or changed
    (the till screens are told), False when this exact conflict was already here."""
    returns = json.dumps(
        [
            {**r.model_dump(), "returned_at": to_iso(r.returned_at)}
            for r in sorted(conflict.returns, key=_return_key)
        ],
        sort_keys=True,
    )
    row = db.execute(
        "SELECT returns, returned_quantity, ordered_quantity FROM return_conflicts WHERE id = ?",
        [conflict.conflict_id],
    ).fetchone()
    if row == (returns, conflict.returned_quantity, conflict.ordered_quantity):
        return False
    db.execute(
        "INSERT INTO return_conflicts (id, order_number, line_no, sku, ordered_quantity,"
        " returned_quantity, currency, returns, detected_at, received_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET"
        " order_number = excluded.order_number, line_no = excluded.line_no,"
        " sku = excluded.sku, ordered_quantity = excluded.ordered_quantity,"
        " returned_quantity = excluded.returned_quantity, currency = excluded.currency,"
        " returns = excluded.returns, detected_at = excluded.detected_at,"
        " received_at = excluded.received_at, resolved_at = NULL, resolved_by = NULL,"
        " resolution_note = NULL",
        [
            conflict.conflict_id,
            conflict.order_number,
            conflict.line_no,
            conflict.sku,
            conflict.ordered_quantity,
            conflict.returned_quantity,
            conflict.currency,
            returns,
            to_iso(conflict.detected_at),
            to_iso(at),
        ],
    )
    return True


def _return_key(r: ConflictingReturn) -> tuple[str, str]:
    return (r.store_id, r.return_id)
