"""Selling what this store lacks: staff order it for the identified customer, to collect
at another store or delivered home.

The request is an event (`order.requested`) written with its local record in one
transaction: offline it waits in the outbox like any event and is placed when the store
reconnects; the centre makes it an order of its master data once per event id, sends it
to the pickup store's feed like any click-and-collect order, and back to this store.
Until that order arrives here, the customer's profile shows the request (`requested`),
with whether it has left the store yet.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass

from edge_agent.config import STORE_ID_PATTERN
from edge_agent.context import AgentContext
from edge_agent.domain import Money, RequestedLine, RequestedOrder
from edge_agent.errors import CustomerNotFound, EdgeAgentError, InputRefused, NotFound
from edge_agent.outbox import append_event, event_id_at, event_state
from edge_agent.staff import Actor, audit
from sync.protocol.clock import from_iso, to_iso

MAX_LINES = 20
_STATE = {"queued": "waiting", "acked": "placed", "parked": "refused"}


class OrderRequestRefused(EdgeAgentError):
    code = "order_request_refused"
    http_status = 409


@dataclass(frozen=True)
class WantedLine:
    gtin: str
    quantity: int


def request_order(
    ctx: AgentContext,
    customer_id: str,
    fulfilment: str,
    pickup_store_id: str | None,
    lines: list[WantedLine],
    *,
    actor: Actor,
) -> RequestedOrder:
    """Record the request and its event; prices and names from this store's catalogue."""
    # Well-formed requests the store refuses on its own terms (InputRefused, 422).
    if fulfilment not in ("click_and_collect", "delivery"):
        raise InputRefused("fulfilment is click_and_collect or delivery")
    if (fulfilment == "click_and_collect") != (pickup_store_id is not None):
        raise InputRefused("a pickup store is named for click_and_collect, and only then")
    if pickup_store_id is not None and not re.fullmatch(STORE_ID_PATTERN, pickup_store_id):
        raise InputRefused("that is not a store of the chain; choose one from the list")
    if not 0 < len(lines) <= MAX_LINES:
        raise InputRefused(f"an order has 1 to {MAX_LINES} lines")
    if len({line.gtin for line in lines}) != len(lines):
        raise InputRefused("each product appears once; give its quantity instead")
    now = ctx.clock()
    number = f"R{secrets.token_hex(8).upper()}"
    currency = ctx.config.store.currency
    with ctx.store.transaction() as db:
        if db.execute("SELECT 1 FROM customers WHERE id = ?", [customer_id]).fetchone() is None:
            raise CustomerNotFound("this customer is not in the store's cache; identify them first")
        wanted: list[dict] = []
        for line in lines:
            row = db.execute(
                "SELECT gtin, sku, name, category, colour, size, price_minor, currency"
                " FROM products WHERE gtin = ?",
                [line.gtin],
            ).fetchone()
            if row is None:
                raise NotFound(f"product {line.gtin} is not in this store's catalogue")
            if row[7] != currency:
                raise OrderRequestRefused(f"product {line.gtin} is priced in {row[7]}")
            gtin, sku, name, category, colour, size, price, _ = row
            wanted.append({"gtin": gtin, "sku": sku, "name": name, "category": category,
                           "colour": colour, "size": size, "quantity": line.quantity,
                           "unit_price_minor": price})  # fmt: skip
        total = sum(w["quantity"] * w["unit_price_minor"] for w in wanted)
        data = {
            "order_number": number,
            "customer_id": customer_id,
            "fulfilment": fulfilment,
            "pickup_store_id": pickup_store_id,
            "lines": wanted,
            "currency": currency,
            "total_minor": total,
            "staff_id": actor.id,
            "till_id": actor.till_id,
        }
        seq = append_event(db, ctx.origin, "order.requested", number, data, now)
        event_id = event_id_at(db, seq)
        db.execute(
            "INSERT INTO order_requests (event_id, number, customer_id, fulfilment,"
            " pickup_store_id, lines, total_minor, currency, staff_id, till_id, outbox_seq,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [event_id, number, customer_id, fulfilment, pickup_store_id, json.dumps(wanted),
             total, currency, actor.id, actor.till_id, seq, to_iso(now)],
        )  # fmt: skip
        audit(db, actor, "order.requested", number, {"fulfilment": fulfilment}, now)
        return _request_from_row(db, _ROW_SQL + " WHERE r.number = ?", [number])[0]


def requested_orders(ctx: AgentContext, customer_id: str) -> tuple[RequestedOrder, ...]:
    """The customer's requests whose order has not come back from the centre yet,
    newest first."""
    return tuple(
        _request_from_row(
            ctx.store.db,
            _ROW_SQL + " WHERE r.customer_id = ? AND NOT EXISTS (SELECT 1 FROM orders o"
            " WHERE o.number = r.number) ORDER BY r.created_at DESC",
            [customer_id],
        )
    )


_ROW_SQL = (
    "SELECT r.number, r.customer_id, r.fulfilment, r.pickup_store_id, r.lines,"
    " r.total_minor, r.currency, r.created_at, r.outbox_seq FROM order_requests r"
)


def _request_from_row(db, sql: str, params: list) -> list[RequestedOrder]:  # type: ignore[no-untyped-def]
    found = []
    for number, customer_id, fulfilment, pickup, lines, total, currency, at, seq in db.execute(
        sql, params
    ).fetchall():
        found.append(
            RequestedOrder(
                number=number,
                customer_id=customer_id,
                fulfilment=fulfilment,
                pickup_store_id=pickup,
                lines=tuple(
                    RequestedLine(
                        ln["gtin"],
                        ln["name"],
                        ln["size"],
                        ln["colour"],
                        ln["quantity"],
                        Money(ln["unit_price_minor"], currency),
                    )
                    for ln in json.loads(lines)
                ),
                total=Money(total, currency),
                requested_at=from_iso(at),
                state=_STATE[event_state(db, seq)],  # type: ignore[arg-type]
            )
        )
    return found
