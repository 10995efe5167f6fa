"""Click-and-collect hand-over: verify the order is this customer's, ready, at this store;
then hand it over (one transaction: pickup record, order collected, audit, event), with
suggestions of what goes with what they bought."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from edge_agent.centre import CentreAnswer, CentreLookup
from edge_agent.context import AgentContext
from edge_agent.customers import customer_profile
from edge_agent.domain import Money, Order
from edge_agent.errors import EdgeAgentError
from edge_agent.i18n import Phrase
from edge_agent.orders import find_order, lookup_budget
from edge_agent.outbox import append_event
from edge_agent.receipts import pickup_slip
from edge_agent.returns import ORDER_STATUS_TEXT
from edge_agent.staff import Actor, audit
from sync.protocol.clock import to_iso
from sync.protocol.stock import STOCK_GTINS_MAX

# What a stylist would offer beside each category (seeded catalogue's categories).
GOES_WITH = {
    "vestidos": ("calzado", "accesorios", "abrigos"),
    "camisas": ("pantalones", "punto", "accesorios"),
    "pantalones": ("camisas", "calzado", "punto"),
    "punto": ("pantalones", "abrigos", "accesorios"),
    "abrigos": ("punto", "accesorios", "calzado"),
    "calzado": ("accesorios", "pantalones", "vestidos"),
    "accesorios": ("vestidos", "camisas", "abrigos"),
}
MAX_SUGGESTIONS = 4
# Products per category looked up elsewhere when this store has none of that category.
ORDERABLE_CANDIDATES = 5


class PickupRefused(EdgeAgentError):
    code = "pickup_refused"
    http_status = 409


@dataclass(frozen=True)
class Suggestion:
    gtin: str
    name: str
    category: str
    size: str | None
    price: Money
    stock_here: int
    # "here": on this store's shelves; "orderable": not here, but another store has it
    # (the nearest is named), so staff can order it for the customer.
    availability: Literal["here", "orderable"] = "here"
    orderable_from: str | None = None


@dataclass(frozen=True)
class PickupCheck:
    order: Order
    customer_first_name: str | None
    suggestions: tuple[Suggestion, ...]


@dataclass(frozen=True)
class Pickup:
    pickup_id: str
    order_number: str
    collected_at: datetime
    slip_job_id: int | None  # the pickup slip's print job, if a printer is set up


def verify_pickup(
    ctx: AgentContext,
    order_number: str,
    customer_id: str | None,
    centre: CentreLookup | None = None,
) -> PickupCheck:
    """The order, if it can be handed over here now to this customer; else PickupRefused
    (an order this store has not cached is asked of the centre, like an order look-up, so
    an order for another store is refused as such). With a centre, suggestions this store
    lacks may come from other stores' stock."""
    order = find_order(ctx, order_number, centre)
    _check_can_hand_over(ctx, order, customer_id)
    first_name = None
    if order.customer_id:
        first_name = customer_profile(ctx, order.customer_id).first_name
    return PickupCheck(order, first_name, suggestions_for(ctx, order, centre))


def hand_over(
    ctx: AgentContext,
    order_number: str,
    customer_id: str | None,
    *,
    actor: Actor,
    centre: CentreLookup | None = None,
) -> Pickup:
    """Record the hand-over; its pickup slip prints on the context's receipt printer and
    commits with it."""
    # The centre is asked (for an order not cached) before the write transaction opens.
    find_order(ctx, order_number, centre)
    now = ctx.clock()
    printer = ctx.receipt_printer
    with ctx.store.transaction() as db:
        order = find_order(ctx, order_number)  # re-read under the write lock
        _check_can_hand_over(ctx, order, customer_id)
        pickup_id = f"P-{uuid.uuid4().hex[:12]}"
        order_id = db.execute("SELECT id FROM orders WHERE number = ?", [order.number]).fetchone()[
            0
        ]
        db.execute(
            "INSERT INTO pickups (id, order_id, staff_id, till_id, collected_at)"
            " VALUES (?, ?, ?, ?, ?)",
            [pickup_id, order_id, actor.id, actor.till_id, to_iso(now)],
        )
        db.execute(
            "UPDATE orders SET status = 'collected', fulfilled_at = ?, updated_at = ? WHERE id = ?",
            [to_iso(now), to_iso(now), order_id],
        )
        audit(db, actor, "order.collected", order.number, None, now)
        slip_job = None
        if printer is not None:
            first_name = (
                customer_profile(ctx, order.customer_id).first_name if (order.customer_id) else None
            )
            slip_job = printer.queue(pickup_slip(ctx.config, order, first_name, now))
        append_event(
            db,
            ctx.origin,
            "order.collected",
            subject=order.number,
            data={
                "pickup_id": pickup_id,
                "order_number": order.number,
                "customer_id": order.customer_id,
                "staff_id": actor.id,
                "till_id": actor.till_id,
            },
            at=now,
        )
    if printer is not None:
        printer.wake()
    return Pickup(pickup_id, order.number, now, slip_job)


def suggestions_for(
    ctx: AgentContext, order: Order, centre: CentreLookup | None = None
) -> tuple[Suggestion, ...]:
    """Items from categories that go with the order, in the customer's sizes: what this
    store has first; then, for a category it has nothing of, what another store has and
    staff can order (asked of the centre within the look-up deadline)."""
    started = time.monotonic()
    bought = {line.gtin for line in order.lines}
    categories = [c for line in order.lines for c in GOES_WITH.get(line.category or "", ())]
    sizes: dict[str, str] = {}
    if order.customer_id:
        sizes = customer_profile(ctx, order.customer_id).preferred_sizes
    found: list[Suggestion] = []
    lacking: dict[str, list[tuple]] = {}  # category -> products in size, none here
    for category in dict.fromkeys(categories):  # keep order, drop repeats
        size = sizes.get(category)
        rows = ctx.store.db.execute(
            "SELECT gtin, name, category, size, price_minor, currency, stock_here FROM products"
            " WHERE category = ? AND (? IS NULL OR size = ? OR size = 'Única')"
            " ORDER BY stock_here > 0 DESC, stock_here DESC, gtin LIMIT ?",
            [category, size, size, ORDERABLE_CANDIDATES],
        ).fetchall()
        rows = [r for r in rows if r[0] not in bought]
        if rows and rows[0][6] > 0:
            found.append(_suggestion(rows[0]))
        elif rows:
            lacking[category] = rows
        if len(found) == MAX_SUGGESTIONS:
            return tuple(found)
    if lacking and centre is not None:
        found += _orderable(ctx, lacking, centre, started)
    return tuple(found[:MAX_SUGGESTIONS])


def _orderable(
    ctx: AgentContext, lacking: dict[str, list[tuple]], centre: CentreLookup, started: float
) -> list[Suggestion]:
    gtins = [row[0] for rows in lacking.values() for row in rows][:STOCK_GTINS_MAX]
    asked = centre.fetch_stock_elsewhere(gtins, lookup_budget(ctx, started))
    if asked.answer is not CentreAnswer.FOUND:
        return []  # offline or no answer: suggest only what is here
    nearest: dict[str, str] = {}
    for store in asked.stores:  # nearest first
        for gtin, quantity in store.levels.items():
            if quantity > 0:
                nearest.setdefault(gtin, store.name)
    found = []
    for rows in lacking.values():
        row = next((r for r in rows if r[0] in nearest), None)
        if row is not None:
            found.append(_suggestion(row, "orderable", nearest[row[0]]))
    return found


def _suggestion(row: tuple, availability: str = "here", source: str | None = None) -> Suggestion:
    gtin, name, category, size, price_minor, currency, stock = row
    return Suggestion(gtin, name, category, size, Money(price_minor, currency), max(0, stock),
                      availability, source)  # type: ignore[arg-type]  # fmt: skip


def _check_can_hand_over(ctx: AgentContext, order: Order, customer_id: str | None) -> None:
    here = ctx.config.store.id
    if order.fulfilment != "click_and_collect":
        raise PickupRefused(
            Phrase("order %(number)s is a home delivery, not a store pickup", number=order.number)
        )
    if order.pickup_store_id != here:
        raise PickupRefused(
            Phrase(
                "order %(number)s is for pickup at store %(store)s, not here",
                number=order.number,
                store=order.pickup_store_id,
            )
        )
    if order.status == "collected":
        raise PickupRefused(Phrase("order %(number)s was already collected", number=order.number))
    if order.status == "cancelled":
        raise PickupRefused(Phrase("order %(number)s was cancelled", number=order.number))
    if order.status != "ready_for_pickup":
        raise PickupRefused(
            Phrase(
                "order %(number)s is not ready yet (%(status)s)",
                number=order.number,
                status=ORDER_STATUS_TEXT.get(order.status, order.status),
            )
        )
    if customer_id is not None and order.customer_id != customer_id:
        raise PickupRefused(
            Phrase(
                "order %(number)s belongs to another customer; ask for the buyer's pass or"
                " the pickup code from the confirmation email",
                number=order.number,
            )
        )
