"""The centre's changes written into the store's tables, one function per change type.

`apply_change` runs inside the caller's transaction and is idempotent: the same change
applied twice leaves the same rows. The feed (`edge_agent.feed`) calls it in sequence
order; a look-up answered by the centre (`sync.centre_lookup`) caches what it got
through it too, so an order looked up is an ordinary cached order.
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlite_utils import Database

from edge_agent.centre_passes import record_centre_pass
from edge_agent.conflicts import apply_return_conflict
from edge_agent.loyalty import apply_centre_balance, apply_loyalty_conflict
from edge_agent.revocations import revoke_pass
from edge_agent.stock import apply_stock_levels
from sync.protocol.changes import (
    ORDER_COLUMNS,
    ORDER_LINE_COLUMNS,
    Change,
    ConfigChanged,
    CustomerUpserted,
    ErasureRequested,
    OrderStatusChanged,
    OrderUpserted,
    PassRevoked,
    order_line_rows,
    order_row,
)
from sync.protocol.clock import to_iso
from sync.protocol.errors import ChangeRejected
from sync.protocol.return_conflicts import ReturnConflict
from sync.protocol.stock import StockLevels
from sync.protocol.wallet_changes import LoyaltyBalance, LoyaltyConflict, PassUpserted

_STORE_ORDER_UPSERT = (
    f"INSERT INTO orders ({', '.join(ORDER_COLUMNS)}, updated_at)"
    f" VALUES ({', '.join('?' * (len(ORDER_COLUMNS) + 1))})"
    " ON CONFLICT (number) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in (*ORDER_COLUMNS[1:], "updated_at"))
)
# returned_quantity is the store's own knowledge and is kept on update.
_STORE_LINE_UPSERT = (
    f"INSERT INTO order_lines (order_id, {', '.join(ORDER_LINE_COLUMNS)})"
    f" VALUES ({', '.join('?' * (len(ORDER_LINE_COLUMNS) + 1))})"
    " ON CONFLICT (order_id, line_no) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in ORDER_LINE_COLUMNS[1:])
)


def apply_change(db: Database, change: Change, at: datetime) -> None:
    """Write one change; call inside the caller's transaction. Raises ChangeRejected if
    it cannot apply (e.g. an order for a customer this store has never heard of)."""
    data = change.data
    now = to_iso(at)
    if isinstance(data, OrderUpserted):
        _upsert_order(db, data, now)
    elif isinstance(data, OrderStatusChanged):
        cursor = db.execute(
            "UPDATE orders SET status = ?, updated_at = ? WHERE number = ?",
            [data.status, now, data.number],
        )
        if cursor.rowcount == 0:
            raise ChangeRejected(f"status change for order {data.number}, unknown here")
    elif isinstance(data, CustomerUpserted):
        _upsert_customer(db, data, now)
    elif isinstance(data, ErasureRequested):
        erase_customer(db, data.customer_id)
    elif isinstance(data, PassRevoked):
        revoke_pass(db, data.serial, at, data.customer_id, data.kind, data.platform)
    elif isinstance(data, ConfigChanged):
        db.execute(
            "INSERT INTO central_config (key, value, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
            "updated_at = excluded.updated_at",
            [data.key, json.dumps(data.value), now],
        )
    elif isinstance(data, ReturnConflict):
        apply_return_conflict(db, data, at)
    elif isinstance(data, StockLevels):
        apply_stock_levels(db, data, at)
    elif isinstance(data, PassUpserted):
        record_centre_pass(db, data, at)
    elif isinstance(data, LoyaltyBalance):
        apply_centre_balance(db, data, at)
    elif isinstance(data, LoyaltyConflict):
        apply_loyalty_conflict(db, data, at)


def erase_customer(db: Database, customer_id: str) -> None:
    """Remove a customer's personal data from the device. Orders stay (the shop needs
    them for returns and the books) but no longer point at a person; the customer row
    and what hangs off it (loyalty, passes, lists) go by ON DELETE CASCADE."""
    db.execute("DELETE FROM customers WHERE id = ?", [customer_id])


def _upsert_order(db: Database, order: OrderUpserted, now: str) -> None:
    if order.customer_id is not None and not _customer_known(db, order.customer_id):
        raise ChangeRejected(
            f"order {order.number} is for customer {order.customer_id}, unknown here; "
            "the centre must send the customer first"
        )
    db.execute(_STORE_ORDER_UPSERT, [*order_row(order), now])
    order_id = db.execute("SELECT id FROM orders WHERE number = ?", [order.number]).fetchone()[0]
    for line in order_line_rows(order):
        db.execute(_STORE_LINE_UPSERT, [order_id, *line])


def _upsert_customer(db: Database, customer: CustomerUpserted, now: str) -> None:
    db.execute(
        "INSERT INTO customers (id, loyalty_id, first_name, last_name, email_hash, phone_hash,"
        " preferred_locale, consent_marketing, consent_updated_at, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET"
        " loyalty_id = excluded.loyalty_id, first_name = excluded.first_name,"
        " last_name = excluded.last_name, email_hash = excluded.email_hash,"
        " phone_hash = excluded.phone_hash, preferred_locale = excluded.preferred_locale,"
        " consent_marketing = excluded.consent_marketing,"
        " consent_updated_at = excluded.consent_updated_at, updated_at = excluded.updated_at",
        [
            customer.id,
            customer.loyalty_id,
            customer.first_name,
            customer.last_name,
            customer.email_hash,
            customer.phone_hash,
            customer.preferred_locale,
            int(customer.consent_marketing),
            now,
            now,
            now,
        ],
    )
    if customer.loyalty is not None:
        db.execute(
            "INSERT INTO loyalty_accounts (customer_id, tier, points, lifetime_points,"
            " updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (customer_id) DO UPDATE SET"
            " tier = excluded.tier, points = excluded.points,"
            " lifetime_points = excluded.lifetime_points, updated_at = excluded.updated_at",
            [
                customer.id,
                customer.loyalty.tier,
                customer.loyalty.points,
                customer.loyalty.lifetime_points,
                now,
            ],
        )


def _customer_known(db: Database, customer_id: str) -> bool:
    return db.execute("SELECT 1 FROM customers WHERE id = ?", [customer_id]).fetchone() is not None
