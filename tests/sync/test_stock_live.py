"""Stock here and everywhere over the real broker and centre: levels loaded at the centre
reach the store, the till shows stock here offline and elsewhere online (and says when it
cannot ask), and an order requested at store A for pickup at store B reaches B ready for
its pickup and A's customer profile; a request made offline is placed once."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from edge_agent.context import AgentContext, open_agent
from edge_agent.pickups import GOES_WITH
from edge_agent.scans import ScanDispatcher
from edge_agent.seed import seed_store
from edge_agent.staff import add_staff
from pos_bridge.app import create_app
from sync.central.db import CentralDb
from sync.central.masterdata import load_records
from sync.central.masterfile import read_master_file
from sync.central.service import CentralService
from sync.central.stock import load_stock, load_stores
from sync.central.stockfile import read_stock_file, read_stores_file
from sync.link import BrokerSettings, MqttLink
from sync.protocol.topics import StoreTopics
from sync.service import SyncService
from tests.conftest import SEED_NOW
from tests.openapi_check import validate_responses
from tests.screen_client import ScreenClient
from tests.sync.conftest import sync_config, wait_for
from tests.sync.masterdata_fixtures import CUSTOMER, delivered, write_json
from tests.sync.stock_fixtures import write_deltas, write_snapshot, write_stores

FLUSH_SECONDS = 0.2


@dataclass
class Store:
    ctx: AgentContext
    client: object
    dispatcher: ScanDispatcher
    sync: SyncService | None = None

    def connect(self) -> SyncService:
        self.sync = SyncService(self.ctx, ack_timeout_seconds=2.0)
        self.sync.start()
        wait_for(self.sync.link.connected.is_set, f"{self.ctx.config.store.id} to connect")
        self.client.application.extensions["link_up"] = self.sync.link_up  # type: ignore[attr-defined]
        self.client.application.extensions["centre_lookup"] = self.sync.centre_lookup  # type: ignore[attr-defined]
        return self.sync

    def disconnect(self) -> None:
        if self.sync is not None:
            self.sync.stop()
            self.sync = None
        self.client.application.extensions.pop("centre_lookup", None)  # type: ignore[attr-defined]
        self.client.application.extensions["link_up"] = lambda: False  # type: ignore[attr-defined]

    def one(self, sql: str, params: list | None = None):  # type: ignore[no-untyped-def]
        return self.ctx.store.db.execute(sql, params or []).fetchone()


@pytest.fixture
def chain(tmp_path: Path, broker, central_factory) -> Iterator[tuple[CentralService, dict]]:
    central = central_factory(broker.url, stock_flush_seconds=FLUSH_SECONDS)
    stores: dict[str, Store] = {}
    for store_id in ("store-a", "store-b"):
        ctx = open_agent(sync_config(tmp_path / store_id, broker.url, store_id=store_id))
        # The same seed: both stores carry the same catalogue, as a chain's stores do.
        seed_store(ctx, customers=2, orders=0, seed=7, now=SEED_NOW)
        add_staff(ctx, "ana", "Ana", "cashier", "1234")
        dispatcher = ScanDispatcher(ctx)
        dispatcher.start()
        app = create_app(ctx, dispatcher)
        validate_responses(app)
        app.extensions["link_up"] = lambda: False
        client = app.test_client()
        stores[store_id] = Store(ctx, client, dispatcher)
        sign_in(stores[store_id])
    yield central, stores
    for store in stores.values():
        store.disconnect()
        store.dispatcher.stop()
        store.ctx.store.close()


def sign_in(store: Store) -> None:
    response = store.client.post(  # type: ignore[attr-defined]
        "/api/v1/auth/sign-in", json={"staff_id": "ana", "pin": "1234", "till_id": "lane-1"}
    )
    assert response.status_code == 200, response.get_json()
    token = response.get_json()["token"]
    store.client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"  # type: ignore[attr-defined]


def variants(store: Store) -> list[str]:
    """The GTINs of a style with at least three sizes in the seeded catalogue."""
    style = store.one(
        "SELECT style FROM products GROUP BY style HAVING COUNT(*) >= 3 ORDER BY style LIMIT 1"
    )[0]
    rows = store.ctx.store.db.execute(
        "SELECT gtin FROM products WHERE style = ? ORDER BY rowid LIMIT 3", [style]
    ).fetchall()
    return [r[0] for r in rows]


def all_variants(store: Store, gtin: str) -> list[str]:
    rows = store.ctx.store.db.execute(
        "SELECT gtin FROM products WHERE style = (SELECT style FROM products WHERE gtin = ?)",
        [gtin],
    ).fetchall()
    return [r[0] for r in rows]


def load_centre(central: CentralService, tmp_path: Path, stock: dict) -> None:
    db = CentralDb(central.db_url)
    try:
        load_stores(
            db,
            read_stores_file(write_stores(tmp_path / "stores.csv")),
            "2026-12-06T00:00:00.000000Z",
        )
        load_records(db, read_master_file(write_json(tmp_path / "m.json", [
            CUSTOMER, delivered("W900000007")])), "m.json")  # fmt: skip
        changes = load_stock(db, read_stock_file(write_snapshot(tmp_path / "s.csv", stock)),
                             "2026-12-06T08:00:00.000000Z").changes  # fmt: skip
    finally:
        db.close()
    for store_id, payload in changes:
        central.link.publish(StoreTopics(central.prefix, store_id).changes, payload)


def here(store: Store, gtin: str) -> int:
    return store.one("SELECT stock_here FROM products WHERE gtin = ?", [gtin])[0]


def stock_page(store: Store, gtin: str) -> dict:
    response = store.client.get(f"/api/v1/products/{gtin}/stock")  # type: ignore[attr-defined]
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_stock_loaded_at_the_centre_reaches_the_store_and_answers_offline(chain, tmp_path):
    central, stores = chain
    a = stores["store-a"]
    v = variants(a)
    sizes = {g: 0 for g in all_variants(a, v[0])} | {v[0]: 2, v[2]: 5}
    load_centre(central, tmp_path, {("store-a", g): q for g, q in sizes.items()}
                | {("store-b", v[1]): 3})  # fmt: skip
    a.connect()
    wait_for(lambda: a.one("SELECT COUNT(*) FROM stock_levels")[0] == len(sizes), "A's levels")
    a.disconnect()
    page = stock_page(a, v[0])
    assert {x["gtin"]: x["stock_here"] for x in page["variants"]} == sizes
    assert page["elsewhere_status"] == "offline" and page["elsewhere"] == []
    assert "offline" in page["elsewhere_message"]
    # A sale here moves the local view at once, offline, and counts once.
    sale = {"reference": "S-1", "reason": "sale", "lines": [{"gtin": v[0], "quantity": 1}]}
    for _ in range(2):
        assert a.client.post("/api/v1/stock/movements", json=sale).status_code == 201
    assert here(a, v[0]) == 1
    # The inventory system books the same sale; the centre's next figure (1) counts it,
    # so the store must not take it off a second time.
    time.sleep(0.01)
    db = CentralDb(central.db_url)
    try:
        moved = load_stock(db, read_stock_file(write_deltas(tmp_path / "d.csv", [
            ("store-a", v[0], -1), ("store-a", v[2], -2)])), _now()).changes  # fmt: skip
    finally:
        db.close()
    assert [s for s, _ in moved] == ["store-a"]
    a.connect()
    wait_for(lambda: here(a, v[2]) == 3, "the centre's next figures at A")
    assert here(a, v[0]) == 1


def test_the_till_shows_stock_elsewhere_nearest_first_online(chain, tmp_path):
    central, stores = chain
    a = stores["store-a"]
    v = variants(a)
    load_centre(central, tmp_path, {("store-a", v[0]): 1, ("store-c", v[1]): 4,
                                    ("store-b", v[1]): 2, ("store-b", v[2]): 1,
                                    ("store-d", v[0]): 6})  # fmt: skip
    a.connect()
    page = stock_page(a, v[1])
    assert page["elsewhere_status"] == "found", page
    assert [(s["store_id"], s["levels"]) for s in page["elsewhere"]] == [
        ("store-b", {v[1]: 2, v[2]: 1}),
        ("store-c", {v[1]: 4}),
        ("store-d", {v[0]: 6}),
    ]
    assert page["elsewhere"][0]["name"] == "Madrid Norte"
    # The console shows the same, nearest first.
    console = ScreenClient(a.client.application, use_cookies=True)
    console.post("/console/sign-in", data={"staff_id": "ana", "pin": "1234"})
    screen = console.get("/console/stock", query_string={"gtin": v[1]}).get_data(as_text=True)
    assert re.findall(r'data-store="([a-z0-9-]+)"', screen) == ["store-b", "store-c", "store-d"]
    # The centre stopped: the till says it could not ask instead of showing nothing.
    central.stop()
    late = stock_page(a, v[1])
    assert late["elsewhere_status"] == "late" and "did not answer" in late["elsewhere_message"]


def test_an_order_requested_at_a_for_pickup_at_b_reaches_both_and_a_sees_it_collected(
    chain, tmp_path
):
    central, stores = chain
    a, b = stores["store-a"], stores["store-b"]
    v = variants(a)
    load_centre(central, tmp_path, {("store-b", v[1]): 2})
    a.connect()
    b.connect()
    identify(a)
    number = request(a, v[1])
    profile = a.client.post("/api/v1/customers/identify",
                            json={"loyalty_id": CUSTOMER["loyalty_id"]}).get_json()  # fmt: skip
    assert [r["number"] for r in profile["requested_orders"]] == [number]
    # B gets it down its feed like any click-and-collect order, ready for its pickup.
    wait_for(lambda: b.one("SELECT status FROM orders WHERE number = ?", [number]),
             "the order at store B")  # fmt: skip
    assert b.one("SELECT status, customer_id FROM orders WHERE number = ?", [number]) == (
        "ready_for_pickup",
        "cust-1",
    )
    # A: the centre's order comes back and replaces the request in the profile.
    wait_for(lambda: a.one("SELECT 1 FROM orders WHERE number = ?", [number]), "the order at A")
    profile = a.client.post("/api/v1/customers/identify",
                            json={"loyalty_id": CUSTOMER["loyalty_id"]}).get_json()  # fmt: skip
    assert number in [o["number"] for o in profile["open_orders"]]
    assert profile["requested_orders"] == []
    pickup = {"order_number": number, "customer_id": "cust-1"}
    verified = b.client.post("/api/v1/pickups/verify", json=pickup)
    assert verified.status_code == 200, verified.get_json()
    assert [ln["gtin"] for ln in verified.get_json()["order"]["lines"]] == [v[1]]
    handed = b.client.post("/api/v1/pickups", json=pickup)
    assert handed.status_code == 201, handed.get_json()
    # B's hand-over reaches the centre, which marks its order collected and sends it to A:
    # A's profile no longer shows it waiting, but among what the customer bought.
    wait_for(lambda: a.one("SELECT status FROM orders WHERE number = ?", [number]) == (
        "collected",), "the hand-over at A")  # fmt: skip
    profile = a.client.post("/api/v1/customers/identify",
                            json={"loyalty_id": CUSTOMER["loyalty_id"]}).get_json()  # fmt: skip
    assert number not in [o["number"] for o in profile["open_orders"]]
    assert number in [p["order_number"] for p in profile["recent_purchases"]]
    shown = a.client.get(f"/api/v1/orders/{number}").get_json()
    assert shown["status"] == "collected", shown
    db = CentralDb(central.db_url)
    try:
        master = db.execute("SELECT status FROM orders WHERE number = %s", [number]).fetchone()
        handed_at = db.execute(
            "SELECT store_id FROM order_collections WHERE number = %s AND is_first = 1", [number]
        ).fetchall()
    finally:
        db.close()
    assert (master, handed_at) == (("collected",), [("store-b",)])
    # Set aside at B: B's figure drops by one, coalesced into its next levels.
    wait_for(lambda: b.one("SELECT quantity FROM stock_levels WHERE gtin = ?", [v[1]]) == (1,),
             "B's stock figure after the reservation")  # fmt: skip


def test_a_request_made_offline_waits_and_is_placed_once_after_reconnecting(chain, tmp_path):
    central, stores = chain
    a, b = stores["store-a"], stores["store-b"]
    v = variants(a)
    load_centre(central, tmp_path, {("store-b", v[2]): 3})
    a.connect()
    identify(a)
    a.disconnect()
    number = request(a, v[2], expect_state="waiting")
    assert a.one("SELECT COUNT(*) FROM outbox WHERE type = 'order.requested' AND acked_at IS NULL"
                 )[0] == 1  # fmt: skip
    b.connect()
    a.connect()
    wait_for(lambda: state_at(a, number) == "placed", "the request to be placed")
    # The same event again (as after an ack lost on the way): placed once all the same.
    envelope = a.one("SELECT envelope, seq FROM outbox WHERE type = 'order.requested'")
    event = json.loads(envelope[0]) | {"sequence": str(envelope[1])}
    resend(central, "store-a", json.dumps(event).encode())
    wait_for(lambda: central.counters.duplicates >= 1, "the centre to see the repeat")
    wait_for(lambda: b.one("SELECT 1 FROM orders WHERE number = ?", [number]), "the order at B")
    db = CentralDb(central.db_url)
    try:
        assert db.execute("SELECT COUNT(*) FROM orders WHERE number = %s", [number]).fetchone() == (
            1,
        )
        sent = db.execute(
            "SELECT store_id, COUNT(*) FROM changes WHERE type = 'order.upserted' AND payload"
            " LIKE %s GROUP BY store_id ORDER BY store_id",
            [f'%"{number}"%'],
        ).fetchall()
        level = db.execute(
            "SELECT quantity FROM stock_levels WHERE store_id = 'store-b' AND gtin = %s", [v[2]]
        ).fetchone()
    finally:
        db.close()
    assert sent == [("store-a", 1), ("store-b", 1)]
    assert level == (2,)  # set aside once


def identify(store: Store) -> None:
    """The customer is not on this device yet: the till's search asks the centre."""
    found = store.client.get("/api/v1/orders", query_string={"query": CUSTOMER["loyalty_id"]})  # type: ignore[attr-defined]
    assert found.status_code == 200, found.get_json()


def request(store: Store, gtin: str, expect_state: str | None = None) -> str:
    body = {"customer_id": "cust-1", "fulfilment": "click_and_collect",
            "pickup_store_id": "store-b", "lines": [{"gtin": gtin, "quantity": 1}]}  # fmt: skip
    response = store.client.post("/api/v1/order-requests", json=body)  # type: ignore[attr-defined]
    assert response.status_code == 201, response.get_json()
    placed = response.get_json()
    if expect_state:
        assert placed["state"] == expect_state
    assert placed["pickup_store_id"] == "store-b" and placed["lines"][0]["gtin"] == gtin
    return placed["number"]


def state_at(store: Store, number: str) -> str | None:
    profile = store.client.post("/api/v1/customers/identify",  # type: ignore[attr-defined]
                                json={"loyalty_id": CUSTOMER["loyalty_id"]}).get_json()  # fmt: skip
    states = [r["state"] for r in profile["requested_orders"] if r["number"] == number]
    if store.one("SELECT 1 FROM orders WHERE number = ?", [number]):
        return "placed"
    return states[0] if states else None


def resend(central: CentralService, store_id: str, payload: bytes) -> None:
    url = central.link.settings.url
    link = MqttLink(BrokerSettings(url, "resender", persistent_session=False), [], lambda _m: None)
    link.start()
    try:
        wait_for(link.connected.is_set, "the resender to connect")
        link.publish(StoreTopics(central.prefix, store_id).events, payload)
        time.sleep(0.3)
    finally:
        link.stop()


def _now() -> str:
    from sync.protocol.clock import iso_now

    return iso_now()


def test_pickup_suggestions_offer_here_first_then_what_another_store_has(chain, tmp_path):
    central, stores = chain
    a, b = stores["store-a"], stores["store-b"]
    v = variants(a)
    category = a.one("SELECT category FROM products WHERE gtin = ?", [v[1]])[0]
    lacking = GOES_WITH[category][0]
    gone = [r[0] for r in b.ctx.store.db.execute(
        "SELECT gtin FROM products WHERE category = ? ORDER BY gtin", [lacking])]  # fmt: skip
    # B has none of the first category that goes with the order; Barcelona has one.
    load_centre(central, tmp_path, {("store-b", v[1]): 2} | {("store-b", g): 0 for g in gone}
                | {("store-c", gone[0]): 4})  # fmt: skip
    a.connect()
    b.connect()
    identify(a)
    number = request(a, v[1])
    wait_for(lambda: b.one("SELECT 1 FROM orders WHERE number = ?", [number]), "the order at B")
    wait_for(lambda: b.one("SELECT MAX(stock_here) FROM products WHERE category = ?",
                           [lacking]) == (0,), "B's zero figures")  # fmt: skip
    verified = b.client.post("/api/v1/pickups/verify",
                             json={"order_number": number, "customer_id": "cust-1"})  # fmt: skip
    assert verified.status_code == 200, verified.get_json()
    suggestions = verified.get_json()["suggestions"]
    kinds = [s["availability"] for s in suggestions]
    assert kinds == sorted(kinds, key=lambda k: k != "here"), "stock here comes first"
    orderable = [s for s in suggestions if s["availability"] == "orderable"]
    assert [(s["gtin"], s["orderable_from"], s["stock_here"]) for s in orderable] == [
        (gone[0], "Barcelona", 0)
    ]
    assert all(s["stock_here"] > 0 for s in suggestions if s["availability"] == "here")
    # Offline, only what is here is suggested: nothing is guessed.
    b.disconnect()
    pickup = {"order_number": number, "customer_id": "cust-1"}
    offline = b.client.post("/api/v1/pickups/verify", json=pickup).get_json()
    assert {s["availability"] for s in offline["suggestions"]} == {"here"}
