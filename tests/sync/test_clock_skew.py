"""The device measures its clock against the commit time on the centre's acks."""

from __future__ import annotations

from edge_agent import clock_skew
from tests.sync.conftest import add_events, backlog, wait_for


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
