"""The whole way: a return confirmed at a till, the store's outbox, a real Mosquitto,
edge-central's ingest worker delivering, and the retailer's platform receiving."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from edge_agent.context import AgentContext, open_agent
from edge_agent.returns import ReturnRequestLine, confirm_return
from edge_agent.seed import seed_store
from edge_agent.staff import Actor
from sync.central.integrity import ALARM_TYPE, REMOVED
from sync.central.service import CentralService
from tests.conftest import SEED_NOW
from tests.delivery.conftest import FAST, subscribe
from tests.sync.conftest import add_events, backlog, sync_config, wait_for
from tests.sync.test_return_conflicts_live import line_bought_once
from tests.till_fixtures import TILL_NOW

CASHIER = Actor("ana", "cashier", "staff", "lane-1")


@pytest.fixture
def store(tmp_path: Path, broker) -> Iterator[AgentContext]:
    ctx = open_agent(sync_config(tmp_path / "store", broker.url, store_id="store-a"))
    seed_store(ctx, customers=10, orders=80, seed=7, now=SEED_NOW)
    yield replace(ctx, clock=lambda: TILL_NOW)
    ctx.store.close()


@pytest.fixture
def centre(broker, db_url) -> Iterator[CentralService]:
    service = CentralService(broker.url, db_url, worker_id="w1", delivery=FAST)
    service.start()
    wait_for(service.link.connected.is_set, "edge-central connected")
    yield service
    service.stop()


def test_a_return_confirmed_at_the_till_reaches_the_subscriber_once(
    store, centre, db_url, secret, receiver, sync_factory
):
    subscribe(db_url, receiver.url, [secret], types=("order.returned",), from_beginning=False)
    add_events(store, 3)  # scans: not what this subscriber asked for
    sync_factory(store)
    number, line_no = line_bought_once(store)
    done = confirm_return(
        store, number, [ReturnRequestLine(line_no, 1)], "original_payment",
        actor=CASHIER, online=True,
    )  # fmt: skip
    wait_for(lambda: receiver.ids(), "the return at the subscriber")
    time.sleep(0.5)  # a second copy would arrive by now
    (received,) = receiver.accepted
    assert received.type == "order.returned"
    assert received.event.data["return_id"] == done.return_id
    assert received.event.data["order_number"] == number
    assert received.event["source"] == "/stores/store-a/devices/till-1"
    assert receiver.requests[0]["webhook-id"] == received.event_id
    assert receiver.refused_signatures == 0
    assert store.store.db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 4


def test_an_event_removed_from_a_devices_outbox_raises_an_alarm_subscribers_receive(
    tmp_path, broker, centre, db_url, secret, receiver, sync_factory
):
    ctx = open_agent(sync_config(tmp_path / "store", broker.url, store_id="store-a"))
    try:
        subscribe(db_url, receiver.url, [secret], types=(ALARM_TYPE,))
        add_events(ctx, 5)
        with ctx.store.transaction() as db:
            db.execute("DELETE FROM outbox WHERE seq = 3")
        sync_factory(ctx)
        wait_for(lambda: backlog(ctx) == 0, "the outbox drained")
        # The next heartbeat (every 5 s here) says nothing waits on the device.
        wait_for(lambda: receiver.ids(), "the alarm at the subscriber", timeout=30)
    finally:
        ctx.store.close()
    (alarm,) = receiver.accepted
    assert alarm.type == ALARM_TYPE
    assert alarm.event.data["kind"] == REMOVED
    assert alarm.event.data["seq"] == 3
    assert alarm.event.data["device_source"] == "/stores/store-a/devices/till-1"
