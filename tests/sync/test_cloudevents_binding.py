"""Our MQTT messages as the CloudEvents SDK and the MQTT 5 binding read them: change-feed
messages are structured-mode events with their Content Type, `sequence` orders as text,
and event batches (our extension of the binding) say what they are in theirs."""

from __future__ import annotations

import json
import queue
from pathlib import Path

from cloudevents.core.formats.json import JSONFormat
from cloudevents.v1.http import from_json

from sync.link import BrokerSettings, Message, MqttLink
from sync.protocol.batches import BATCH_CONTENT_TYPE
from sync.protocol.topics import StoreTopics
from tests.sync.conftest import add_events, backlog, wait_for

TOPICS = StoreTopics("retail/v1", "store-a")
# More than 9, so that "10" must sort after "9" as text.
CHANGES = 12


def listen(broker_url: str, topic: str, name: str) -> tuple[MqttLink, queue.Queue[Message]]:
    received: queue.Queue[Message] = queue.Queue()
    link = MqttLink(BrokerSettings(broker_url, client_id=name, persistent_session=False),
                    [(topic, 1)], received.put)  # fmt: skip
    link.start()
    wait_for(link.connected.is_set, f"{name} connected")
    return link, received


def drain(received: queue.Queue[Message], count: int) -> list[Message]:
    return [received.get(timeout=10) for _ in range(count)]


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def test_change_feed_messages_are_structured_cloudevents_ordered_as_text(broker, central_factory):
    central = central_factory(broker.url)
    link, received = listen(broker.url, TOPICS.changes, "feed-reader")
    try:
        for n in range(1, CHANGES + 1):
            customer = {"id": f"c-{n}", "first_name": "Ana", "last_name": "Ruiz"}
            central.push_change("store-a", "customer.upserted", customer)
        live = drain(received, CHANGES)
        # A replay (what a store that was away asks for) goes out the same way.
        central.link.publish(TOPICS.resync, json.dumps({"from_sequence": 1}).encode())
        replayed = drain(received, CHANGES)
    finally:
        link.stop()
    for messages in (live, replayed):
        # The binding's structured mode: Content Type is the event format's media type,
        # the one the SDK's JSON format names for structured content.
        assert {media_type(m.content_type) for m in messages} == {JSONFormat().get_content_type()}
        events = [from_json(m.payload) for m in messages]
        assert [e["type"] for e in events] == ["customer.upserted"] * CHANGES
        sequences = [e["sequence"] for e in events]
        assert [int(s) for s in sequences] == list(range(1, CHANGES + 1))
        # The Sequence extension compares values as strings: text order is feed order.
        assert sorted(sequences) == sequences
        assert len({len(s) for s in sequences}) == 1


def test_event_batches_carry_the_batch_content_type_and_sdk_readable_events(
    tmp_path: Path, broker, store_agent, central_factory, sync_factory
):
    central_factory(broker.url)
    link, received = listen(broker.url, TOPICS.events, "events-reader")
    try:
        add_events(store_agent, CHANGES)
        sync_factory(store_agent)
        wait_for(lambda: backlog(store_agent) == 0, "the backlog acknowledged")
        message = received.get(timeout=10)
    finally:
        link.stop()
    assert media_type(message.content_type) == BATCH_CONTENT_TYPE
    elements = json.loads(message.payload)
    events = [from_json(json.dumps(element)) for element in elements]
    sequences = [e["sequence"] for e in events]
    assert [int(s) for s in sequences] == list(range(1, CHANGES + 1))
    assert sorted(sequences) == sequences
    assert all(e["specversion"] == "1.0" and e["type"] == "scan.recorded" for e in events)
