"""Two stores return the same order line while offline; once they reconnect the centre
finds the conflict and both tills see it, over a real Mosquitto and edge-central."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask

from edge_agent.context import AgentContext, open_agent
from edge_agent.returns import ReturnRequestLine, confirm_return
from edge_agent.scans import ScanDispatcher
from edge_agent.seed import seed_store
from edge_agent.staff import Actor, add_staff
from pos_bridge.app import create_app
from pos_bridge.conflicts_api import conflict_announcer
from sync.central.conflicts import list_conflicts
from sync.central.db import CentralDb
from sync.protocol.clock import to_iso
from tests.conftest import SEED_NOW
from tests.sync.conftest import backlog, sync_config, wait_for
from tests.till_fixtures import TILL_NOW

CASHIER = Actor("ana", "cashier", "staff", "lane-1")


@pytest.fixture
def stores(tmp_path: Path, broker) -> Iterator[dict[str, AgentContext]]:
    """Two stores with the same orders cached (the same seed), on the till's day."""
    opened = {}
    for store_id in ("store-a", "store-b"):
        ctx = open_agent(sync_config(tmp_path / store_id, broker.url, store_id=store_id))
        seed_store(ctx, customers=10, orders=80, seed=7, now=SEED_NOW)
        opened[store_id] = replace(ctx, clock=lambda: TILL_NOW)
    yield opened
    for ctx in opened.values():
        ctx.store.close()


@pytest.fixture
def till_app() -> Iterator[Callable[[AgentContext], Flask]]:
    """The till web app of a store, with a supervisor; its scan dispatcher is stopped after."""
    dispatchers: list[ScanDispatcher] = []

    def make(ctx: AgentContext) -> Flask:
        add_staff(ctx, "luis", "Luis", "supervisor", "9876")
        dispatcher = ScanDispatcher(ctx)
        dispatcher.start()
        dispatchers.append(dispatcher)
        return create_app(ctx, dispatcher)

    yield make
    for dispatcher in dispatchers:
        dispatcher.stop()


def line_bought_once(ctx: AgentContext) -> tuple[str, int]:
    """A returnable order line bought once, cheap enough to refund offline."""
    return ctx.store.db.execute(
        "SELECT o.number, l.line_no FROM orders o JOIN order_lines l ON l.order_id = o.id"
        " WHERE o.status = 'delivered' AND o.fulfilled_at > ? AND l.final_sale = 0"
        " AND l.quantity = 1 AND l.unit_price_minor <= 7000 ORDER BY o.id, l.line_no LIMIT 1",
        [
            to_iso(TILL_NOW - timedelta(days=25)),
        ],
    ).fetchone()


def bought_twice(stores: dict[str, AgentContext], number: str, line_no: int) -> None:
    """Make the line two of the same item in every store's cache (the seed's recent
    orders are all single items)."""
    for ctx in stores.values():
        with ctx.store.transaction() as db:
            db.execute(
                "UPDATE order_lines SET quantity = 2 WHERE line_no = ? AND order_id ="
                " (SELECT id FROM orders WHERE number = ?)",
                [line_no, number],
            )


def return_offline(ctx: AgentContext, number: str, line_no: int, quantity: int = 1) -> str:
    done = confirm_return(
        ctx, number, [ReturnRequestLine(line_no, quantity)], "original_payment",
        actor=CASHIER, online=False,
    )  # fmt: skip
    return done.return_id


def conflicts_at(ctx: AgentContext) -> int:
    return ctx.store.db.execute("SELECT COUNT(*) FROM return_conflicts").fetchone()[0]


def test_a_line_returned_offline_at_two_stores_reaches_both_tills_and_is_resolved(
    stores, broker, central_factory, sync_factory, till_app
):
    a, b = stores["store-a"], stores["store-b"]
    number, line_no = line_bought_once(a)
    return_offline(a, number, line_no)
    return_offline(b, number, line_no)
    app = till_app(a)
    screen = app.extensions["till_events"].stream("lane-1", keepalive=0.5)
    assert next(screen) == ": connected\n\n"
    central = central_factory(broker.url)
    for ctx in (a, b):
        sync = sync_factory(ctx)
        if ctx is a:  # as the daemon wires it
            sync.add_change_listener(conflict_announcer(app.extensions["till_events"]))
    for store_id, ctx in stores.items():
        wait_for(lambda ctx=ctx: conflicts_at(ctx) == 1, f"the conflict at {store_id}")
    db = CentralDb(central.db_url)
    try:
        (conflict,) = list_conflicts(db)
    finally:
        db.close()
    assert (conflict["order_number"], conflict["line_no"]) == (number, line_no)
    assert conflict["stores"] == ["store-a", "store-b"]
    wait_for(lambda: next(screen).startswith("event: return.conflict\n"), "the till screen told")
    screen.close()

    till = app.test_client()
    token = till.post(
        "/api/v1/auth/sign-in", json={"staff_id": "luis", "pin": "9876", "till_id": "lane-1"}
    ).get_json()["token"]
    till.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    (listed,) = till.get("/api/v1/conflicts").get_json()["conflicts"]
    assert listed["id"] == conflict["conflict_id"]
    assert sorted(r["store_id"] for r in listed["returns"]) == ["store-a", "store-b"]
    resolved = till.post(
        f"/api/v1/conflicts/{listed['id']}/resolve", json={"note": "second refund reversed"}
    )
    assert resolved.status_code == 200, resolved.get_json()
    wait_for(lambda: backlog(a) == 0, "the resolution acknowledged by the centre")
    db = CentralDb(central.db_url)
    try:
        (conflict,) = list_conflicts(db)
    finally:
        db.close()
    assert set(conflict["resolutions"]) == {"store-a"}
    assert conflict["resolutions"]["store-a"]["staff_id"] == "luis"
    assert conflict["state"] == "open"  # store-b has not settled its side yet


def test_no_conflict_when_the_stores_return_no_more_than_was_bought(
    stores, broker, central_factory, sync_factory
):
    a, b = stores["store-a"], stores["store-b"]
    number, line_no = line_bought_once(a)
    bought_twice(stores, number, line_no)
    return_offline(a, number, line_no)
    return_offline(b, number, line_no)
    central = central_factory(broker.url)
    for ctx in (a, b):
        sync_factory(ctx)
    for store_id, ctx in stores.items():
        wait_for(lambda ctx=ctx: backlog(ctx) == 0, f"{store_id}'s return at the centre")
    db = CentralDb(central.db_url)
    try:
        assert list_conflicts(db) == []
        assert db.execute("SELECT COUNT(*) FROM line_returns").fetchone()[0] == 2
    finally:
        db.close()
    assert conflicts_at(a) == 0 and conflicts_at(b) == 0
