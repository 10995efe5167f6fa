"""The inventory system's stock stream: `POST /stock/changes` on the centre's web server
(a real HTTP server), authenticated, applied once per batch, coalesced into each store's
feed (a burst of sales is a few changes, not one per sale), documented in /openapi.json."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from cheroot.wsgi import Server
from jsonschema import Draft202012Validator

from edge_agent.context import open_agent
from edge_agent.seed import seed_store
from sync.central.db import CentralDb
from sync.central.stock_api import openapi_document
from sync.central.web import create_fleet_app
from sync.service import SyncService
from tests.conftest import SEED_NOW
from tests.sync.conftest import sync_config, wait_for
from tests.sync.stock_fixtures import gtin

TOKEN = secrets.token_urlsafe(32)


@contextmanager
def serving(app, threads: int = 4) -> Iterator[str]:
    """The centre's app on cheroot, as `edge-central web` serves it (the store's web
    front, with its own body limit, is not what the centre runs)."""
    server = Server(("127.0.0.1", 0), app, numthreads=threads)
    server.prepare()
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    host, port = server.bind_addr[:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        thread.join(timeout=10)


def check(response: requests.Response, status: int) -> dict:
    """The status, and a body that matches what /openapi.json says of it."""
    assert response.status_code == status, response.text
    document = openapi_document()
    operation = document["paths"]["/stock/changes"]["post"]
    schema = operation["responses"][str(status)]["content"]["application/json"]["schema"]
    Draft202012Validator({**schema, "components": document["components"]}).validate(response.json())
    return response.json()


@pytest.fixture
def centre_web(tmp_path: Path):
    db_url = f"sqlite://{tmp_path / 'central.sqlite3'}"
    db = CentralDb(db_url)
    db.create_schema()
    db.close()
    with serving(create_fleet_app(db_url, stock_token=TOKEN)) as url:
        yield url, db_url


def post(url: str, body: object, token: str = TOKEN, **kwargs: object) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.post(f"{url}/stock/changes", json=body, headers=headers, timeout=10, **kwargs)


def test_the_stream_needs_the_token_and_applies_a_batch_once(centre_web):
    url, db_url = centre_web
    batch = {"batch_id": "inv-1", "changes": [
        {"store_id": "store-a", "gtin": gtin(1), "quantity": 5},
        {"store_id": "store-a", "gtin": gtin(1), "delta": -1, "as_of": "2026-12-06T10:00:00Z"},
    ]}  # fmt: skip
    assert check(post(url, batch, token=""), 401)["error"]["code"] == "unauthorized"
    assert check(post(url, batch, token="x" * 43), 401)["error"]["code"] == "unauthorized"
    first = check(post(url, batch), 200)
    assert first == {"batch_id": "inv-1", "changes": 2, "levels_moved": 2, "duplicate": False}
    # The sender's retry after a timeout: applied once.
    assert check(post(url, batch), 200)["duplicate"] is True
    db = CentralDb(db_url)
    try:
        level = db.execute("SELECT quantity FROM stock_levels WHERE gtin = %s", [gtin(1)])
        assert level.fetchone() == (4,)
    finally:
        db.close()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"store_id": "store-a", "gtin": gtin(1), "quantity": 1, "delta": 1}, "either quantity"),
        ({"store_id": "store-a", "gtin": gtin(1)[:-1] + "0"}, "changes.0"),
        ({"store_id": "store-a", "gtin": gtin(1), "quantity": -3}, "changes.0.quantity"),
        ({"store_id": "Store A", "gtin": gtin(1), "delta": 1}, "changes.0.store_id"),
        ({"store_id": "store-a", "gtin": gtin(1), "delta": 1, "as_of": "2026-12-06T10:00:00"},
         "changes.0.as_of"),
    ],
)  # fmt: skip
def test_a_bad_change_refuses_the_whole_batch_naming_it(centre_web, change, message):
    url, db_url = centre_web
    good = {"store_id": "store-b", "gtin": gtin(2), "quantity": 9}
    refused = check(post(url, {"batch_id": "inv-2", "changes": [good, change]}), 422)
    assert refused["error"]["code"] == "invalid_request"
    assert message in refused["error"]["message"].replace("changes.1", "changes.0")
    db = CentralDb(db_url)
    try:
        assert db.execute("SELECT COUNT(*) FROM stock_levels").fetchone() == (0,)
        # Refused, so not remembered: the fixed batch goes through under the same id.
        assert db.execute("SELECT COUNT(*) FROM stock_batches").fetchone() == (0,)
    finally:
        db.close()


def test_oversized_malformed_and_unconfigured_requests_get_the_error_shape(centre_web, tmp_path):
    url, db_url = centre_web
    huge = {"batch_id": "big", "changes": [{"store_id": "store-a", "gtin": gtin(1),
                                            "delta": 1}] * 40_000}  # fmt: skip
    assert check(post(url, huge), 413)["error"]["message"]  # refused before it is parsed
    not_json = requests.post(f"{url}/stock/changes", data=b"{", timeout=10, headers={
        "Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})  # fmt: skip
    assert check(not_json, 400)["error"]["code"] == "invalid_json"
    too_many = {"batch_id": "many", "changes": [{"store_id": "store-a", "gtin": gtin(1),
                                                 "delta": 1}] * 5001}  # fmt: skip
    assert "changes" in check(post(url, too_many), 422)["error"]["message"]
    with serving(create_fleet_app(db_url, stock_token=None)) as closed:
        assert check(post(closed, {"batch_id": "x", "changes": []}), 503)["error"]["code"] == (
            "stock_stream_not_configured"
        )
    assert requests.get(f"{url}/openapi.json", timeout=10).json()["paths"]["/stock/changes"]


def test_a_burst_of_sales_reaches_the_store_coalesced(tmp_path, broker, central_factory):
    db_url = f"sqlite://{tmp_path / 'central.sqlite3'}"
    central = central_factory(broker.url, db_url, stock_flush_seconds=1.0)
    ctx = open_agent(sync_config(tmp_path / "store", broker.url))
    seed_store(ctx, customers=1, orders=0, seed=7, now=SEED_NOW)
    sold = ctx.store.db.execute("SELECT gtin FROM products ORDER BY gtin LIMIT 1").fetchone()[0]
    sync = SyncService(ctx, ack_timeout_seconds=2.0)
    sync.start()
    try:
        with serving(create_fleet_app(db_url, stock_token=TOKEN), threads=8) as url:
            check(post(url, {"batch_id": "start", "changes": [
                {"store_id": "store-a", "gtin": sold, "quantity": 40}]}), 200)  # fmt: skip
            # 30 sales posted by 6 tills' worth of senders at once, one sale per batch.
            barrier = threading.Barrier(6)

            def sell(worker: int) -> None:
                barrier.wait()
                for n in range(5):
                    body = {"batch_id": f"sale-{worker}-{n}", "changes": [
                        {"store_id": "store-a", "gtin": sold, "delta": -1}]}  # fmt: skip
                    assert post(url, body).status_code == 200

            threads = [threading.Thread(target=sell, args=(w,)) for w in range(6)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        wait_for(
            lambda: (
                ctx.store.db.execute(
                    "SELECT stock_here FROM products WHERE gtin = ?", [sold]
                ).fetchone()[0]
                == 10
            ),
            "the store's figure after the burst",
        )
        db = CentralDb(central.db_url)
        try:
            told = db.execute(
                "SELECT COUNT(*) FROM changes WHERE store_id = 'store-a' AND type = 'stock.levels'"
            ).fetchone()[0]
        finally:
            db.close()
        # 31 writes at the centre; the store heard of them in a handful of changes.
        assert 1 <= told <= 6, told
    finally:
        sync.stop()
        ctx.store.close()


def test_the_stream_answers_the_inventory_system_off_host_while_fleet_pages_do_not(centre_web):
    _url, db_url = centre_web
    app = create_fleet_app(db_url, token="o" * 40, stock_token=TOKEN)
    remote = app.test_client()
    remote.environ_base["REMOTE_ADDR"] = "203.0.113.9"  # another host
    batch = {"batch_id": "remote-1", "changes": [
        {"store_id": "store-a", "gtin": gtin(3), "quantity": 2}]}  # fmt: skip
    sent = remote.post("/stock/changes", json=batch, headers={"Authorization": f"Bearer {TOKEN}"})
    assert sent.status_code == 200, sent.get_json()
    assert remote.get("/fleet.json").status_code == 401  # ops pages keep their own rule
    wrong = remote.post(
        "/stock/changes", json=batch, headers={"Authorization": "Bearer " + "o" * 40}
    )
    assert wrong.status_code == 401  # the ops token is not the stock token
