"""The device measures its clock against the commit time on the centre's acks, and only
on acks that answer what it has just sent."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from edge_agent import clock_skew
from sync.link import BrokerSettings, MqttLink
from sync.protocol.clock import to_iso
from sync.protocol.envelope import event_source
from sync.protocol.topics import StoreTopics
from tests.sync.conftest import add_events, backlog, wait_for

# How old the replayed ack's commit time is: read as a clock reading, the device would
# seem this far ahead (45.8 s was seen in the field).
STALE_SECONDS = 45.8


def test_the_centres_acks_give_the_device_its_clock_skew(
    broker, store_agent, central_factory, sync_factory
):
    central_factory(broker.url)
    sync_factory(store_agent)
    add_events(store_agent, 3)
    wait_for(lambda: backlog(store_agent) == 0, "the events acked")
    skew = wait_for(lambda: clock_skew.load(store_agent.store.db), "a skew measurement")
    # Same machine, same clock: only the ack's trip across loopback separates them.
    assert isinstance(skew, clock_skew.ClockSkew)
    assert abs(skew.seconds) < 2.0


def test_acks_replayed_from_the_session_after_a_restart_change_no_clock_reading(
    broker, store_agent, central_factory, sync_factory
):
    """The issue's case: acks the broker kept in the agent's session while it was away
    (an older centre acked at QoS 1; a broker restored from its persistence file replays
    them) reach the agent first thing after its restart, with a commit time from back
    then. They are acks all the same, but not clock readings."""
    central_factory(broker.url)
    sync = sync_factory(store_agent)
    add_events(store_agent, 1)
    wait_for(lambda: backlog(store_agent) == 0, "the first event acked")
    before = wait_for(lambda: clock_skew.load(store_agent.store.db), "a first reading")
    assert isinstance(before, clock_skew.ClockSkew)
    sync.stop()
    add_events(store_agent, 3, start=1)
    old = datetime.now(UTC) - timedelta(seconds=STALE_SECONDS)
    source = event_source("store-a", store_agent.config.device.id)
    stale = {"ids": [], "rejected": [], "at": to_iso(old),
             "ranges": [{"source": source, "from": 2, "to": 4}]}  # fmt: skip
    old_centre = MqttLink(BrokerSettings(broker.url, "old-centre"), [], lambda m: None)
    old_centre.start()
    try:
        wait_for(old_centre.connected.is_set, "the old centre to connect")
        old_centre.publish(StoreTopics("retail/v1", "store-a").acks, json.dumps(stale).encode())
    finally:
        old_centre.stop()
    restarted = sync_factory(store_agent)
    wait_for(lambda: backlog(store_agent) == 0, "the replayed ack applied")
    wait_for(lambda: restarted.publisher.awaiting_broker == 0, "the round to settle")
    after = clock_skew.load(store_agent.store.db)
    assert after is not None
    # Either no new reading, or one from an ack that answered a send of this connection:
    # never the replayed commit time.
    assert abs(after.seconds) < 2.0, f"a replayed ack was read as {after.seconds:+.1f}s skew"
