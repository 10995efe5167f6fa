"""Returns started at the kiosk: the customer picks lines, gets a slip with a QR code, and
the till scans it to load the quote. Nothing is refunded here; the till still quotes and
confirms through `edge_agent.returns`, with the connection state and staff it has.

The slip's code (`edge_agent.codes`: `RR:<id>`) carries a long random id, so one slip
cannot be guessed from another, and it stops working after `kiosk.return_request_hours`.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from edge_agent.codes import RETURN_SLIP_ID_MAX, return_slip_code, return_slip_id
from edge_agent.context import AgentContext
from edge_agent.domain import Order
from edge_agent.errors import InputRefused, NotFound, OrderNotFound
from edge_agent.orders import find_order, list_customer_orders
from edge_agent.receipts import return_slip
from edge_agent.returns import (
    RETURNABLE_STATUSES,
    ReturnQuote,
    ReturnRefused,
    ReturnRequestLine,
    quote_return,
)
from sync.protocol.clock import from_iso, to_iso

_ID_BYTES = 18  # 24 URL-safe characters, 144 random bits
RECENT_ORDERS = 20  # the kiosk offers recent orders only; older ones are past the window


class ReturnRequestNotFound(NotFound):
    code = "return_request_not_found"


class ReturnRequestExpired(ReturnRequestNotFound):
    code = "return_request_expired"
    http_status = 410


@dataclass(frozen=True)
class ReturnRequest:
    request_id: str
    order_number: str
    customer_id: str | None
    lines: tuple[ReturnRequestLine, ...]
    source: str
    created_at: datetime
    expires_at: datetime
    slip_job_id: int | None = None  # the printed slip, where the kiosk has a printer

    @property
    def slip_code(self) -> str:
        """What the slip's QR code carries and the till scans."""
        return return_slip_code(self.request_id)


def create_return_request(
    ctx: AgentContext,
    customer_id: str,
    order_number: str,
    lines: list[ReturnRequestLine],
    source: str,
) -> ReturnRequest:
    """Record what this customer wants to return from their own order; ReturnRefused if
    any line cannot come back (the kiosk shows why), OrderNotFound if not theirs."""
    order = find_order(ctx, order_number)
    if order.customer_id != customer_id:
        # Same answer as an unknown order: the kiosk must not confirm others' orders exist.
        raise OrderNotFound(f"order {order.number} is not on this account")
    # online=True: the kiosk only checks returnability; the till re-quotes with its link state.
    quote = quote_return(ctx, order.number, lines, "original_payment", online=True)
    if not quote.acceptable:
        raise ReturnRefused(
            quote.refusal or next(line.refusal for line in quote.lines if line.refusal)
        )
    now = ctx.clock()
    request = ReturnRequest(
        request_id=secrets.token_urlsafe(_ID_BYTES),
        order_number=order.number,
        customer_id=customer_id,
        lines=tuple(lines),
        source=source,
        created_at=now,
        expires_at=now + timedelta(hours=ctx.config.kiosk.return_request_hours),
    )
    stored_lines = [{"line_no": ln.line_no, "quantity": ln.quantity} for ln in lines]
    printer = ctx.receipt_printer
    with ctx.store.transaction() as db:
        db.execute(
            "INSERT INTO return_requests (id, order_number, customer_id, lines, source,"
            " created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [request.request_id, request.order_number, customer_id, json.dumps(stored_lines),
             source, to_iso(now), to_iso(request.expires_at)],
        )  # fmt: skip
        if printer is not None:
            # A kiosk with a printer hands the customer the slip on paper too.
            slip = return_slip(
                ctx.config, request.slip_code, order.number,
                [(ln.name, ln.requested, ln.refund) for ln in quote.lines],
                quote.total, request.expires_at,
            )  # fmt: skip
            request = replace(request, slip_job_id=printer.queue(slip))
    if printer is not None:
        printer.wake()
    return request


def load_return_request(ctx: AgentContext, code: str) -> ReturnRequest:
    """The request behind a slip code (`RR:<id>`) or a bare id; refused once expired."""
    request_id = return_slip_id(code)
    if not request_id or len(request_id) > RETURN_SLIP_ID_MAX:
        raise InputRefused("that is not a return slip code; scan the QR code on the slip")
    row = ctx.store.db.execute(
        "SELECT id, order_number, customer_id, lines, source, created_at, expires_at"
        " FROM return_requests WHERE id = ?",
        [request_id],
    ).fetchone()
    if row is None:
        raise ReturnRequestNotFound("this return slip is not known at this store")
    request = ReturnRequest(
        request_id=row[0],
        order_number=row[1],
        customer_id=row[2],
        lines=tuple(ReturnRequestLine(ln["line_no"], ln["quantity"]) for ln in json.loads(row[3])),
        source=row[4],
        created_at=from_iso(row[5]),
        expires_at=from_iso(row[6]),
    )
    if ctx.clock() > request.expires_at:
        raise ReturnRequestExpired(
            f"this return slip expired on {request.expires_at:%d/%m/%Y %H:%M} UTC; "
            "start the return again at the kiosk or at the till"
        )
    return request


def quote_return_request(ctx: AgentContext, code: str, *, online: bool) -> ReturnQuote:
    """The till's quote for a kiosk slip: the same as quoting those lines by hand."""
    request = load_return_request(ctx, code)
    return quote_return(
        ctx, request.order_number, list(request.lines), "original_payment", online=online
    )


def returnable_orders(ctx: AgentContext, customer_id: str) -> tuple[Order, ...]:
    """The customer's orders with something that can still come back (for the kiosk)."""
    now = ctx.clock()
    window = timedelta(days=ctx.config.returns.window_days)
    found = []
    for summary in list_customer_orders(ctx, customer_id, limit=RECENT_ORDERS):
        if summary.status not in RETURNABLE_STATUSES:
            continue
        order = find_order(ctx, summary.number)
        if order.fulfilled_at is None or now > order.fulfilled_at + window:
            continue
        if any(not ln.final_sale and ln.quantity > ln.returned_quantity for ln in order.lines):
            found.append(order)
    return tuple(found)
