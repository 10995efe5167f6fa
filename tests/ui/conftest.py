"""Fixtures for the screens: a till app over a seeded store (fixed clock), a kiosk
browser session and a signed-in console, plus the customers and orders the flows need."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask.testing import FlaskClient

from sync.protocol.clock import to_iso
from tests.screen_client import ScreenClient
from tests.till_fixtures import TILL_NOW, Till, make_till
from wallet.codes import PassSigner
from wallet.issuer import new_serial
from wallet.keyring import PassKeyRing

# The centre's pass-signing key for these tests; the till holds only its public half.
PASS_KEY = Ed25519PrivateKey.generate()

WINDOW_START = TILL_NOW - timedelta(days=25)  # well inside the 30-day return window


@dataclass(frozen=True)
class Shopper:
    customer_id: str
    loyalty_id: str
    first_name: str
    last_name: str


@pytest.fixture
def till(seeded) -> Iterator[Till]:
    """Screens sign in through their own forms; the till verifies this test's passes."""
    t = make_till(replace(seeded, pass_keys=PassKeyRing({1: PASS_KEY.public_key()})))
    t.app.test_client_class = ScreenClient
    yield t
    t.close()


@pytest.fixture
def kiosk(till: Till) -> FlaskClient:
    return till.app.test_client()


@pytest.fixture
def console(till: Till) -> FlaskClient:
    client = till.app.test_client()
    response = client.post("/console/sign-in", data={"staff_id": "ana", "pin": "1234"})
    assert response.status_code == 302, response.data
    return client


def wallet_pass(till: Till, shopper: Shopper) -> str:
    """The code on a loyalty pass the centre issued to `shopper` (what the kiosk scans)."""
    serial = new_serial("loyalty")
    with till.ctx.store.transaction() as db:
        db.execute(
            "INSERT INTO passes (serial, customer_id, kind, platform, status, issued_at)"
            " VALUES (?, ?, 'loyalty', 'google', 'active', ?)",
            [serial, shopper.customer_id, to_iso(TILL_NOW)],
        )
    return PassSigner(1, PASS_KEY).sign("loyalty", serial, TILL_NOW)


def returning_shopper(till: Till) -> tuple[Shopper, str, int]:
    """A customer with a delivered order inside the window whose line 1 can come back,
    worth less than the cashier limit: (shopper, order number, line 1 quantity)."""
    row = till.one(
        "SELECT c.id, c.loyalty_id, c.first_name, c.last_name, o.number, l.quantity"
        " FROM customers c JOIN orders o ON o.customer_id = c.id"
        " JOIN order_lines l ON l.order_id = o.id AND l.line_no = 1"
        " WHERE o.status = 'delivered' AND o.fulfilled_at > ? AND l.final_sale = 0"
        " AND l.returned_quantity = 0 AND l.unit_price_minor * l.quantity < 10000"
        " AND c.loyalty_id IS NOT NULL ORDER BY o.id LIMIT 1",
        [to_iso(WINDOW_START)],
    )
    assert row is not None
    return Shopper(*row[:4]), row[4], row[5]


def pickup_shopper(till: Till) -> tuple[Shopper, str]:
    """A customer with an order ready for pickup at this store."""
    row = till.one(
        "SELECT c.id, c.loyalty_id, c.first_name, c.last_name, o.number"
        " FROM customers c JOIN orders o ON o.customer_id = c.id"
        " WHERE o.status = 'ready_for_pickup' AND o.pickup_store_id = ?"
        " AND c.loyalty_id IS NOT NULL ORDER BY o.id LIMIT 1",
        [till.ctx.config.store.id],
    )
    assert row is not None
    return Shopper(*row[:4]), row[4]


def someone_elses_order(till: Till, customer_id: str) -> str:
    row = till.one(
        "SELECT number FROM orders WHERE customer_id != ? AND status = 'delivered' LIMIT 1",
        [customer_id],
    )
    return row[0]


def product_in_stock(till: Till) -> tuple[str, str, int, int]:
    """(gtin, name, price_minor, stock_here) of a product on the shelf here."""
    return till.one(
        "SELECT gtin, name, price_minor, stock_here FROM products WHERE stock_here > 0"
        " ORDER BY gtin LIMIT 1"
    )
