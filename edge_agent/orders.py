"""Finding online orders in the local cache: by number, and a customer's orders."""

from __future__ import annotations

import sqlite3
import time

from sqlite_utils import Database

from edge_agent.centre import CentreLookup, why_not_here
from edge_agent.codes import CodeRules
from edge_agent.conflicts import order_conflicts
from edge_agent.context import AgentContext
from edge_agent.domain import Money, Order, OrderLine, OrderSummary
from edge_agent.errors import InputRefused, OrderNotFound
from edge_agent.i18n import Phrase
from hardware.cardguard import CARD_DATA_REASON, looks_like_card_data
from sync.protocol.clock import from_iso

# Statuses in which the customer is still waiting for something.
OPEN_STATUSES = ("placed", "processing", "shipped", "ready_for_pickup")

_ORDER_COLUMNS = (
    "id, number, customer_id, channel, fulfilment, status, pickup_store_id, placed_at, "
    "fulfilled_at, currency, total_minor, payment_method"
)
_SUMMARY_SQL = (
    "SELECT o.number, o.status, o.fulfilment, o.pickup_store_id, o.placed_at, o.total_minor,"
    " o.currency, (SELECT COALESCE(SUM(quantity), 0) FROM order_lines WHERE order_id = o.id)"
    " FROM orders o"
)


def normalise_order_number(ctx: AgentContext, raw: str) -> str:
    number = CodeRules.from_config(ctx.config).order_number(raw)
    if number is None:
        if looks_like_card_data(raw):
            raise InputRefused(CARD_DATA_REASON)  # and never shown back
        raise InputRefused(
            Phrase(
                "'%(text)s' is not an order number; check it on the customer's confirmation email",
                text=raw.strip()[:40],
            )
        )
    return number


def find_order(ctx: AgentContext, raw_number: str, centre: CentreLookup | None = None) -> Order:
    """The order with this number, with its lines, from the local cache; on a miss, from
    the centre when one is given (it answers within `sync.lookup_timeout_ms`, or the
    till is told the centre did not answer)."""
    started = time.monotonic()
    number = normalise_order_number(ctx, raw_number)
    order = _cached_order(ctx.store.db, number)
    if order is not None:
        return order
    if centre is None:
        raise OrderNotFound(Phrase("order %(number)s is not in this store's cache", number=number))
    answer = centre.fetch_order(number, lookup_budget(ctx, started))
    order = _cached_order(ctx.store.db, number)
    if order is None:
        raise OrderNotFound(
            Phrase(
                "order %(number)s is not in this store's cache %(centre)s",
                number=number,
                centre=why_not_here(answer),
            )
        )
    return order


def lookup_budget(ctx: AgentContext, started: float) -> float:
    """Seconds left for asking the centre, of the look-up deadline counted from `started`."""
    return max(0.0, ctx.config.sync.lookup_timeout_ms / 1000 - (time.monotonic() - started))


def _cached_order(db: Database, number: str) -> Order | None:
    row = db.execute(f"SELECT {_ORDER_COLUMNS} FROM orders WHERE number = ?", [number]).fetchone()
    return _order_from_row(db, row) if row is not None else None


def list_customer_orders(
    ctx: AgentContext, customer_id: str, limit: int = 50
) -> tuple[OrderSummary, ...]:
    """The customer's most recent orders, newest first."""
    rows = ctx.store.db.execute(
        f"{_SUMMARY_SQL} WHERE o.customer_id = ? ORDER BY o.placed_at DESC LIMIT ?",
        [customer_id, limit],
    ).fetchall()
    return tuple(_summary_from_row(row) for row in rows)


def open_orders(ctx: AgentContext, customer_id: str) -> tuple[OrderSummary, ...]:
    marks = ", ".join("?" for _ in OPEN_STATUSES)
    rows = ctx.store.db.execute(
        f"{_SUMMARY_SQL} WHERE o.customer_id = ? AND o.status IN ({marks})"
        " ORDER BY o.placed_at DESC",
        [customer_id, *OPEN_STATUSES],
    ).fetchall()
    return tuple(_summary_from_row(row) for row in rows)


def ready_for_pickup_here(ctx: AgentContext, customer_id: str) -> tuple[OrderSummary, ...]:
    rows = ctx.store.db.execute(
        f"{_SUMMARY_SQL} WHERE o.customer_id = ? AND o.fulfilment = 'click_and_collect'"
        " AND o.status = 'ready_for_pickup' AND o.pickup_store_id = ?"
        " ORDER BY o.placed_at",
        [customer_id, ctx.config.store.id],
    ).fetchall()
    return tuple(_summary_from_row(row) for row in rows)


def _order_from_row(db: Database, row: sqlite3.Row | tuple) -> Order:
    (
        order_id,
        number,
        customer_id,
        channel,
        fulfilment,
        status,
        pickup_store_id,
        placed_at,
        fulfilled_at,
        currency,
        total_minor,
        payment_method,
    ) = row
    lines = db.execute(
        "SELECT line_no, gtin, sku, name, category, colour, size, quantity, returned_quantity,"
        " unit_price_minor, final_sale FROM order_lines WHERE order_id = ? ORDER BY line_no",
        [order_id],
    ).fetchall()
    return Order(
        number=number,
        customer_id=customer_id,
        channel=channel,
        fulfilment=fulfilment,
        status=status,
        pickup_store_id=pickup_store_id,
        placed_at=from_iso(placed_at),
        fulfilled_at=from_iso(fulfilled_at) if fulfilled_at else None,
        total=Money(total_minor, currency),
        payment_method=payment_method,
        conflicts=order_conflicts(db, number),
        lines=tuple(
            OrderLine(
                line_no=ln[0],
                gtin=ln[1],
                sku=ln[2],
                name=ln[3],
                category=ln[4],
                colour=ln[5],
                size=ln[6],
                quantity=ln[7],
                returned_quantity=ln[8],
                unit_price=Money(ln[9], currency),
                final_sale=bool(ln[10]),
            )
            for ln in lines
        ),
    )


def _summary_from_row(row: tuple) -> OrderSummary:
    number, status, fulfilment, pickup, placed_at, total_minor, currency, items = row
    return OrderSummary(
        number=number,
        status=status,
        fulfilment=fulfilment,
        pickup_store_id=pickup,
        placed_at=from_iso(placed_at),
        total=Money(total_minor, currency),
        item_count=items,
    )
