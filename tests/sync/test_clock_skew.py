"""The device measures its clock against the commit time on the centre's acks, and only
on acks that answer what it has just sent."""

from __future__ import annotations

import subprocess
import time

from edge_agent import clock_skew
from tests.sync.conftest import EDGE_CENTRAL, add_events, backlog, central_rows, kill9, wait_for

# How long the replayed acks wait in the broker for the agent: a stale commit time this
# old would read as the device being this far ahead (45.8 s was seen in the field).
STALE_SECONDS = 6.0


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


def start_centre(args: list[str]) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    return proc


def test_acks_replayed_from_the_session_after_a_restart_change_no_clock_reading(
    tmp_path, broker, store_agent, sync_factory
):
    """The issue's reproduction: ack one event, kill -9 the centre, record 3 events, stop
    the agent, restart the centre (it commits the 3 and acks into the agent's session),
    wait, restart the agent: the broker hands it those old acks first thing."""
    central_db = tmp_path / "central.sqlite3"
    centre = [EDGE_CENTRAL, "run", "--broker", broker.url, "--db", f"sqlite://{central_db}"]
    proc = start_centre([*centre, "--worker-id", "w1"])
    try:
        sync = sync_factory(store_agent)
        add_events(store_agent, 1)
        wait_for(lambda: backlog(store_agent) == 0, "the first event acked")
        before = wait_for(lambda: clock_skew.load(store_agent.store.db), "a first reading")
        assert isinstance(before, clock_skew.ClockSkew)
        kill9(proc)
        add_events(store_agent, 3, start=1)
        wait_for(
            lambda: sync.publisher.in_flight == 3 and sync.publisher.awaiting_broker == 0,
            "the broker to take the three events",
        )
        sync.stop()
        proc = start_centre([*centre, "--worker-id", "w1"])
        wait_for(
            lambda: central_rows(central_db, "SELECT COUNT(*) FROM events") == [(4,)],
            "the restarted centre to commit the three from its session",
        )
        committed_at = time.monotonic()
        time.sleep(STALE_SECONDS)
        restarted = sync_factory(store_agent)
        wait_for(lambda: backlog(store_agent) == 0, "the three acked after the restart")
        wait_for(lambda: restarted.publisher.awaiting_broker == 0, "the round to settle")
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert time.monotonic() - committed_at >= STALE_SECONDS
    after = clock_skew.load(store_agent.store.db)
    assert after is not None
    # Either no new reading (the old acks marked the rows before anything was resent), or
    # one from an ack that answered a resend: never the stale commit time.
    assert abs(after.seconds) < 2.0, f"a replayed ack was read as {after.seconds:+.1f}s skew"
