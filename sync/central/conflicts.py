"""Returns the stores cannot see offline: one order line returned at two or more stores,
for more in all than was bought.

Each store checks what is returnable against its own cache only, and may refund offline
within a limit; two stores can therefore both take back the same item. The centre sees
every `order.returned` event, so it keeps the returned quantity per (order number, line,
store, return id) and, when a line is over-returned across stores, records a conflict
and sends `return.conflict` down each involved store's change feed.

Everything here runs inside the ingest transaction (`on_ingested`): the returned
quantities, the conflict and the feed changes commit with the events that caused them,
and an event sent again (not newly stored) changes nothing. The caller publishes the
returned changes after the commit.

Rule: a conflict needs the quantity bought. Stores send it on each returned line
(`ordered_quantity`); for older events that lack it the centre's own order master data
(`edge-central load`) tells it. A line neither tells stays unjudged (listed by
`unjudged_lines`) rather than guessed at; once an event carries it or the order is
loaded, the line is judged with every return recorded so far.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sync.central.changes import append_change
from sync.central.db import CentralDb
from sync.protocol.clock import iso_now
from sync.protocol.errors import ChangeRejected
from sync.protocol.return_conflicts import RETURN_CONFLICT

log = logging.getLogger(__name__)

RETURNED = "order.returned"
RESOLVED = "return.conflict_resolved"


class IngestedEvent(Protocol):
    """What the ingest knows of an event it has just stored for the first time."""

    store_id: str
    type: str
    time: str
    envelope: str


@dataclass(frozen=True)
class StoreChange:
    """A change recorded in the ingest transaction, to publish once it has committed."""

    store_id: str
    payload: bytes


def on_ingested(db: CentralDb, events: Iterable[IngestedEvent]) -> list[StoreChange]:
    """Record returns and resolutions from newly stored events; detect conflicts; return
    the feed changes to publish after the commit. Bad data is logged, never raised: an
    event the ingest has stored must not make its batch fail again and again."""
    lines: list[_ReturnedLine] = []
    for event in events:
        if event.type == RETURNED:
            lines += _returned_lines(event)
        elif event.type == RESOLVED:
            _record_resolution(db, event)
    if not lines:
        return []
    now = iso_now()
    keys = sorted({(ln.order_number, ln.line_no) for ln in lines})
    # Lock each line's row first, in sorted order: two workers ingesting the two stores'
    # returns of the same line take turns, and the second sees the first's return.
    for key in keys:
        told = [ln.ordered_quantity for ln in lines if ln.key == key and ln.ordered_quantity]
        bought = told[0] if told else _bought_per_master_data(db, key)
        db.execute(
            "INSERT INTO returned_lines (order_number, line_no, ordered_quantity, updated_at)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT (order_number, line_no) DO UPDATE SET"
            " ordered_quantity = COALESCE(returned_lines.ordered_quantity,"
            " excluded.ordered_quantity), updated_at = excluded.updated_at",
            [key[0], key[1], bought, now],
        )
    for ln in lines:
        db.execute(
            "INSERT INTO line_returns (order_number, line_no, store_id, return_id, sku,"
            " quantity, refund_minor, currency, returned_at) VALUES (%s, %s, %s, %s, %s, %s,"
            " %s, %s, %s) ON CONFLICT (order_number, line_no, store_id, return_id) DO NOTHING",
            [ln.order_number, ln.line_no, ln.store_id, ln.return_id, ln.sku, ln.quantity,
             ln.refund_minor, ln.currency, ln.returned_at],
        )  # fmt: skip
    changes: list[StoreChange] = []
    for key in keys:
        changes += _judge(db, key, now)
    return changes


def list_conflicts(db: CentralDb, open_only: bool = False) -> list[dict[str, Any]]:
    """Every conflict, newest first, with which stores have resolved it at the till."""
    rows = db.execute(
        "SELECT conflict_id, order_number, line_no, sku, ordered_quantity, returned_quantity,"
        " currency, stores, detail, detected_at, updated_at FROM return_conflicts"
        " ORDER BY updated_at DESC, conflict_id"
    ).fetchall()
    resolutions: dict[str, dict[str, dict[str, Any]]] = {}
    for conflict_id, store_id, resolved_at, staff_id, note, seen in db.execute(
        "SELECT conflict_id, store_id, resolved_at, staff_id, note, returned_quantity"
        " FROM return_resolutions"
    ).fetchall():
        resolutions.setdefault(conflict_id, {})[store_id] = {
            "resolved_at": resolved_at, "staff_id": staff_id, "note": note,
            "returned_quantity": seen,
        }  # fmt: skip
    found = []
    for (conflict_id, number, line_no, sku, bought, returned, currency, stores, detail,
         detected_at, updated_at) in rows:  # fmt: skip
        involved = json.loads(stores)
        done = resolutions.get(conflict_id, {})
        # Resolved once every store involved has resolved it as it stands now: a further
        # return elsewhere raises the quantity and opens it again. Compared by quantity,
        # not time, because store and centre clocks differ.
        state = (
            "resolved"
            if all(s in done and done[s]["returned_quantity"] == returned for s in involved)
            else "open"
        )
        if open_only and state != "open":
            continue
        found.append({
            "conflict_id": conflict_id, "order_number": number, "line_no": line_no,
            "sku": sku, "ordered_quantity": bought, "returned_quantity": returned,
            "currency": currency, "stores": involved, "returns": json.loads(detail),
            "detected_at": detected_at, "updated_at": updated_at, "state": state,
            "resolutions": done,
        })  # fmt: skip
    return found


def open_conflicts_by_store(db: CentralDb) -> dict[str, int]:
    """How many open conflicts involve each store (for the fleet page)."""
    counts: dict[str, int] = {}
    for conflict in list_conflicts(db, open_only=True):
        for store_id in conflict["stores"]:
            counts[store_id] = counts.get(store_id, 0) + 1
    return counts


def unjudged_lines(db: CentralDb) -> list[dict[str, Any]]:
    """Lines returned at two or more stores whose quantity bought no event has told: the
    centre cannot say whether they are over-returned (older agents' events)."""
    rows = db.execute(
        "SELECT r.order_number, r.line_no, COUNT(DISTINCT r.store_id), SUM(r.quantity)"
        " FROM line_returns r JOIN returned_lines l ON l.order_number = r.order_number"
        " AND l.line_no = r.line_no LEFT JOIN order_lines o ON o.number = r.order_number"
        " AND o.line_no = r.line_no WHERE l.ordered_quantity IS NULL AND o.quantity IS NULL"
        " GROUP BY r.order_number, r.line_no HAVING COUNT(DISTINCT r.store_id) > 1"
        " ORDER BY r.order_number, r.line_no"
    ).fetchall()
    return [
        {"order_number": n, "line_no": ln, "stores": s, "returned_quantity": q}
        for n, ln, s, q in rows
    ]


def _bought_per_master_data(db: CentralDb, key: tuple[str, int]) -> int | None:
    """The quantity bought per the centre's loaded orders, when the order is there."""
    row = db.execute(
        "SELECT quantity FROM order_lines WHERE number = %s AND line_no = %s", list(key)
    ).fetchone()
    return int(row[0]) if row else None


def conflict_id(order_number: str, line_no: int) -> str:
    """Stable per order line: every worker and every resend names the same conflict."""
    digest = hashlib.sha256(f"{order_number}\x00{line_no}".encode()).hexdigest()
    return f"RC-{digest[:16]}"


@dataclass(frozen=True)
class _ReturnedLine:
    order_number: str
    line_no: int
    store_id: str
    return_id: str
    sku: str
    quantity: int
    ordered_quantity: int | None
    refund_minor: int
    currency: str
    returned_at: str

    @property
    def key(self) -> tuple[str, int]:
        return (self.order_number, self.line_no)


class _Lenient(BaseModel):
    # Other fields of the event are not this module's business.
    model_config = ConfigDict(extra="ignore")


class _Line(_Lenient):
    line_no: int = Field(ge=1)
    sku: str = Field(min_length=1, max_length=64)
    quantity: int = Field(ge=1)
    refund_minor: int = Field(0, ge=0)
    ordered_quantity: int | None = Field(None, ge=1)


class _Refund(_Lenient):
    currency: str = Field(pattern=r"^[A-Z]{3}$")


class _Returned(_Lenient):
    return_id: str = Field(min_length=1, max_length=64)
    order_number: str = Field(min_length=1, max_length=32)
    lines: list[_Line]
    refund: _Refund


class _Resolved(_Lenient):
    conflict_id: str = Field(min_length=1, max_length=64)
    resolved_by: str = Field(min_length=1, max_length=64)
    note: str = Field(max_length=500)
    returned_quantity: int = Field(ge=1)


def _data(event: IngestedEvent) -> Any:
    try:
        return json.loads(event.envelope).get("data")
    except (ValueError, AttributeError):
        return None


def _returned_lines(event: IngestedEvent) -> list[_ReturnedLine]:
    try:
        data = _Returned.model_validate(_data(event))
    except ValidationError as exc:
        log.warning("order.returned from %s not checked for conflicts: %s", event.store_id, exc)
        return []
    return [
        _ReturnedLine(data.order_number, ln.line_no, event.store_id, data.return_id, ln.sku,
                      ln.quantity, ln.ordered_quantity, ln.refund_minor, data.refund.currency,
                      event.time)
        for ln in data.lines
    ]  # fmt: skip


def _record_resolution(db: CentralDb, event: IngestedEvent) -> None:
    try:
        data = _Resolved.model_validate(_data(event))
    except ValidationError as exc:
        log.warning("%s from %s not recorded: %s", RESOLVED, event.store_id, exc)
        return
    db.execute(
        "INSERT INTO return_resolutions (conflict_id, store_id, resolved_at, staff_id, note,"
        " returned_quantity) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (conflict_id,"
        " store_id) DO UPDATE SET resolved_at = excluded.resolved_at,"
        " staff_id = excluded.staff_id, note = excluded.note,"
        " returned_quantity = excluded.returned_quantity",
        [
            data.conflict_id,
            event.store_id,
            event.time,
            data.resolved_by,
            data.note,
            data.returned_quantity,
        ],
    )


def _judge(db: CentralDb, key: tuple[str, int], now: str) -> list[StoreChange]:
    """Record and announce the line's conflict, if it is one now."""
    number, line_no = key
    bought = db.execute(
        "SELECT ordered_quantity FROM returned_lines WHERE order_number = %s AND line_no = %s",
        [number, line_no],
    ).fetchone()[0] or _bought_per_master_data(db, key)
    returns = db.execute(
        "SELECT store_id, return_id, sku, quantity, refund_minor, currency, returned_at"
        " FROM line_returns WHERE order_number = %s AND line_no = %s"
        " ORDER BY returned_at, store_id, return_id",
        [number, line_no],
    ).fetchall()
    stores = sorted({r[0] for r in returns})
    returned = sum(r[3] for r in returns)
    if bought is None or len(stores) < 2 or returned <= bought:
        return []
    detail = [
        {"store_id": s, "return_id": rid, "quantity": q, "refund_minor": refund,
         "returned_at": at}
        for s, rid, _sku, q, refund, _cur, at in returns
    ]  # fmt: skip
    cid = conflict_id(number, line_no)
    db.execute(
        "INSERT INTO return_conflicts (conflict_id, order_number, line_no, sku,"
        " ordered_quantity, returned_quantity, currency, stores, detail, detected_at,"
        " updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (conflict_id) DO UPDATE SET ordered_quantity = excluded.ordered_quantity,"
        " returned_quantity = excluded.returned_quantity, stores = excluded.stores,"
        " detail = excluded.detail, updated_at = excluded.updated_at",
        [cid, number, line_no, returns[-1][2], bought, returned, returns[0][5],
         json.dumps(stores), json.dumps(detail), now, now],
    )  # fmt: skip
    detected_at = db.execute(
        "SELECT detected_at FROM return_conflicts WHERE conflict_id = %s", [cid]
    ).fetchone()[0]
    data = {
        "conflict_id": cid, "order_number": number, "line_no": line_no, "sku": returns[-1][2],
        "ordered_quantity": bought, "returned_quantity": returned, "currency": returns[0][5],
        "returns": detail, "detected_at": detected_at,
    }  # fmt: skip
    log.warning(
        "return conflict %s: order %s line %s returned %d times at %s, %d bought",
        cid, number, line_no, returned, ", ".join(stores), bought,
    )  # fmt: skip
    changes = []
    for store_id in stores:
        try:
            payload = append_change(db, store_id, RETURN_CONFLICT, data)
            changes.append(StoreChange(store_id, payload))
        except ChangeRejected as exc:
            # The conflict is recorded here (edge-central conflicts lists it); only the
            # store's copy is refused. Raising would fail the batch on every resend.
            log.error("conflict %s not sent to %s: %s", cid, store_id, exc.message)
    return changes
