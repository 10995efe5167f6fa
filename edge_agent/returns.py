"""Taking back items bought online, with no paper receipt: quote, then confirm.

The quote says, line by line, what can come back and why not; confirming re-checks
everything inside one write transaction (two tills returning the same line at once
cannot both succeed), records the return, updates the order and emits `order.returned`
so marketing stops the follow-up mail for those items. The agent never touches card
data: a refund to the original payment method is recorded for the centre to execute.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from sqlite_utils import Database

from edge_agent.context import AgentContext
from edge_agent.domain import Money, Order
from edge_agent.errors import EdgeAgentError, InputRefused, InvalidInput
from edge_agent.i18n import Phrase
from edge_agent.orders import find_order
from edge_agent.outbox import append_event
from edge_agent.receipts import return_receipt
from edge_agent.staff import Actor, audit
from edge_agent.stock import add_movements, stock_here
from hardware.money import format_money
from sync.protocol.clock import to_iso

RefundMethod = Literal["original_payment", "store_credit"]
RETURNABLE_STATUSES = ("delivered", "collected")
# An order's status as a sentence says it (the screens' labels are the templates').
ORDER_STATUS_TEXT = {
    "placed": Phrase("placed"),
    "processing": Phrase("processing"),
    "shipped": Phrase("shipped"),
    "ready_for_pickup": Phrase("ready for pickup"),
    "cancelled": Phrase("cancelled"),
}


class ReturnRefused(EdgeAgentError):
    code = "return_refused"
    http_status = 422


class ApprovalRequired(EdgeAgentError):
    code = "supervisor_approval_required"
    http_status = 403


@dataclass(frozen=True)
class ReturnRequestLine:
    line_no: int
    quantity: int
    reason: str | None = None


@dataclass(frozen=True)
class LineQuote:
    line_no: int
    sku: str
    name: str
    size: str | None
    bought: int
    already_returned: int
    returnable: int
    requested: int
    refund: Money
    refusal: str | None
    # Set when the centre found this line returned at another store too.
    conflict_id: str | None = None


@dataclass(frozen=True)
class ReturnQuote:
    order_number: str
    customer_id: str | None
    window_ends: datetime | None
    lines: tuple[LineQuote, ...]
    refund_method: RefundMethod
    total: Money
    # Already refunded on this order here, by any till in any number of returns: the
    # cashier limit holds for the order, not for one request.
    refunded_before: Money
    needs_supervisor: bool
    offline: bool
    refusal: str | None  # set when the return as a whole cannot go ahead
    acceptable: bool  # no refusal for the return nor for any line


@dataclass(frozen=True)
class ConfirmedReturn:
    return_id: str
    quote: ReturnQuote
    approved_by: str | None
    created_at: datetime
    receipt_job_id: int | None  # the return receipt's print job, if a printer is set up


def quote_return(
    ctx: AgentContext,
    order_number: str,
    lines: list[ReturnRequestLine],
    refund_method: RefundMethod,
    *,
    online: bool,
    till_id: str | None = None,
) -> ReturnQuote:
    """What would be refunded for these lines, and every reason something cannot be.

    `till_id` is the till the refund would leave from (its offline allowance for the day).
    """
    order = find_order(ctx, order_number)
    return _quote(ctx, order, lines, refund_method, online, till_id)


def confirm_return(
    ctx: AgentContext,
    order_number: str,
    lines: list[ReturnRequestLine],
    refund_method: RefundMethod,
    *,
    actor: Actor,
    online: bool,
    approver: Actor | None = None,
) -> ConfirmedReturn:
    """Record the return, or raise ReturnRefused / ApprovalRequired with the reason.

    The receipt's print job (on the context's receipt printer) commits with the return:
    no return without its receipt, whichever screen confirmed it.
    """
    printer = ctx.receipt_printer
    now = ctx.clock()
    with ctx.store.transaction() as db:
        # Re-read inside the write lock: the quote the till showed may be stale.
        # The limits count what this order (and, offline, this till today) has refunded
        # already; read under the same write lock, two requests cannot both pass.
        quote = _quote(
            ctx, find_order(ctx, order_number), lines, refund_method, online, till_key(actor)
        )
        if not quote.acceptable:
            raise ReturnRefused(quote.refusal or _first_line_refusal(quote))
        approved_by = None
        if quote.needs_supervisor and not actor.can("supervisor"):
            if approver is None or not approver.can("supervisor"):
                limit = Money(ctx.config.returns.cashier_limit_minor, quote.total.currency)
                shown = format_money(limit, ctx.config.store.locale)
                raise ApprovalRequired(
                    Phrase("refunds over %(limit)s need a supervisor's approval", limit=shown)
                )
            approved_by = approver.id
        return_id = f"R-{uuid.uuid4().hex[:12]}"
        order_id = db.execute(
            "SELECT id FROM orders WHERE number = ?", [quote.order_number]
        ).fetchone()[0]
        db.execute(
            "INSERT INTO returns (id, order_id, refund_method, refund_total_minor, currency,"
            " staff_id, till_id, offline, created_at, approved_by)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [return_id, order_id, refund_method, quote.total.amount_minor,
             quote.total.currency, actor.id, till_key(actor), int(not online), to_iso(now),
             approved_by],
        )  # fmt: skip
        reasons = {line.line_no: line.reason for line in lines}
        back_on_shelf: list[tuple[str, int]] = []
        for line in quote.lines:
            line_id, gtin = db.execute(
                "SELECT id, gtin FROM order_lines WHERE order_id = ? AND line_no = ?",
                [order_id, line.line_no],
            ).fetchone()
            back_on_shelf.append((gtin, line.requested))
            db.execute(
                "INSERT INTO return_lines (return_id, order_line_id, quantity, amount_minor,"
                " reason) VALUES (?, ?, ?, ?, ?)",
                [return_id, line_id, line.requested, line.refund.amount_minor,
                 reasons.get(line.line_no)],
            )  # fmt: skip
            db.execute(
                "UPDATE order_lines SET returned_quantity = returned_quantity + ? WHERE id = ?",
                [line.requested, line_id],
            )
        # What comes back is on this store's shelves now: the stock here moves at once.
        carried = stock_here(db, [gtin for gtin, _ in back_on_shelf])
        add_movements(db, return_id, "return", [m for m in back_on_shelf if m[0] in carried], now)
        detail = {"order": quote.order_number, "total_minor": quote.total.amount_minor}
        audit(db, actor, "return.confirmed", return_id, detail, now)
        receipt_job = None
        if printer is not None:
            receipt_job = printer.queue(
                return_receipt(
                    ctx.config, return_id, now, quote.order_number,
                    [(ln.name, ln.requested, ln.refund) for ln in quote.lines],
                    quote.total, refund_method,
                )
            )  # fmt: skip
        append_event(
            db,
            ctx.origin,
            "order.returned",
            subject=quote.order_number,
            data={
                "return_id": return_id,
                "order_number": quote.order_number,
                "customer_id": quote.customer_id,
                "lines": [
                    # ordered_quantity lets the centre see a line returned at two stores
                    # for more than was bought (sync.central.conflicts).
                    {"line_no": ln.line_no, "sku": ln.sku, "quantity": ln.requested,
                     "ordered_quantity": ln.bought, "refund_minor": ln.refund.amount_minor,
                     "reason": reasons.get(ln.line_no)}
                    for ln in quote.lines
                ],
                "refund": {"method": refund_method, "amount_minor": quote.total.amount_minor,
                           "currency": quote.total.currency},
                "offline": not online,
                "staff_id": actor.id,
                "till_id": actor.till_id,
                "approved_by": approved_by,
            },
            at=now,
        )  # fmt: skip
    if printer is not None:
        printer.wake()
    return ConfirmedReturn(return_id, quote, approved_by, now, receipt_job)


def _quote(
    ctx: AgentContext,
    order: Order,
    requested: list[ReturnRequestLine],
    refund_method: RefundMethod,
    online: bool,
    till_id: str | None,
) -> ReturnQuote:
    if not requested:
        raise InvalidInput(Phrase("choose at least one line to return"))
    numbers = [r.line_no for r in requested]
    if len(set(numbers)) != len(numbers):
        raise InputRefused(Phrase("each order line may appear once in a return"))
    settings = ctx.config.returns
    now = ctx.clock()
    by_no = {line.line_no: line for line in order.lines}
    conflicts = {c.line_no: c for c in order.conflicts}
    window_ends = (
        order.fulfilled_at + timedelta(days=settings.window_days) if order.fulfilled_at else None
    )
    refusal = None
    if order.status not in RETURNABLE_STATUSES or window_ends is None:
        refusal = Phrase(
            "order %(number)s is %(status)s, not yet received",
            number=order.number,
            status=ORDER_STATUS_TEXT.get(order.status, order.status),
        )
    elif now > window_ends:
        refusal = Phrase(
            "the return window for order %(number)s ended on %(date)s",
            number=order.number,
            date=f"{window_ends:%d/%m/%Y}",
        )
    quotes = []
    for request in requested:
        line = by_no.get(request.line_no)
        if line is None:
            raise InputRefused(
                Phrase("order %(number)s has no line %(line)s", number=order.number,
                       line=request.line_no)
            )  # fmt: skip
        if request.quantity < 1:
            raise InvalidInput(Phrase("a returned quantity is at least 1"))
        conflict = conflicts.get(line.line_no)
        # Returns at other stores count too, once the centre has told us of them.
        returned = max(line.returned_quantity, conflict.returned_quantity if conflict else 0)
        returnable = 0 if line.final_sale else max(0, line.quantity - returned)
        line_refusal = None
        if line.final_sale:
            line_refusal = Phrase("%(name)s was a final-sale item", name=line.name)
        elif conflict is not None and conflict.state == "open":
            line_refusal = Phrase(
                "%(name)s was also returned at another store (%(returned)s returned,"
                " %(bought)s bought); a supervisor must resolve that first",
                name=line.name, returned=conflict.returned_quantity, bought=line.quantity,
            )  # fmt: skip
        elif request.quantity > returnable:
            line_refusal = (
                Phrase("%(name)s: %(returnable)s of %(bought)s can still come back"
                       " (%(returned)s already returned)", name=line.name,
                       returnable=returnable, bought=line.quantity, returned=returned)
                if returned
                else Phrase("%(name)s: %(returnable)s of %(bought)s can still come back",
                            name=line.name, returnable=returnable, bought=line.quantity)
            )  # fmt: skip
        quotes.append(
            LineQuote(
                line_no=line.line_no, sku=line.sku, name=line.name, size=line.size,
                bought=line.quantity, already_returned=returned,
                returnable=returnable, requested=request.quantity,
                refund=Money(line.unit_price.amount_minor * request.quantity, order.total.currency),
                refusal=line_refusal, conflict_id=conflict.id if conflict else None,
            )
        )  # fmt: skip
    total = Money(sum(q.refund.amount_minor for q in quotes), order.total.currency)
    db = ctx.store.db
    before = Money(refunded_on_order(db, order.number), total.currency)
    if refusal is None and not online:
        today = offline_refunded_today(ctx, till_id, now)
        if today + total.amount_minor > settings.offline_refund_limit_minor:
            limit = format_money(
                Money(settings.offline_refund_limit_minor, total.currency),
                ctx.config.store.locale,
            )
            spent = format_money(Money(today, total.currency), ctx.config.store.locale)
            refusal = Phrase(
                "the store is offline and this till may refund at most %(limit)s a day until"
                " the connection comes back (%(spent)s refunded offline today)",
                limit=limit,
                spent=spent,
            )
    return ReturnQuote(
        order_number=order.number,
        customer_id=order.customer_id,
        window_ends=window_ends,
        lines=tuple(quotes),
        refund_method=refund_method,
        total=total,
        refunded_before=before,
        needs_supervisor=before.amount_minor + total.amount_minor > settings.cashier_limit_minor,
        offline=not online,
        refusal=refusal,
        acceptable=refusal is None and all(q.refusal is None for q in quotes),
    )


def till_key(actor: Actor) -> str:
    """The till a refund leaves from: the staff session's till, else the device key's name."""
    return actor.till_id or f"{actor.kind}:{actor.id}"


def refunded_on_order(db: Database, order_number: str) -> int:
    """Minor units refunded on this order at this store so far, in every return."""
    row = db.execute(
        "SELECT COALESCE(SUM(r.refund_total_minor), 0) FROM returns r"
        " JOIN orders o ON o.id = r.order_id WHERE o.number = ?",
        [order_number],
    ).fetchone()
    return int(row[0])


def offline_refunded_today(ctx: AgentContext, till_id: str | None, now: datetime) -> int:
    """Minor units this till refunded offline since midnight in the store's time zone."""
    zone = ZoneInfo(ctx.config.store.timezone)
    midnight = datetime.combine(now.astimezone(zone).date(), time(0), tzinfo=zone)
    row = ctx.store.db.execute(
        "SELECT COALESCE(SUM(refund_total_minor), 0) FROM returns"
        " WHERE offline = 1 AND till_id IS ? AND created_at >= ?",
        [till_id, to_iso(midnight)],
    ).fetchone()
    return int(row[0])


def _first_line_refusal(quote: ReturnQuote) -> str:
    return next(line.refusal for line in quote.lines if line.refusal)
