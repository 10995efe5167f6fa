"""Crashes anywhere (agent, centre, broker) and a broker that drops queued messages:
every event reaches the centre's database exactly once in effect, in store order."""

from __future__ import annotations

import random
import sqlite3
import subprocess
import sys
from pathlib import Path

from edge_agent.context import open_agent
from tests.sync.conftest import (
    EDGE_CENTRAL,
    add_events,
    backlog,
    central_rows,
    kill9,
    sync_config,
    wait_for,
)

REPO = Path(__file__).resolve().parents[2]
AGENT_KILLS = 50


def start_process(args: list[str]) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        args,
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()  # blocks until the process says it is connected
    assert line.strip() == "ready", f"process did not start: {line!r}"
    return proc


def assert_centre_has_exactly_the_outbox(central_db: Path, store_db: Path) -> None:
    with sqlite3.connect(store_db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        local = conn.execute("SELECT seq, event_id FROM outbox ORDER BY seq").fetchall()
        assert conn.execute("SELECT COUNT(*) FROM outbox WHERE acked_at IS NULL").fetchone() == (0,)
    centre = central_rows(central_db, "SELECT seq, event_id FROM events ORDER BY seq")
    assert centre == local  # every event once, none invented, same store order
    assert central_rows(central_db, "PRAGMA integrity_check") == [("ok",)]
    assert central_rows(central_db, "SELECT contiguous_seq, max_seq FROM sources") == [
        (len(local), len(local))
    ]


def test_agent_killed_at_random_instants_loses_and_duplicates_nothing(
    tmp_path: Path, broker, central_factory, sync_factory
):
    central_factory(broker.url)
    data_dir = tmp_path / "store"
    rng = random.Random(6)
    writer = [sys.executable, "-m", "tests.sync.agent_writer", str(data_dir), broker.url]
    for _ in range(AGENT_KILLS):
        proc = start_process([*writer, "--write"])
        # Kill while it commits and drains: somewhere in its first few hundred ms.
        try:
            proc.wait(timeout=rng.uniform(0.0, 0.3))
        except subprocess.TimeoutExpired:
            kill9(proc)
        assert proc.returncode == -9
    ctx = open_agent(sync_config(data_dir, broker.url))
    try:
        written = ctx.store.db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
        assert written > AGENT_KILLS  # the kills really landed mid-stream
        sync = sync_factory(ctx)
        wait_for(lambda: backlog(ctx) == 0, "the outbox to drain after the crashes")
        sync.stop()
    finally:
        ctx.store.close()
    assert_centre_has_exactly_the_outbox(
        tmp_path / "central.sqlite3", data_dir / "edge-agent.sqlite3"
    )


# Events in flight in the mid-stream tests: small, so 3000 events take long enough to
# drain that the kill lands while they are on the way (a full window drains them in a
# blink).
SLOW_WINDOW = 10


def test_centre_killed_mid_stream_loses_and_duplicates_nothing(
    tmp_path: Path, broker, sync_factory
):
    store_agent = open_agent(sync_config(tmp_path / "store", broker.url, max_in_flight=SLOW_WINDOW))
    central_db = tmp_path / "central.sqlite3"
    central = [EDGE_CENTRAL, "run", "--broker", broker.url, "--db", f"sqlite://{central_db}"]
    add_events(store_agent, 3000)
    proc = start_process([*central, "--worker-id", "w1"])
    sync = sync_factory(store_agent)
    try:
        wait_for(
            lambda: (
                central_db.exists()
                and central_rows(central_db, "SELECT COUNT(*) FROM events")[0][0] > 300
            ),
            "the centre to take some events",
        )
        kill9(proc)
        assert backlog(store_agent) > 0  # killed mid-stream, not after
        proc = start_process([*central, "--worker-id", "w1"])
        wait_for(lambda: backlog(store_agent) == 0, "the outbox to drain after the restart")
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        sync.stop()
        store_agent.store.close()
    assert_centre_has_exactly_the_outbox(central_db, store_agent.config.paths.database)


def test_broker_killed_and_restarted_mid_drain_loses_nothing(
    tmp_path: Path, broker, central_factory, sync_factory
):
    store_agent = open_agent(sync_config(tmp_path / "store", broker.url, max_in_flight=SLOW_WINDOW))
    add_events(store_agent, 3000)
    central_factory(broker.url)
    sync = sync_factory(store_agent)
    wait_for(lambda: backlog(store_agent) < 2700, "the drain to start")
    broker.kill()
    wait_for(lambda: not sync.link.connected.is_set(), "the store to notice")
    assert backlog(store_agent) > 0
    broker.start()
    wait_for(lambda: backlog(store_agent) == 0, "the outbox to drain after the broker restart")
    sync.stop()
    store_agent.store.close()
    assert_centre_has_exactly_the_outbox(
        tmp_path / "central.sqlite3", store_agent.config.paths.database
    )


def test_broker_dropping_queued_events_for_an_absent_centre_loses_nothing(
    tmp_path: Path, broker_factory, sync_factory, central_factory
):
    # Mosquitto keeps at most this many messages for a disconnected session and silently
    # drops the rest: the store must not rely on the broker's queue.
    broker = broker_factory("max_queued_messages 5\n")
    central = central_factory(broker.url)
    central.link.stop()  # gone as if crashed: its session stays, with a queue of 5
    ctx = open_agent(sync_config(tmp_path / "store", broker.url))
    try:
        add_events(ctx, 200)
        sync = sync_factory(ctx)
        wait_for(lambda: sync.publisher.in_flight == 200, "the events handed to the broker")
        assert backlog(ctx) == 200
        central_factory(broker.url)
        wait_for(lambda: backlog(ctx) == 0, "the outbox to drain by resending")
        assert_centre_has_exactly_the_outbox(
            tmp_path / "central.sqlite3", ctx.config.paths.database
        )
    finally:
        ctx.store.close()
