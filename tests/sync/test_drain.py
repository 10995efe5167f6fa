"""Store events reach the centre once, in order, and leave the outbox only on its ack."""

from __future__ import annotations

import json
from pathlib import Path

import requests

from edge_agent.daemon import start_agent
from sync.central.db import CentralDb
from sync.central.fleet import fleet_status
from sync.central.web import create_fleet_app
from tests.sync.conftest import (
    add_events,
    backlog,
    central_rows,
    sync_config,
    wait_for,
)


def test_events_reach_the_centre_once_in_store_order(
    tmp_path: Path, broker, store_agent, central_factory, sync_factory
):
    add_events(store_agent, 300)
    central = central_factory(broker.url)
    sync = sync_factory(store_agent)
    wait_for(lambda: backlog(store_agent) == 0, "the outbox to drain")
    rows = central_rows(
        tmp_path / "central.sqlite3", "SELECT seq, event_id, envelope FROM events ORDER BY seq"
    )
    local = store_agent.store.db.execute("SELECT seq, event_id FROM outbox ORDER BY seq").fetchall()
    assert [(seq, event_id) for seq, event_id, _ in rows] == local
    assert [int(json.loads(envelope)["data"]["value"]) for *_, envelope in rows] == list(range(300))
    sources = central_rows(
        tmp_path / "central.sqlite3", "SELECT contiguous_seq, max_seq FROM sources"
    )
    assert sources == [(300, 300)]
    assert central.counters.inserted == 300
    assert sync.publisher.acked_total == 300


def test_an_event_stays_in_the_outbox_until_the_centre_acks_it(
    broker, store_agent, central_factory, sync_factory
):
    sync = sync_factory(store_agent)
    wait_for(sync.link.connected.is_set, "the store to connect")
    add_events(store_agent, 50)
    # The broker took every event (PUBACK), but no centre is listening: nothing is acked.
    wait_for(lambda: sync.publisher.in_flight == 50, "all 50 events handed to the broker")
    assert backlog(store_agent) == 50
    central_factory(broker.url)  # the centre appears; the ack-timeout resend reaches it
    wait_for(lambda: backlog(store_agent) == 0, "the outbox to drain once the centre is up")


def test_an_event_the_centre_refuses_is_parked_and_does_not_block_the_rest(
    tmp_path: Path, broker, store_agent, central_factory, sync_factory
):
    add_events(store_agent, 3)
    with store_agent.store.transaction() as db:
        # Forged: claims to come from another store.
        envelope = json.dumps(
            {
                "specversion": "1.0",
                "id": "forged-1",
                "source": "/stores/store-b/devices/x",
                "type": "scan.recorded",
                "time": "2026-11-24T08:00:00.000000Z",
                "data": {},
            }
        )
        db.execute(
            "INSERT INTO outbox (event_id, type, created_at, envelope)"
            " VALUES ('forged-1', 'scan.recorded', '2026-11-24T08:00:00.000000Z', ?)",
            [envelope],
        )
    add_events(store_agent, 3, start=3)
    central_factory(broker.url)
    sync_factory(store_agent)
    wait_for(lambda: backlog(store_agent) == 1, "everything but the forged event acked")
    parked = store_agent.store.db.execute(
        "SELECT event_id, parked_reason FROM outbox WHERE acked_at IS NULL"
    ).fetchall()
    assert parked[0][0] == "forged-1"
    assert "not a device of store store-a" in parked[0][1]
    assert central_rows(tmp_path / "central.sqlite3", "SELECT COUNT(*) FROM events") == [(6,)]
    assert central_rows(tmp_path / "central.sqlite3", "SELECT event_id FROM rejected_events") == [
        ("forged-1",)
    ]


def test_running_agent_reports_sync_state_and_backlog_and_the_fleet_sees_it(
    tmp_path: Path, broker, central_factory
):
    central = central_factory(broker.url)
    running = start_agent(sync_config(tmp_path / "agent", broker.url))
    try:
        wait_for(running.sync.link.connected.is_set, "the agent to connect")
        health = requests.get(f"{running.web_url}/healthz", timeout=5).json()
        assert health["checks"]["sync"] == "connected"
        assert health["sync"]["backlog"] == 0
        assert health["sync"]["parked"] == 0

        def fleet() -> list[dict]:
            db = CentralDb(central.db_url)
            try:
                return fleet_status(db)
            finally:
                db.close()

        wait_for(lambda: [d["state"] for d in fleet()] == ["online"], "the store online")
    finally:
        running.stop()
    # A clean stop publishes "offline" (retained) before disconnecting.
    wait_for(lambda: [d["state"] for d in fleet()] == ["offline"], "the store offline")
    web = create_fleet_app(central.db_url).test_client()
    assert web.get("/fleet.json").get_json()["devices"][0]["device_id"] == "till-1"
    page = web.get("/fleet").get_data(as_text=True)
    assert "0 of 1 devices online" in page
    assert "store-a" in page
