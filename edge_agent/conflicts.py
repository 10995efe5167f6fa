"""Return conflicts at the till: lines this store returned that another store returned
too, for more in all than was bought (the centre finds them and sends `return.conflict`;
`apply_return_conflict` below stores them). Staff see the open ones; a supervisor
resolves one with a note, which is audited and reported to the centre as
`return.conflict_resolved`.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from edge_agent.context import AgentContext
from edge_agent.domain import ConflictingReturn, Money, ReturnConflict
from edge_agent.errors import EdgeAgentError, InputRefused
from edge_agent.outbox import append_event
from edge_agent.staff import Actor, audit
from sync.protocol import return_conflicts as wire
from sync.protocol.clock import from_iso, to_iso

RESOLVED_EVENT = "return.conflict_resolved"
NOTE_MAX_CHARS = 500

_COLUMNS = (
    "id, order_number, line_no, sku, ordered_quantity, returned_quantity, currency, returns,"
    " detected_at, resolved_at, resolved_by, resolution_note"
)


class ConflictNotFound(EdgeAgentError):
    code = "conflict_not_found"
    http_status = 404


class ConflictAlreadyResolved(EdgeAgentError):
    code = "conflict_already_resolved"
    http_status = 409


def open_conflicts(db: Database) -> tuple[ReturnConflict, ...]:
    """Every conflict no supervisor has resolved yet, oldest first."""
    rows = db.execute(
        f"SELECT {_COLUMNS} FROM return_conflicts WHERE resolved_at IS NULL"
        " ORDER BY detected_at, id"
    ).fetchall()
    return tuple(_from_row(row) for row in rows)


def order_conflicts(db: Database, order_number: str) -> tuple[ReturnConflict, ...]:
    """The conflicts on one order's lines, open or resolved, by line."""
    rows = db.execute(
        f"SELECT {_COLUMNS} FROM return_conflicts WHERE order_number = ? ORDER BY line_no",
        [order_number],
    ).fetchall()
    return tuple(_from_row(row) for row in rows)


def open_conflict_count(db: Database) -> int:
    return db.execute("SELECT COUNT(*) FROM return_conflicts WHERE resolved_at IS NULL").fetchone()[
        0
    ]


def resolve_conflict(
    ctx: AgentContext, conflict_id: str, note: str, actor: Actor
) -> ReturnConflict:
    """Mark the conflict resolved with the supervisor's note; audited, and sent to the
    centre in the same transaction. Raises ConflictNotFound / ConflictAlreadyResolved."""
    note = note.strip()
    if not note or len(note) > NOTE_MAX_CHARS:
        raise InputRefused(f"say in 1 to {NOTE_MAX_CHARS} characters how it was settled")
    now = ctx.clock()
    with ctx.store.transaction() as db:
        row = db.execute(
            f"SELECT {_COLUMNS} FROM return_conflicts WHERE id = ?", [conflict_id]
        ).fetchone()
        if row is None:
            raise ConflictNotFound(f"there is no return conflict {conflict_id} at this store")
        conflict = _from_row(row)
        if conflict.state == "resolved":
            raise ConflictAlreadyResolved(
                f"conflict {conflict_id} was already resolved by {conflict.resolved_by}"
            )
        db.execute(
            "UPDATE return_conflicts SET resolved_at = ?, resolved_by = ?, resolution_note = ?"
            " WHERE id = ?",
            [to_iso(now), actor.id, note, conflict_id],
        )
        detail: dict[str, Any] = {"order": conflict.order_number, "line_no": conflict.line_no}
        audit(db, actor, "return_conflict.resolved", conflict_id, detail, now)
        append_event(
            db,
            ctx.origin,
            RESOLVED_EVENT,
            subject=conflict.order_number,
            data={
                "conflict_id": conflict_id,
                "order_number": conflict.order_number,
                "line_no": conflict.line_no,
                # Which state of the conflict was settled: a later return elsewhere
                # raises it, and the centre then counts this resolution as stale.
                "returned_quantity": conflict.returned_quantity,
                "resolved_by": actor.id,
                "note": note,
            },
            at=now,
        )
        return _from_row(
            db.execute(f"SELECT {_COLUMNS} FROM return_conflicts WHERE id = ?", [conflict_id])
            .fetchone()
        )  # fmt: skip


def _from_row(row: Any) -> ReturnConflict:
    (cid, number, line_no, sku, bought, returned, currency, returns, detected_at,
     resolved_at, resolved_by, note) = row  # fmt: skip
    return ReturnConflict(
        id=cid,
        order_number=number,
        line_no=line_no,
        sku=sku,
        ordered_quantity=bought,
        returned_quantity=returned,
        returns=tuple(
            ConflictingReturn(
                store_id=r["store_id"],
                return_id=r["return_id"],
                quantity=r["quantity"],
                refund=Money(r["refund_minor"], currency),
                returned_at=from_iso(r["returned_at"]),
            )
            for r in json.loads(returns)
        ),
        detected_at=from_iso(detected_at),
        state="resolved" if resolved_at else "open",
        resolved_at=from_iso(resolved_at) if resolved_at else None,
        resolved_by=resolved_by,
        resolution_note=note,
    )


def apply_return_conflict(db: Database, conflict: wire.ReturnConflict, at: datetime) -> bool:
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


def _return_key(r: wire.ConflictingReturn) -> tuple[str, str]:
    return (r.store_id, r.return_id)
