"""Recognising a customer at the till or kiosk and building what staff see about them."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlite_utils import Database

from edge_agent.centre import CentreLookup, CustomerKey, why_not_here
from edge_agent.codes import UNKNOWN_TYPED, Code, CodeRules, classify_typed
from edge_agent.context import AgentContext
from edge_agent.domain import CustomerProfile, OrderSummary, PurchasedItem
from edge_agent.errors import CustomerNotFound, InputRefused
from edge_agent.i18n import Phrase
from edge_agent.order_requests import requested_orders
from edge_agent.orders import (
    list_customer_orders,
    lookup_budget,
    open_orders,
    ready_for_pickup_here,
)
from edge_agent.outbox import append_event
from sync.protocol.clock import from_iso, to_iso

IdentifyMethod = Literal["loyalty_id", "email", "phone"]
Channel = Literal["scan", "typed"]

RECENT_PURCHASES = 10


@dataclass(frozen=True)
class IdentifyQuery:
    method: IdentifyMethod
    value: str


def parse_query(ctx: AgentContext, text: str) -> IdentifyQuery:
    """Work out what staff typed or scanned: a loyalty ID, an email or a phone number."""
    return identify_query(classify_typed(text, CodeRules.from_config(ctx.config)))


def identify_query(code: Code) -> IdentifyQuery:
    """The customer look-up a classified string asks for; InputRefused if it names none."""
    if code.kind in ("loyalty_id", "email", "phone"):
        return IdentifyQuery(code.kind, code.value)
    raise InputRefused(Phrase(code.reason or UNKNOWN_TYPED))


def identify_customer(
    ctx: AgentContext,
    query: IdentifyQuery,
    *,
    channel: Channel,
    source: str,
    till_id: str | None = None,
) -> CustomerProfile:
    """Find the customer and record the identification (event to the centre)."""
    customer_id = find_customer_id(ctx, query)
    now = ctx.clock()
    with ctx.store.transaction() as db:
        record_identification(ctx, db, customer_id, query.method, channel, source, till_id, now)
    ctx.metrics.identifications.labels(query.method, channel).inc()
    return customer_profile(ctx, customer_id)


def record_identification(
    ctx: AgentContext,
    db: Database,
    customer_id: str,
    method: str,
    channel: Channel,
    source: str,
    till_id: str | None,
    at: datetime,
    **extra: str,
) -> None:
    """Inside the caller's transaction: the customer was seen now; tell the centre."""
    db.execute("UPDATE customers SET last_seen_at = ? WHERE id = ?", [to_iso(at), customer_id])
    data = {"customer_id": customer_id, "method": method, "channel": channel,
            "source": source, "till_id": till_id, **extra}  # fmt: skip
    append_event(db, ctx.origin, "customer.identified", subject=customer_id, data=data, at=at)


def customer_profile(ctx: AgentContext, customer_id: str) -> CustomerProfile:
    db = ctx.store.db
    row = db.execute(
        "SELECT c.id, c.first_name, c.last_name, c.loyalty_id, c.consent_marketing,"
        " l.tier, COALESCE(l.points, 0)"
        " FROM customers c LEFT JOIN loyalty_accounts l ON l.customer_id = c.id"
        " WHERE c.id = ?",
        [customer_id],
    ).fetchone()
    if row is None:
        raise CustomerNotFound(Phrase("this customer is not in the store's cache"))
    cid, first, last, loyalty_id, consent, tier, points = row
    recent = _recent_purchases(ctx, customer_id)
    return CustomerProfile(
        customer_id=cid,
        first_name=first,
        last_name=last,
        loyalty_id=loyalty_id,
        tier=tier,
        points=points,
        consent_marketing=bool(consent),
        open_orders=open_orders(ctx, customer_id),
        ready_for_pickup_here=ready_for_pickup_here(ctx, customer_id),
        recent_purchases=recent,
        preferred_sizes=_preferred_sizes(recent),
        requested_orders=requested_orders(ctx, customer_id),
        wallet_pass=_wallet_pass(db, customer_id),
    )


def _wallet_pass(db: Database, customer_id: str) -> str:
    """Whether the customer carries a pass of ours, as the centre last said."""
    row = db.execute(
        "SELECT MAX(on_device) FROM passes WHERE customer_id = ? AND status = 'active'"
        " AND kind = 'loyalty'",
        [customer_id],
    ).fetchone()
    if row is None or row[0] is None:
        return "none"
    return "on_phone" if row[0] else "issued"


def find_customer_id(
    ctx: AgentContext, query: IdentifyQuery, centre: CentreLookup | None = None
) -> str:
    """The customer behind a query, without recording an identification (order search).
    On a cache miss, asks the centre when one is given; what it finds is cached with the
    customer's newest orders."""
    started = time.monotonic()
    customer_id = _find_customer_id(ctx, query)
    if customer_id is not None:
        return customer_id
    if centre is None:
        raise CustomerNotFound(_not_found_message(query.method))
    by, key = _centre_key(ctx, query)
    answer = centre.fetch_customer_orders(by, key, lookup_budget(ctx, started))
    customer_id = _find_customer_id(ctx, query)
    if customer_id is None:
        raise CustomerNotFound(
            Phrase(
                "no customer with that %(what)s in this store's cache %(centre)s",
                what=_IDENTIFY_WHAT[query.method],
                centre=why_not_here(answer),
            )
        )
    return customer_id


def _find_customer_id(ctx: AgentContext, query: IdentifyQuery) -> str | None:
    if query.method == "loyalty_id":
        sql, key = "SELECT id FROM customers WHERE loyalty_id = ?", query.value
    elif query.method == "email":
        sql, key = "SELECT id FROM customers WHERE email_hash = ?", ctx.hasher.email(query.value)
    else:
        sql, key = "SELECT id FROM customers WHERE phone_hash = ?", ctx.hasher.phone(query.value)
    # Several customers can share a household phone; the most recently active one wins.
    row = ctx.store.db.execute(f"{sql} ORDER BY updated_at DESC LIMIT 1", [key]).fetchone()
    return row[0] if row else None


def search_customer_orders(
    ctx: AgentContext, query: IdentifyQuery, centre: CentreLookup | None = None
) -> tuple[str, tuple[OrderSummary, ...]]:
    """The customer behind a query and their orders (order search at the till). The
    centre is asked when the cache has no answer: no such customer, or none of their
    orders (e.g. a delivered online order, which no store is sent until it is looked up)."""
    started = time.monotonic()
    customer_id = _find_customer_id(ctx, query)
    if customer_id is None:
        customer_id = find_customer_id(ctx, query, centre)
    elif centre is not None and not list_customer_orders(ctx, customer_id, limit=1):
        # Whatever the centre says, the cache's answer (the customer) stands.
        centre.fetch_customer_orders(*_centre_key(ctx, query), lookup_budget(ctx, started))
    return customer_id, list_customer_orders(ctx, customer_id)


def _centre_key(ctx: AgentContext, query: IdentifyQuery) -> tuple[CustomerKey, str]:
    """What the centre is asked by: the loyalty id, or the salted hash (never the
    address itself: the centre keeps the same hashes)."""
    if query.method == "loyalty_id":
        return "loyalty_id", query.value
    if query.method == "email":
        return "email_hash", ctx.hasher.email(query.value)
    return "phone_hash", ctx.hasher.phone(query.value)


def _recent_purchases(ctx: AgentContext, customer_id: str) -> tuple[PurchasedItem, ...]:
    rows = ctx.store.db.execute(
        "SELECT o.number, o.placed_at, l.name, l.category, l.colour, l.size"
        " FROM orders o JOIN order_lines l ON l.order_id = o.id"
        " WHERE o.customer_id = ? AND o.status IN ('delivered', 'collected')"
        " ORDER BY o.placed_at DESC, l.line_no LIMIT ?",
        [customer_id, RECENT_PURCHASES],
    ).fetchall()
    return tuple(
        PurchasedItem(
            order_number=r[0],
            placed_at=from_iso(r[1]),
            name=r[2],
            category=r[3],
            colour=r[4],
            size=r[5],
        )
        for r in rows
    )


def _preferred_sizes(items: tuple[PurchasedItem, ...]) -> dict[str, str]:
    """The size bought most often in each category (ties: the most recent)."""
    by_category: dict[str, Counter[str]] = {}
    for item in items:  # newest first, and Counter keeps first-seen order on ties
        if item.category and item.size:
            by_category.setdefault(item.category, Counter())[item.size] += 1
    return {cat: sizes.most_common(1)[0][0] for cat, sizes in sorted(by_category.items())}


_IDENTIFY_WHAT = {
    "loyalty_id": Phrase("loyalty number"),
    "email": Phrase("email"),
    "phone": Phrase("phone number"),
}


def _not_found_message(method: IdentifyMethod) -> str:
    return Phrase(
        "no customer with that %(what)s in this store's cache; check it or ask for another",
        what=_IDENTIFY_WHAT[method],
    )
