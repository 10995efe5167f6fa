"""A replay request nobody answered is asked again, with backoff, until the feed answers:
a store is never left behind until the next feed check (300 s)."""

from __future__ import annotations

import queue
import time

from sync.link import BrokerSettings, Message, MqttLink
from sync.protocol.topics import StoreTopics
from tests.sync.conftest import wait_for

FIRST_RETRY_SECONDS = 1.0


def test_a_lost_replay_request_is_asked_again_until_the_feed_answers(
    monkeypatch, broker, store_agent, central_factory, sync_factory
):
    monkeypatch.setattr("sync.service.RESYNC_RETRY_FIRST_SECONDS", FIRST_RETRY_SECONDS)
    requests: queue.Queue[Message] = queue.Queue()
    # A plain subscriber sees every request; with no worker subscribed yet, the shared
    # subscription has nobody to hand the first one to, so the centre never gets it.
    probe = MqttLink(
        BrokerSettings(broker.url, "probe", persistent_session=False),
        [(StoreTopics("retail/v1", "store-a").resync, 1)],
        requests.put,
    )
    probe.start()
    try:
        wait_for(probe.connected.is_set, "the probe to connect")
        sync = sync_factory(store_agent)
        requests.get(timeout=30)  # the request made on connecting: lost
        central = central_factory(broker.url)
        assert central.counters.replays == 0
        wait_for(lambda: central.counters.replays >= 1, "a retried request to reach the centre")
        wait_for(lambda: not sync.awaiting_feed, "the feed's answer (a head marker)")
        # Answered: the store stops asking (only the 300 s feed check asks again).
        asked, answered = requests.qsize(), central.counters.replays
        time.sleep(FIRST_RETRY_SECONDS * 3)
        assert (requests.qsize(), central.counters.replays) == (asked, answered)
    finally:
        probe.stop()
