"""An order the centre placed from `order.requested` and handed over at its pickup store
(`order.collected`) becomes `collected` at the centre and at the stores that know it, on
real SQLite and PostgreSQL databases, at the ingest."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from sync.central.cli import main as central_main
from sync.central.db import CentralDb
from sync.central.ingest import ingest_batch
from sync.central.masterdata import load_records, read_order, remember_store_knows
from sync.central.masterfile import read_master_file
from sync.central.order_collections import repeated_hand_overs
from sync.protocol.changes import parse_change
from sync.protocol.envelope import build_event
from tests.at_once import run_at_once
from tests.sync.masterdata_fixtures import CUSTOMER, order, write_json
from tests.sync.postgres import postgres_url  # noqa: F401  (a fixture)

REQUESTED_AT = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
HANDED_OVER_AT = datetime(2026, 12, 7, 17, 30, tzinfo=UTC)
NUMBER = "R00000000000000A1"


@pytest.fixture(params=["sqlite", "postgres"])
def centre(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CentralDb]:
    url = (
        f"sqlite://{tmp_path / 'central.sqlite3'}"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    db = CentralDb(url)
    db.create_schema()
    load_records(db, read_master_file(write_json(tmp_path / "m.json", [CUSTOMER])), "m.json")
    yield db
    db.close()


_seqs: dict[str, int] = {}


def event(store: str, event_type: str, data: dict[str, Any], at: datetime) -> tuple[str, bytes]:
    _seqs[store] = _seqs.get(store, 0) + 1
    body = build_event(event_type=event_type, store_id=store, device_id="till-1",
                       subject=data["order_number"], data=data, at=at)  # fmt: skip
    body["sequence"] = str(_seqs[store])
    return f"retail/v1/stores/{store}/events", json.dumps(body).encode()


def requested(store: str = "store-a", number: str = NUMBER) -> tuple[str, bytes]:
    data = {
        "order_number": number, "customer_id": "cust-1", "fulfilment": "click_and_collect",
        "pickup_store_id": "store-b", "currency": "EUR", "total_minor": 3995,
        "staff_id": "ana", "till_id": "lane-1",
        "lines": [{"gtin": "8400000000017", "sku": "DR-1", "name": "Vestido", "size": "M",
                   "quantity": 1, "unit_price_minor": 3995}],
    }  # fmt: skip
    return event(store, "order.requested", data, REQUESTED_AT)


def collected(store: str, pickup_id: str, number: str = NUMBER,
              at: datetime = HANDED_OVER_AT) -> tuple[str, bytes]:  # fmt: skip
    data = {"pickup_id": pickup_id, "order_number": number, "customer_id": "cust-1",
            "staff_id": "ana", "till_id": "lane-1"}  # fmt: skip
    return event(store, "order.collected", data, at)


def ingest(centre: CentralDb, *messages: tuple[str, bytes]):  # type: ignore[no-untyped-def]
    return ingest_batch(centre, "retail/v1", list(messages))


def feed(centre: CentralDb, store: str) -> list[tuple[str, dict]]:
    """The store's orders in its feed: (change type, status) in order."""
    rows = centre.execute(
        "SELECT payload FROM changes WHERE store_id = %s AND type LIKE 'order.%%' ORDER BY seq",
        [store],
    ).fetchall()
    return [(c.type, c.data.status) for c in (parse_change(r[0].encode()) for r in rows)]


def test_an_order_requested_at_a_and_handed_over_at_b_is_collected_for_both(centre):
    ingest(centre, requested())
    # Store C looked the customer up: it may hold the order from that answer.
    remember_store_knows(centre, "cust-1", "store-c")
    result = ingest(centre, collected("store-b", "P-b1"))
    assert sorted(c.store_id for c in result.changes) == ["store-a", "store-b", "store-c"]
    master = read_order(centre, NUMBER)
    assert master is not None and master["status"] == "collected"
    assert datetime.fromisoformat(master["fulfilled_at"]) == HANDED_OVER_AT
    assert centre.execute(
        "SELECT store_id, pickup_id, is_first FROM order_collections WHERE number = %s", [NUMBER]
    ).fetchall() == [("store-b", "P-b1", 1)]
    assert feed(centre, "store-a") == [("order.upserted", "ready_for_pickup"),
                                       ("order.upserted", "collected")]  # fmt: skip
    assert feed(centre, "store-b") == [("order.upserted", "ready_for_pickup"),
                                       ("order.upserted", "collected")]  # fmt: skip
    assert feed(centre, "store-c") == [("order.upserted", "collected")]
    # What goes to the stores carries the time of the hand-over and the lines.
    (payload,) = [c.payload for c in result.changes if c.store_id == "store-a"]
    sent = parse_change(payload).data
    assert sent.fulfilled_at == HANDED_OVER_AT and [ln.gtin for ln in sent.lines] == [
        "8400000000017"
    ]


def test_the_same_hand_over_sent_again_changes_nothing(centre):
    ingest(centre, requested())
    hand_over = collected("store-b", "P-b1")
    ingest(centre, hand_over)
    again = ingest(centre, hand_over)
    assert (again.inserted, again.duplicates, again.changes) == (0, 1, [])
    assert len(feed(centre, "store-a")) == 2
    assert centre.execute("SELECT COUNT(*) FROM order_collections").fetchone() == (1,)


def test_a_second_hand_over_elsewhere_keeps_the_first_and_is_listed(centre, caplog):
    ingest(centre, requested())
    ingest(centre, collected("store-b", "P-b1"))
    later = datetime(2026, 12, 8, 9, 0, tzinfo=UTC)
    with caplog.at_level(logging.WARNING, logger="sync.central.order_collections"):
        second = ingest(centre, collected("store-c", "P-c1", at=later))
    assert (second.inserted, second.changes) == (1, [])
    master = read_order(centre, NUMBER)
    assert master is not None
    assert datetime.fromisoformat(master["fulfilled_at"]) == HANDED_OVER_AT
    assert "handed over again at store store-c" in caplog.text
    (repeat,) = repeated_hand_overs(centre)
    assert (repeat["order_number"], repeat["store_id"], repeat["pickup_id"]) == (
        NUMBER, "store-c", "P-c1",
    )  # fmt: skip
    assert (repeat["first"]["store_id"], repeat["first"]["pickup_id"]) == ("store-b", "P-b1")
    assert len(feed(centre, "store-a")) == 2  # nothing more sent
    shown = json.loads(CliRunner().invoke(central_main, ["conflicts", "--db", centre.url]).output)
    assert [r["pickup_id"] for r in shown["repeated_hand_overs"]] == ["P-c1"]


def test_a_hand_over_of_an_unknown_or_a_loaded_order_is_stored_and_left_alone(centre, tmp_path):
    # The retailer's order system owns the orders it loads: it moves them itself.
    load_records(centre, read_master_file(write_json(tmp_path / "o.json", [
        order("W100000001", status="ready_for_pickup", pickup_store_id="store-b")])),
        "o.json")  # fmt: skip
    before = feed(centre, "store-b")
    result = ingest(
        centre,
        collected("store-b", "P-b1", number="W100000001"),
        collected("store-b", "P-b2", number="R0000000000000FF"),
    )
    assert (result.inserted, result.rejected, result.changes) == (2, 0, [])
    loaded = read_order(centre, "W100000001")
    assert loaded is not None and loaded["status"] == "ready_for_pickup"
    assert read_order(centre, "R0000000000000FF") is None
    assert feed(centre, "store-b") == before
    assert centre.execute("SELECT COUNT(*) FROM order_collections").fetchone() == (0,)


def test_requested_and_handed_over_in_one_batch_ends_collected(centre):
    result = ingest(centre, requested(), collected("store-b", "P-b1"))
    assert result.inserted == 2
    assert feed(centre, "store-a") == [("order.upserted", "ready_for_pickup"),
                                       ("order.upserted", "collected")]  # fmt: skip


def test_two_workers_taking_two_hand_overs_of_one_order_keep_exactly_one(
    postgres_url,  # noqa: F811
    tmp_path,
):
    setup = CentralDb(postgres_url)
    setup.create_schema()
    load_records(setup, read_master_file(write_json(tmp_path / "m.json", [CUSTOMER])), "m.json")
    ingest(setup, requested())
    setup.close()
    hand_overs = [collected("store-b", "P-b1"), collected("store-c", "P-c1")]
    dbs = [CentralDb(postgres_url) for _ in hand_overs]  # a worker's own connection each
    try:
        results = run_at_once(
            *(partial(ingest, db, m) for db, m in zip(dbs, hand_overs, strict=True))
        )
    finally:
        for db in dbs:
            db.close()
    assert [r for r in results if isinstance(r, Exception)] == []
    db = CentralDb(postgres_url)
    try:
        firsts = db.execute(
            "SELECT is_first, COUNT(*) FROM order_collections GROUP BY is_first ORDER BY is_first"
        ).fetchall()
        sent = db.execute(
            "SELECT COUNT(*) FROM changes WHERE store_id = 'store-a' AND type = 'order.upserted'"
        ).fetchone()
    finally:
        db.close()
    assert firsts == [(0, 1), (1, 1)]
    assert sent == (2,)  # placed, then collected once


def test_an_order_placed_before_the_centre_knew_its_own_is_found_from_its_event(centre):
    from alembic import command

    from sync.central import schema

    ingest(centre, requested())
    # Back to the schema before `requested_orders`, then forward again, as an upgrade.
    engine = schema._engine(centre.url)
    with engine.connect() as conn, conn.begin():
        config = schema._config()
        config.attributes["connection"] = conn
        command.downgrade(config, "0005")
    engine.dispose()
    assert schema.migrate(centre.url).changed
    assert centre.execute("SELECT number, asking_store_id FROM requested_orders").fetchall() == [
        (NUMBER, "store-a")
    ]
    result = ingest(centre, collected("store-b", "P-b1"))
    assert sorted(c.store_id for c in result.changes) == ["store-a", "store-b"]
