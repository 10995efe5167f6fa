"""A fleet-wide reconnect at test scale: 200 stores publishing the agent's own batches and
a real agent, each with a backlog, reconnect at the same instant through one Mosquitto
running the shipped configuration into two edge-central workers on PostgreSQL. Nothing
is dropped on the way: no event needed a resend, every event is in the centre once,
every replay request was answered and every device's status recorded."""

from __future__ import annotations

import asyncio
import subprocess
from collections import Counter

import psycopg

from bench.fleet_stores import make_store, run_fleet
from sync.service import SyncService
from tests.sync.conftest import EDGE_CENTRAL, add_events, backlog, wait_for

STORES = 200
EVENTS_PER_STORE = 25
AGENT_EVENTS = 300
RUN_SECONDS = 120.0


def start_worker(broker_url: str, db_url: str, worker_id: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [EDGE_CENTRAL, "run", "--broker", broker_url, "--db", db_url, "--worker-id", worker_id],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    return proc


def test_a_fleet_reconnecting_together_through_two_workers_drops_nothing(
    broker,
    postgres_url,
    store_agent,
):
    workers = [start_worker(broker.url, postgres_url, f"burst-{n}") for n in (1, 2)]
    stores = [make_store(f"sim-{n:03d}", EVENTS_PER_STORE, seed=n) for n in range(STORES)]
    add_events(store_agent, AGENT_EVENTS)
    agent = SyncService(store_agent)  # the agent's own ack timeout, not a test's short one
    try:
        agent.start()
        asyncio.run(run_fleet("127.0.0.1", broker.port, stores, RUN_SECONDS))
        wait_for(lambda: backlog(store_agent) == 0, "the real agent's backlog acked")
    finally:
        agent.stop()
        for worker in workers:
            worker.terminate()
            worker.wait(timeout=30)

    assert [s.store_id for s in stores if s.done_after is None] == []
    # No resend was needed: every event was published exactly once.
    publishes = Counter(n for s in stores for n in s.publishes.values())
    assert publishes == Counter({1: STORES * EVENTS_PER_STORE})
    assert agent.publisher.resent_total == 0
    # Every replay request was answered, at the first asking.
    assert [s.store_id for s in stores if not s.feed_answered] == []
    assert Counter(s.replay_requests for s in stores) == Counter({1: STORES})

    sent = {event_id for s in stores for event_id in s.ids.values()}
    local = store_agent.store.db.execute("SELECT event_id FROM outbox").fetchall()
    sent |= {event_id for (event_id,) in local}
    with psycopg.connect(postgres_url) as conn:
        counts = conn.execute("SELECT event_id, COUNT(*) FROM events GROUP BY event_id").fetchall()
        fleet = conn.execute("SELECT store_id FROM fleet").fetchall()
    assert len(counts) == STORES * EVENTS_PER_STORE + AGENT_EVENTS
    assert {event_id for event_id, _ in counts} == sent
    assert {n for _, n in counts} == {1}
    # Every status message reached the fleet view.
    assert {store for (store,) in fleet} >= {s.store_id for s in stores} | {"store-a"}
