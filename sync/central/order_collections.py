"""Hand-overs (`order.collected`) of the orders the centre placed itself, moving them to
`collected`.

The centre is the system of record for the orders it placed from `order.requested`
(sync.central.order_requests). The retailer's order system owns the orders it loads: it
hears of their hand-overs through delivery (sync.central.delivery) and its next load
moves them here; were the centre to move them too, two writers would own one order. So
in the ingest transaction, on an `order.collected` event's first arrival only (the event
id is the key: a resend changes nothing), for one of the centre's own orders:
- the first hand-over marks it `collected` (`fulfilled_at`: the store's time of the
  hand-over), records the store that handed it over, and sends the order down the feeds
  of the stores that know it (the pickup store, the asking store, stores sent its
  customer), so no screen there shows it waiting any more;
- a later hand-over of the same order (another pickup) keeps the first: it is logged
  and recorded for an operator (`edge-central conflicts`, `repeated_hand_overs`).
An event for an order the centre did not place is stored (delivery forwards it) and
otherwise left alone.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError

from sync.central.changes import append_change
from sync.central.conflicts import IngestedEvent, StoreChange
from sync.central.db import CentralDb
from sync.central.masterdata import read_order, write_order
from sync.central.order_requests import asking_store
from sync.protocol.changes import OrderUpserted
from sync.protocol.clock import iso_now
from sync.protocol.errors import ChangeRejected

log = logging.getLogger(__name__)

COLLECTED = "order.collected"


def on_orders_collected(db: CentralDb, events: Iterable[IngestedEvent]) -> list[StoreChange]:
    """Move the centre's own orders handed over in these newly stored events to
    `collected`; returns the feed changes to publish after the commit. Bad data is
    logged, never raised (the event is stored already)."""
    collected = [(_read(e), e) for e in events if e.type == COLLECTED]
    # In order number order: two workers handing over the same orders lock them in one
    # order, never in a cycle.
    changes: list[StoreChange] = []
    for envelope, event in sorted(
        (c for c in collected if c[0] is not None), key=lambda c: c[0]["data"]["order_number"]
    ):
        try:
            changes += _collect(db, event.store_id, envelope)
        except (ValueError, KeyError, TypeError, ValidationError, ChangeRejected) as exc:
            log.error("hand-over at store %s not recorded: %s", event.store_id, exc)
    return changes


def repeated_hand_overs(db: CentralDb) -> list[dict[str, Any]]:
    """Every hand-over of an order already collected, newest first, with the first one."""
    rows = db.execute(
        "SELECT r.number, r.store_id, r.pickup_id, r.collected_at, r.recorded_at,"
        " f.store_id, f.pickup_id, f.collected_at FROM order_collections r"
        " JOIN order_collections f ON f.number = r.number AND f.is_first = 1"
        " WHERE r.is_first = 0 ORDER BY r.recorded_at DESC, r.number, r.pickup_id"
    ).fetchall()
    return [
        {"order_number": number, "store_id": store_id, "pickup_id": pickup_id,
         "collected_at": at, "recorded_at": recorded,
         "first": {"store_id": first_store, "pickup_id": first_pickup, "collected_at": first_at}}
        for number, store_id, pickup_id, at, recorded, first_store, first_pickup, first_at in rows
    ]  # fmt: skip


def _read(event: IngestedEvent) -> dict[str, Any] | None:
    try:
        envelope = json.loads(event.envelope)
        if isinstance(envelope["data"]["order_number"], str):
            return envelope
    except (ValueError, KeyError, TypeError):
        pass
    log.error("hand-over at store %s without an order number; not recorded", event.store_id)
    return None


def _collect(db: CentralDb, store_id: str, envelope: dict[str, Any]) -> list[StoreChange]:
    data = envelope["data"]
    number = data["order_number"]
    asking = asking_store(db, number, lock=True)
    order = read_order(db, number) if asking is not None else None
    if asking is None or order is None:
        return []  # the retailer's order (or none): its order system moves it
    first = order["status"] != "collected"
    if not db.execute(
        "INSERT INTO order_collections (number, pickup_id, store_id, collected_at, event_id,"
        " recorded_at, is_first) VALUES (%s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (number, pickup_id) DO NOTHING",
        [number, data["pickup_id"], store_id, envelope["time"], envelope["id"], iso_now(),
         int(first)],
    ).rowcount:  # fmt: skip
        return []  # this hand-over is recorded already
    if not first:
        log.warning(
            "order %s handed over again at store %s (pickup %s) after it was collected"
            " on %s; the first hand-over stands",
            number, store_id, data["pickup_id"], order["fulfilled_at"],
        )  # fmt: skip
        return []
    if order["status"] != "ready_for_pickup":
        log.warning("order %s handed over at store %s while %s", number, store_id,
                    order["status"])  # fmt: skip
    collected = OrderUpserted.model_validate(
        order | {"status": "collected", "fulfilled_at": envelope["time"]}
    )
    write_order(db, collected)
    body = collected.model_dump(mode="json")
    changes = []
    for target in _stores_knowing(db, collected, asking):
        changes.append(StoreChange(target, append_change(db, target, "order.upserted", body)))
    return changes


def _stores_knowing(db: CentralDb, order: OrderUpserted, asking: str) -> list[str]:
    """The stores that were sent this order or may hold it from a look-up of its
    customer: each has the customer, so none refuses the order."""
    stores = {order.pickup_store_id} if order.pickup_store_id else set()
    if order.customer_id is not None:
        # Without a customer the asking store was never sent the order (it keeps its
        # request), and a store cannot take an order whose customer it lacks.
        stores.add(asking)
        stores |= {
            r[0]
            for r in db.execute(
                "SELECT store_id FROM customer_stores WHERE customer_id = %s", [order.customer_id]
            ).fetchall()
        }
    return sorted(stores)
