"""The centre's master data: customers and orders, stored, diffed and routed to stores.

`load_records` writes what a master file holds in one transaction and tells the stores
what changed through their change feeds:
- a click-and-collect order goes to its pickup store (`order.upserted`, or
  `order.status_changed` when only its status moved), its customer first if that store
  has not been told about them yet (a store refuses an order for a customer it lacks);
- a customer update goes to every store that knows the customer: stores told about them
  before (pickups, look-ups) and stores that identified them (their `customer.identified`
  events in the centre's events table).
A record loaded again unchanged records nothing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from sync.central.changes import record_change
from sync.central.db import CentralDb
from sync.central.masterfile import MasterFileError, MasterRecords
from sync.protocol.changes import (
    ORDER_COLUMNS,
    ORDER_LINE_COLUMNS,
    CustomerUpserted,
    OrderUpserted,
    order_line_rows,
    order_row,
)
from sync.protocol.clock import iso_now

CUSTOMER_KEYS = ("loyalty_id", "email_hash", "phone_hash")

_CUSTOMER_SQL = (
    "SELECT id, loyalty_id, first_name, last_name, email_hash, phone_hash, preferred_locale,"
    " consent_marketing, tier, points, lifetime_points FROM customers"
)
_ORDER_SQL = (
    "SELECT number, customer_id, channel, fulfilment, status, pickup_store_id, placed_at,"
    " fulfilled_at, currency, total_minor, payment_method FROM orders"
)
_LINE_SQL = (
    "SELECT line_no, gtin, sku, name, category, colour, size, quantity, unit_price_minor,"
    " final_sale FROM order_lines WHERE number = %s ORDER BY line_no"
)


@dataclass
class LoadResult:
    added: int = 0
    changed: int = 0
    unchanged: int = 0
    # (store_id, change message) for each change recorded in a store's feed
    changes: list[tuple[str, bytes]] = field(default_factory=list)


def load_records(db: CentralDb, records: MasterRecords, source: str) -> LoadResult:
    """Store `records` (from file `source`) and record the stores' changes, all in one
    transaction; raises MasterFileError (nothing stored) if the records do not fit the
    data already there, e.g. an order for a customer the centre does not have."""
    result = LoadResult()
    router = _Router(db, result)
    with db.transaction():
        for customer in records.customers:
            _load_customer(db, customer, result, router)
        for order in records.orders:
            _load_order(db, order, result, router, source)
    return result


def read_customer(db: CentralDb, customer_id: str) -> dict[str, Any] | None:
    """A customer in the change-feed shape (`customer.upserted` data), or None."""
    row = db.execute(f"{_CUSTOMER_SQL} WHERE id = %s", [customer_id]).fetchone()
    return _customer_data(row) if row else None


def find_customer(db: CentralDb, by: str, value: str) -> str | None:
    """The customer id with this loyalty id or look-up hash; several customers may share
    a household phone, the most recently updated one wins (as at the store)."""
    if by not in CUSTOMER_KEYS:
        raise ValueError(f"cannot find a customer by {by!r}")
    row = db.execute(
        f"SELECT id FROM customers WHERE {by} = %s ORDER BY updated_at DESC LIMIT 1", [value]
    ).fetchone()
    return row[0] if row else None


def read_order(db: CentralDb, number: str) -> dict[str, Any] | None:
    """An order with its lines in the change-feed shape (`order.upserted` data), or None."""
    row = db.execute(f"{_ORDER_SQL} WHERE number = %s", [number]).fetchone()
    return _order_data(db, row) if row else None


def customer_orders(db: CentralDb, customer_id: str, limit: int) -> list[dict[str, Any]]:
    """The customer's newest orders, newest first, in the change-feed shape."""
    rows = db.execute(
        f"{_ORDER_SQL} WHERE customer_id = %s ORDER BY placed_at DESC, number DESC LIMIT %s",
        [customer_id, limit],
    ).fetchall()
    return [_order_data(db, row) for row in rows]


def write_order(db: CentralDb, order: OrderUpserted) -> None:
    """Store one order as master data (inside the caller's transaction), as a load
    would, without routing it: the caller decides which stores hear of it."""
    _write_order(db, order, _digest(order))


def remember_store_knows(db: CentralDb, customer_id: str, store_id: str) -> None:
    """From now on this customer's updates go to this store too."""
    db.execute(
        "INSERT INTO customer_stores (customer_id, store_id, since) VALUES (%s, %s, %s)"
        " ON CONFLICT (customer_id, store_id) DO NOTHING",
        [customer_id, store_id, iso_now()],
    )


class _Router:
    """Which stores know which customer, worked out once per load."""

    def __init__(self, db: CentralDb, result: LoadResult) -> None:
        self._db = db
        self._result = result
        self._identified: dict[str, set[str]] | None = None

    def record(self, store_id: str, change_type: str, data: dict[str, Any]) -> None:
        self._result.changes.append(
            (store_id, record_change(self._db, store_id, change_type, data))
        )

    def stores_knowing(self, customer_id: str) -> set[str]:
        told = {
            r[0]
            for r in self._db.execute(
                "SELECT store_id FROM customer_stores WHERE customer_id = %s", [customer_id]
            ).fetchall()
        }
        return told | self._identified_by().get(customer_id, set())

    def tell_customer(self, store_id: str, customer_id: str) -> None:
        """Send the customer to a store that has not been told about them yet."""
        if store_id in self.stores_knowing(customer_id):
            return
        data = read_customer(self._db, customer_id)
        if data is not None:
            self.record(store_id, "customer.upserted", data)
            remember_store_knows(self._db, customer_id, store_id)

    def _identified_by(self) -> dict[str, set[str]]:
        if self._identified is None:
            self._identified = {}
            rows = self._db.execute(
                "SELECT store_id, envelope FROM events WHERE type = 'customer.identified'"
            ).fetchall()
            for store_id, envelope in rows:
                try:
                    customer_id = json.loads(envelope)["data"]["customer_id"]
                except (ValueError, KeyError, TypeError):
                    continue
                self._identified.setdefault(str(customer_id), set()).add(store_id)
        return self._identified


def _load_customer(
    db: CentralDb, customer: CustomerUpserted, result: LoadResult, router: _Router
) -> None:
    digest = _digest(customer)
    row = db.execute("SELECT digest FROM customers WHERE id = %s", [customer.id]).fetchone()
    if row is not None and row[0] == digest:
        result.unchanged += 1
        return
    loyalty = customer.loyalty
    db.execute(
        "INSERT INTO customers (id, loyalty_id, first_name, last_name, email_hash, phone_hash,"
        " preferred_locale, consent_marketing, tier, points, lifetime_points, digest,"
        " updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (id) DO UPDATE SET loyalty_id = excluded.loyalty_id,"
        " first_name = excluded.first_name, last_name = excluded.last_name,"
        " email_hash = excluded.email_hash, phone_hash = excluded.phone_hash,"
        " preferred_locale = excluded.preferred_locale,"
        " consent_marketing = excluded.consent_marketing, tier = excluded.tier,"
        " points = excluded.points, lifetime_points = excluded.lifetime_points,"
        " digest = excluded.digest, updated_at = excluded.updated_at",
        [
            customer.id,
            customer.loyalty_id,
            customer.first_name,
            customer.last_name,
            customer.email_hash,
            customer.phone_hash,
            customer.preferred_locale,
            int(customer.consent_marketing),
            loyalty.tier if loyalty else None,
            loyalty.points if loyalty else None,
            loyalty.lifetime_points if loyalty else None,
            digest,
            iso_now(),
        ],
    )
    if row is None:
        result.added += 1
    else:
        result.changed += 1
    data = customer.model_dump(mode="json")
    for store_id in sorted(router.stores_knowing(customer.id)):
        router.record(store_id, "customer.upserted", data)
        remember_store_knows(db, customer.id, store_id)


def _load_order(
    db: CentralDb, order: OrderUpserted, result: LoadResult, router: _Router, source: str
) -> None:
    digest = _digest(order)
    row = db.execute("SELECT digest FROM orders WHERE number = %s", [order.number]).fetchone()
    if row is not None and row[0] == digest:
        result.unchanged += 1
        return
    if order.customer_id is not None and read_customer(db, order.customer_id) is None:
        raise MasterFileError(
            f"{source}: order {order.number}: customer_id: customer {order.customer_id} is "
            "not loaded; load the customers first (every store needs the customer too)"
        )
    previous = read_order(db, order.number) if row is not None else None
    _write_order(db, order, digest)
    if row is None:
        result.added += 1
    else:
        result.changed += 1
    store_id = order.pickup_store_id
    if order.fulfilment != "click_and_collect" or not store_id:
        return  # other orders are looked up when a store needs them
    if order.customer_id is not None:
        router.tell_customer(store_id, order.customer_id)
    if previous is not None and _only_status_moved(previous, order):
        router.record(
            store_id, "order.status_changed", {"number": order.number, "status": order.status}
        )
    else:
        router.record(store_id, "order.upserted", order.model_dump(mode="json"))


def _only_status_moved(previous: dict[str, Any], order: OrderUpserted) -> bool:
    before = OrderUpserted.model_validate(previous)
    return (
        before.status != order.status
        and before.model_copy(update={"status": order.status}) == order
    )


def _write_order(db: CentralDb, order: OrderUpserted, digest: str) -> None:
    db.execute(_CENTRAL_ORDER_UPSERT, [*order_row(order), digest, iso_now()])
    # The whole set of lines is the file's: a line dropped from the order goes too.
    db.execute("DELETE FROM order_lines WHERE number = %s", [order.number])
    for line in order_line_rows(order):
        db.execute(_CENTRAL_LINE_INSERT, [order.number, *line])


_CENTRAL_ORDER_UPSERT = (
    f"INSERT INTO orders ({', '.join(ORDER_COLUMNS)}, digest, updated_at)"
    f" VALUES ({', '.join(['%s'] * (len(ORDER_COLUMNS) + 2))})"
    " ON CONFLICT (number) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in (*ORDER_COLUMNS[1:], "digest", "updated_at"))
)
_CENTRAL_LINE_INSERT = (
    f"INSERT INTO order_lines (number, {', '.join(ORDER_LINE_COLUMNS)})"
    f" VALUES ({', '.join(['%s'] * (len(ORDER_LINE_COLUMNS) + 1))})"
)


def _customer_data(row: tuple) -> dict[str, Any]:
    cid, loyalty_id, first, last, email_hash, phone_hash, locale, consent = row[:8]
    tier, points, lifetime = row[8:]
    data: dict[str, Any] = {
        "id": cid,
        "loyalty_id": loyalty_id,
        "first_name": first,
        "last_name": last,
        "email_hash": email_hash,
        "phone_hash": phone_hash,
        "preferred_locale": locale,
        "consent_marketing": bool(consent),
        "loyalty": None,
    }
    if tier is not None:
        data["loyalty"] = {"tier": tier, "points": points, "lifetime_points": lifetime}
    return data


def _order_data(db: CentralDb, row: tuple) -> dict[str, Any]:
    number = row[0]
    lines = db.execute(_LINE_SQL, [number]).fetchall()
    return {
        "number": number,
        "customer_id": row[1],
        "channel": row[2],
        "fulfilment": row[3],
        "status": row[4],
        "pickup_store_id": row[5],
        "placed_at": row[6],
        "fulfilled_at": row[7],
        "currency": row[8],
        "total_minor": int(row[9]),
        "payment_method": row[10],
        "lines": [
            {
                "line_no": ln[0],
                "gtin": ln[1],
                "sku": ln[2],
                "name": ln[3],
                "category": ln[4],
                "colour": ln[5],
                "size": ln[6],
                "quantity": ln[7],
                "unit_price_minor": int(ln[8]),
                "final_sale": bool(ln[9]),
            }
            for ln in lines
        ],
    }


def _digest(record: CustomerUpserted | OrderUpserted) -> str:
    return hashlib.sha256(record.model_dump_json().encode()).hexdigest()
