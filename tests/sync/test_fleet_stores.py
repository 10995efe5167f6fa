"""The fleet benchmark's simulated stores (bench/fleet_stores.py) against a real
Mosquitto: they resend as the agent does (after an ack is overdue, only the events not
acknowledged, batched as the agent batches them), and reconnect when the broker goes."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

import bench.fleet_stores as fleet_stores
from bench.fleet_stores import make_store, run_fleet
from bench.mqtt_wire import MqttClient, connect, encode_publish
from sync.protocol.acks import AckBuilder
from sync.protocol.batches import build_batches
from tests.sync.conftest import Broker

EVENTS = 300  # three batches (about 140, 140 and 20 events)
ACKED_OF_THE_FIRST = 50


class StandInCentre:
    """The first time, acknowledges the first 50 events of the first batch and the whole
    second batch, then everything; answers the replay request on the change feed."""

    def __init__(self, store_id: str) -> None:
        self.base = f"{fleet_stores.PREFIX}/stores/{store_id}"
        self.received: list[bytes] = []
        self.client: MqttClient | None = None

    def on_message(self, topic: str, payload: bytes) -> None:
        assert self.client is not None
        if topic.endswith("/resync"):
            self.client.publish(encode_publish(f"{self.base}/changes", b"[]"))
            return
        self.received.append(payload)
        events = json.loads(payload)
        if len(self.received) == 1:
            events = events[:ACKED_OF_THE_FIRST]  # the rest of the first batch: lost
        elif len(self.received) == 3:
            return  # the third batch: lost
        ack = AckBuilder()
        for event in events:
            ack.committed_in_batch(event["source"], int(event["sequence"]))
        self.client.publish(encode_publish(f"{self.base}/acks", ack.payload()))


def test_only_the_overdue_events_are_sent_again_in_the_agents_batches(broker, monkeypatch):
    # Deadlines of 0.3-0.45 s instead of the agent's minute before a first ack.
    monkeypatch.setattr(fleet_stores, "ACK_TIMEOUT_SECONDS", 0.3)
    monkeypatch.setattr(fleet_stores, "FIRST_ACK_TIMEOUT_FACTOR", 1.0)
    store = make_store("resend-1", EVENTS)
    assert len(store.batches) == 3
    centre = StandInCentre(store.store_id)

    async def scenario() -> None:
        centre.client = await connect(
            "127.0.0.1", broker.port, "stand-in-centre", centre.on_message, session_expiry=0
        )
        await centre.client.subscribe([(f"{centre.base}/events", 1), (f"{centre.base}/resync", 1)])
        await run_fleet("127.0.0.1", broker.port, [store], 20.0)
        await centre.client.disconnect()

    asyncio.run(scenario())

    first, middle, last = store.batches
    assert store.done_after is not None and store.feed_answered
    # The backlog as built before the run, then what was not acknowledged (the end of
    # the first batch and the third), batched as the agent's build_batches makes them.
    acked = set(first.seqs[:ACKED_OF_THE_FIRST]) | set(middle.seqs)
    overdue = [row for row in store.rows if row[0] not in acked]
    resent = [batch.payload for batch in build_batches(overdue)]
    assert centre.received == [first.payload, middle.payload, last.payload, *resent]
    assert Counter(store.publishes.values()) == Counter({1: len(acked), 2: len(overdue)})
    assert {store.ids[seq] for seq in acked} == {
        event_id for event_id, count in store.publishes.items() if count == 1
    }
    assert store.replay_requests == 1
    assert store.errors == []


def test_a_store_whose_broker_goes_away_reconnects_and_starts_its_session_again(
    broker: Broker,
):
    store = make_store("reconnect-1", 10)

    async def restart_broker_once_connected() -> None:
        while store.connected_after is None:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # its status, replay request and batch sent
        broker.kill()
        await asyncio.to_thread(broker.start)

    async def scenario() -> None:
        restart = asyncio.create_task(restart_broker_once_connected())
        # No centre: the store is never done, the run ends at its deadline.
        await run_fleet("127.0.0.1", broker.port, [store], 6.0)
        await restart

    asyncio.run(scenario())

    assert store.connect_attempts == 2
    assert len(store.errors) == 1 and "connection to the broker was lost" in store.errors[0]
    # The new session: status, replay request and the unacknowledged backlog again.
    assert store.replay_requests == 2
    assert Counter(store.publishes.values()) == Counter({2: 10})
