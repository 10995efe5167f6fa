"""Batches on a real broker: a refused batch is split so only the bad event is parked;
acks are per device; the centre still takes one event per message from older agents."""

from __future__ import annotations

import json
import queue
import uuid
from pathlib import Path

from edge_agent.outbox import append_event
from sync.link import BrokerSettings, Message, MqttLink
from sync.protocol.acks import AckMessage
from sync.protocol.batches import build_batches
from sync.protocol.topics import StoreTopics
from sync.publisher import OutboxPublisher
from tests.sync.conftest import add_events, backlog, central_rows, scan_data, wait_for

OUR_SOURCE = "/stores/store-a/devices/till-1"


class SizeLimitedBroker:
    """Refuses (as a PUBACK reason) every message over the limit, like a broker's
    message size limit. Mosquitto 2.0 answers that with reason 0x95, which paho treats
    as a protocol error and drops the connection, so the refusal is played here."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.sent: dict[int, bytes] = {}

    def publish(self, payload: bytes) -> int:
        mid = len(self.sent) + 1
        self.sent[mid] = payload
        return mid

    def pubacks(self, publisher: OutboxPublisher) -> None:
        for mid, payload in list(self.sent.items()):
            refusal = "Packet too large" if len(payload) > self.limit else None
            publisher.on_published(mid, refusal)
            del self.sent[mid]


def test_a_batch_the_broker_refuses_is_split_and_only_the_oversized_event_is_parked(
    store_agent,
):
    add_events(store_agent, 20)
    with store_agent.store.transaction() as db:
        data = scan_data(20, value="9" * 128)  # the longest scan value there is
        big = append_event(db, store_agent.origin, "scan.recorded", None, data, store_agent.clock())
    add_events(store_agent, 20, start=20)
    rows = store_agent.store.db.execute("SELECT seq, envelope FROM outbox").fetchall()
    sizes = {b.seqs[0]: len(b.payload) for b in build_batches(rows, alone={s for s, _ in rows})}
    # Takes any one ordinary event, not the long one, and no batch of several.
    broker = SizeLimitedBroker(limit=(sizes[1] + sizes[big]) // 2)
    publisher = OutboxPublisher(
        store_agent.store, broker.publish, store_agent.clock, source=OUR_SOURCE, ack_timeout=0
    )
    publisher.restart()
    delivered: set[int] = set()
    for _ in range(50):  # rounds of the sync worker: fill, PUBACKs, centre acks, timeout
        publisher.fill()
        accepted = [p for p in broker.sent.values() if len(p) <= broker.limit]
        broker.pubacks(publisher)
        seqs = {int(e["sequence"]) for payload in accepted for e in json.loads(payload)}
        delivered |= seqs
        # The centre commits what the broker took and acks it.
        publisher.on_ack(AckMessage(ranges=tuple((OUR_SOURCE, s, s) for s in sorted(seqs))))
        publisher.check_ack_timeout()
    assert delivered == set(range(1, 42)) - {big}
    parked = store_agent.store.db.execute(
        "SELECT seq, parked_reason FROM outbox WHERE parked_reason IS NOT NULL"
    ).fetchall()
    assert parked == [(big, "broker refused it 3 times: Packet too large")]
    assert backlog(store_agent) == 1
    assert publisher.acked_total == 40


def test_acks_for_another_device_of_the_store_leave_our_events_alone(
    broker, store_agent, sync_factory
):
    sync = sync_factory(store_agent)
    wait_for(sync.link.connected.is_set, "the store to connect")
    add_events(store_agent, 30)
    wait_for(lambda: sync.publisher.in_flight == 30, "the events handed to the broker")
    acks = StoreTopics("retail/v1", "store-a").acks
    centre = MqttLink(BrokerSettings(broker.url, "fake-centre"), [], lambda m: None)
    centre.start()
    try:
        wait_for(centre.connected.is_set, "the fake centre to connect")
        other = {"ranges": [{"source": "/stores/store-a/devices/till-2", "from": 1, "to": 30}]}
        centre.publish(acks, json.dumps(other).encode())
        ours = {"ranges": [{"source": "/stores/store-a/devices/till-1", "from": 1, "to": 10}]}
        centre.publish(acks, json.dumps(ours).encode())
        wait_for(lambda: sync.publisher.acked_total == 10, "our range applied")
        assert backlog(store_agent) == 20
        assert sync.publisher.in_flight == 20
    finally:
        centre.stop()


def test_the_centre_takes_single_event_messages_from_older_agents_and_acks_by_id(
    tmp_path: Path, broker, central_factory
):
    central = central_factory(broker.url)
    topics = StoreTopics("retail/v1", "store-a")
    received: queue.Queue[Message] = queue.Queue()
    old_agent = MqttLink(BrokerSettings(broker.url, "old-agent"), [(topics.acks, 1)], received.put)
    old_agent.start()
    try:
        wait_for(old_agent.connected.is_set, "the old agent to connect")
        ids = [str(uuid.uuid4()) for _ in range(3)]
        for seq, event_id in enumerate(ids, start=1):
            event = {
                "specversion": "1.0",
                "id": event_id,
                "source": "/stores/store-a/devices/old-till",
                "type": "scan.recorded",
                "time": "2026-11-24T08:00:00.000000Z",
                "sequence": str(seq),
                "dataschema": "urn:edge-agent:schema:scan.recorded:1",
                "data": scan_data(seq),
            }
            old_agent.publish(topics.events, json.dumps(event).encode())
        acked: list[str] = []
        while len(acked) < 3:
            body = json.loads(received.get(timeout=30).payload)
            assert "ranges" not in body  # an older agent would not understand them
            acked.extend(body["ids"])
        assert sorted(acked) == sorted(ids)
        assert central.counters.inserted == 3
        rows = central_rows(tmp_path / "central.sqlite3", "SELECT contiguous_seq FROM sources")
        assert rows == [(3,)]
    finally:
        old_agent.stop()
