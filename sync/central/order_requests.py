"""Orders requested at a till (`order.requested`) made orders of the centre's master data.

A store asks, for an identified customer, for what it lacks: to collect at another
store, or delivered home. In the ingest transaction, on the event's first arrival only
(the event id is the key, so a store that sends it again after a reconnect places it
once), the centre:
- writes the order (number chosen by the store, `R` + 16 hex digits) with its lines, and
  notes it as the centre's own (`requested_orders`: the centre is its system of record,
  so its hand-over moves it to `collected`, sync.central.order_collections);
- for a collection, sets the goods aside at the pickup store (its stock figure drops,
  and the store hears of it with its next coalesced levels) and sends the order down
  that store's feed ready for pickup, its customer first if the store lacks them;
- sends the order back to the asking store too, which then shows it among the
  customer's orders instead of as a request.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable

from pydantic import ValidationError

from sync.central.changes import append_change
from sync.central.conflicts import IngestedEvent, StoreChange
from sync.central.db import CentralDb
from sync.central.masterdata import read_customer, read_order, remember_store_knows, write_order
from sync.central.stock import reserve
from sync.protocol.changes import OrderUpserted
from sync.protocol.clock import iso_now
from sync.protocol.errors import ChangeRejected

log = logging.getLogger(__name__)

REQUESTED = "order.requested"
# The store takes the payment at its own till (no card data passes through the agent).
PAYMENT_METHOD = "paid_at_store"


def on_orders_requested(db: CentralDb, events: Iterable[IngestedEvent]) -> list[StoreChange]:
    """Make each newly stored request an order; returns the feed changes to publish after
    the commit. Bad data is logged, never raised (the event is stored already)."""
    changes: list[StoreChange] = []
    for event in events:
        if event.type != REQUESTED:
            continue
        try:
            changes += _place(db, event)
        except (ValueError, KeyError, TypeError, ValidationError, ChangeRejected) as exc:
            log.error("order request from store %s not placed: %s", event.store_id, exc)
    return changes


def _place(db: CentralDb, event: IngestedEvent) -> list[StoreChange]:
    envelope = json.loads(event.envelope)
    data = envelope["data"]
    number = data["order_number"]
    if read_order(db, number) is not None:
        # Another event with the same number: the first one stands.
        log.warning("order %s requested again by store %s; kept the first", number, event.store_id)
        return []
    collect = data["fulfilment"] == "click_and_collect"
    known = read_customer(db, data["customer_id"]) is not None
    if not known:
        log.warning("order %s is for customer %s, unknown at the centre; stored without "
                    "telling stores who it is for", number, data["customer_id"])  # fmt: skip
    order = OrderUpserted.model_validate(
        {
            "number": number,
            "customer_id": data["customer_id"] if known else None,
            "channel": "store",
            "fulfilment": data["fulfilment"],
            # The pickup store had it in stock when it was asked (the till showed it);
            # it is set aside there now, so it is ready as soon as it is picked.
            "status": "ready_for_pickup" if collect else "placed",
            "pickup_store_id": data.get("pickup_store_id"),
            "placed_at": envelope["time"],
            "currency": data["currency"],
            "total_minor": data["total_minor"],
            "payment_method": PAYMENT_METHOD,
            "lines": [
                {k: line.get(k) for k in ("gtin", "sku", "name", "category", "colour", "size",
                                          "quantity", "unit_price_minor")} | {"line_no": n}
                for n, line in enumerate(data["lines"], 1)
            ],
        }
    )  # fmt: skip
    write_order(db, order)
    db.execute(
        "INSERT INTO requested_orders (number, asking_store_id, requested_at, event_id)"
        " VALUES (%s, %s, %s, %s) ON CONFLICT (number) DO NOTHING",
        [number, event.store_id, envelope["time"], envelope["id"]],
    )
    now = iso_now()
    changes: list[StoreChange] = []
    stores = [event.store_id]
    if collect and order.pickup_store_id:
        reserve(db, order.pickup_store_id, [(ln.gtin, ln.quantity) for ln in order.lines], now)
        stores.insert(0, order.pickup_store_id)
    for store_id in dict.fromkeys(stores):
        if order.customer_id is not None:
            changes += _tell_customer(db, store_id, order.customer_id)
        elif store_id == event.store_id:
            continue  # the asking store keeps its request until it knows the customer
        payload = append_change(db, store_id, "order.upserted", order.model_dump(mode="json"))
        changes.append(StoreChange(store_id, payload))
    return changes


def asking_store(db: CentralDb, number: str, lock: bool = False) -> str | None:
    """The store that asked for order `number` if the centre placed it, else None (an
    order loaded from the retailer's order system, or none at all). `lock`: hold the
    order's row until the transaction ends (PostgreSQL), so two hand-overs of one order
    ingested by two workers take turns and the second sees the first."""
    row = db.execute(
        "SELECT asking_store_id FROM requested_orders WHERE number = %s"
        + (" FOR UPDATE" if lock and db.postgres else ""),
        [number],
    ).fetchone()
    return row[0] if row else None


def _tell_customer(db: CentralDb, store_id: str, customer_id: str) -> list[StoreChange]:
    told = db.execute(
        "SELECT 1 FROM customer_stores WHERE customer_id = %s AND store_id = %s",
        [customer_id, store_id],
    ).fetchone()
    if told is not None:
        return []
    # The asking store identified the customer, but the centre may not have noted it:
    # sending the customer again is harmless, an order without them is refused there.
    data = read_customer(db, customer_id)
    remember_store_knows(db, customer_id, store_id)
    return [StoreChange(store_id, append_change(db, store_id, "customer.upserted", data or {}))]
