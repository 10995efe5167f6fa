"""Each device's hash chain: events altered, removed, reordered or renumbered in a
device's outbox are detected at the centre; older agents' events are accepted, flagged."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from itertools import pairwise

import psycopg
import pytest

from edge_agent.context import AgentContext, open_agent
from sync.central.db import CentralDb
from sync.central.ingest import ingest_batch
from sync.central.integrity import (
    BROKEN,
    REMOVED,
    REUSED,
    alarm_counts,
    integrity_by_device,
    list_alarms,
)
from sync.central.web import create_fleet_app
from sync.protocol.batches import build_batches
from sync.protocol.chain import GENESIS, event_hash
from tests.delivery.conftest import ingest, source, store_events
from tests.sync.conftest import add_events, sync_config
from tests.sync.postgres import ADMIN_URL

TILL = source("store-a", "till-1")


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path) -> Iterator[str]:
    """The centre's database, each kind: PostgreSQL reads and writes a commit's devices
    through arrays (one statement for all of them), SQLite row by row."""
    if request.param == "sqlite":
        yield migrated(f"sqlite://{tmp_path / 'central.sqlite3'}")
        return
    name = f"edge_central_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    yield migrated(f"postgresql://postgres@127.0.0.1:5432/{name}")
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def migrated(url: str) -> str:
    db = CentralDb(url)
    db.create_schema()
    db.close()
    return url


@pytest.fixture
def agent(tmp_path) -> Iterator[AgentContext]:
    """A store device (store-a, till-1) writing its outbox as the till does."""
    ctx = open_agent(sync_config(tmp_path / "store", "", store_id="store-a"))
    yield ctx
    ctx.store.close()


def send_outbox(ctx: AgentContext, db_url: str) -> None:
    """What the store's publisher would send now, through the centre's ingest."""
    rows = ctx.store.db.execute("SELECT seq, envelope FROM outbox ORDER BY seq").fetchall()
    topic = f"retail/v1/stores/{ctx.config.store.id}/events"
    db = CentralDb(db_url)
    try:
        ingest_batch(db, "retail/v1", [(topic, b.payload) for b in build_batches(rows)])
    finally:
        db.close()


def alarms(db_url: str) -> list[tuple[str, int]]:
    db = CentralDb(db_url)
    try:
        return sorted((a["kind"], a["seq"]) for a in list_alarms(db) if a["source"] == TILL)
    finally:
        db.close()


def tamper(ctx: AgentContext, *statements: str) -> None:
    with ctx.store.transaction() as db:
        for sql in statements:
            db.execute(sql)


def test_an_untouched_chain_raises_nothing_and_each_link_is_the_previous_hash(agent, db_url):
    add_events(agent, 5)
    send_outbox(agent, db_url)
    assert alarms(db_url) == []
    db = CentralDb(db_url)
    try:
        rows = db.execute(
            "SELECT seq, chain_prev, chain_hash, envelope FROM events WHERE source = %s"
            " ORDER BY seq",
            [TILL],
        ).fetchall()
        assert integrity_by_device(db)[TILL] == {"chained": True, "alarms": 0, "last_alarm": None}
    finally:
        db.close()
    assert [r[0] for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0][1] == GENESIS
    for before, after in pairwise(rows):
        assert after[1] == before[2] == event_hash(before[3])


@pytest.mark.parametrize(
    ("case", "statements", "expected"),
    [
        (
            "altered",
            ["UPDATE outbox SET envelope = replace(envelope, '\"value\": \"2\"',"
             " '\"value\": \"9\"') WHERE seq = 3"],
            [(BROKEN, 4)],
        ),
        (
            "reordered",
            ["UPDATE outbox SET seq = -3 WHERE seq = 3", "UPDATE outbox SET seq = 3 WHERE seq = 4",
             "UPDATE outbox SET seq = 4 WHERE seq = -3"],
            [(BROKEN, 3), (BROKEN, 4), (BROKEN, 5)],
        ),
        (
            "removed and renumbered",
            ["DELETE FROM outbox WHERE seq = 3", "UPDATE outbox SET seq = seq - 1 WHERE seq > 3"],
            # The hash covers the seq: every renumbered event breaks its successor's link.
            [(BROKEN, 3), (BROKEN, 4), (BROKEN, 5)],
        ),
    ],
)  # fmt: skip
def test_a_rewritten_outbox_is_detected(agent, db_url, case, statements, expected):
    add_events(agent, 6)
    tamper(agent, *statements)
    send_outbox(agent, db_url)
    assert alarms(db_url) == expected, case


def test_an_event_altered_after_the_centre_has_its_successor_is_detected_when_it_comes(
    agent, db_url
):
    add_events(agent, 4)
    tamper(agent, "UPDATE outbox SET acked_at = 'x' WHERE seq = 2")  # 2 is still on its way
    rows = agent.store.db.execute(
        "SELECT seq, envelope FROM outbox WHERE acked_at IS NULL ORDER BY seq"
    ).fetchall()
    db = CentralDb(db_url)
    topic = "retail/v1/stores/store-a/events"
    try:
        ingest_batch(db, "retail/v1", [(topic, b.payload) for b in build_batches(rows)])
        assert alarms(db_url) == []
        late = agent.store.db.execute("SELECT seq, envelope FROM outbox WHERE seq = 2").fetchall()
        altered = [(2, late[0][1].replace('"value": "1"', '"value": "7"'))]
        ingest_batch(db, "retail/v1", [(topic, b.payload) for b in build_batches(altered)])
    finally:
        db.close()
    assert alarms(db_url) == [(BROKEN, 3)]


def test_a_reused_sequence_is_detected(db_url):
    ingest(db_url, store_events("store-a", "till-1", [1, 2]))
    ingest(db_url, store_events("store-a", "till-1", [2]))
    assert alarms(db_url) == [(REUSED, 2)]


def test_events_from_agents_before_the_chain_are_accepted_and_flagged_unchained(db_url):
    ingest(db_url, store_events("store-a", "till-1", [1, 2, 3]))
    db = CentralDb(db_url)
    try:
        (count,) = db.execute("SELECT COUNT(*) FROM events WHERE source = %s", [TILL]).fetchone()
        assert count == 3
        assert integrity_by_device(db)[TILL]["chained"] is False
        assert sum(alarm_counts(db).values()) == 0
    finally:
        db.close()


def test_a_removed_event_is_detected_from_the_devices_heartbeat(agent, db_url):
    from edge_agent.outbox import outbox_stats
    from sync.central.fleet import DeviceStatus, record_statuses

    add_events(agent, 5)
    tamper(agent, "DELETE FROM outbox WHERE seq = 3")
    send_outbox(agent, db_url)
    assert alarms(db_url) == []  # a gap alone may still fill
    tamper(agent, "UPDATE outbox SET acked_at = '2026-01-01T00:00:00.000000Z'")  # the acks
    stats = outbox_stats(agent.store.db)
    db = CentralDb(db_url)
    try:
        # The device's heartbeat, as the worker reads it off the broker.
        heartbeat = {"state": "online", "device_id": "till-1", "backlog": stats.depth,
                     "last_seq": stats.newest_seq}  # fmt: skip
        raised = record_statuses(db, [DeviceStatus("store-a", "till-1", heartbeat)])
    finally:
        db.close()
    assert [(a.kind, a.seq) for a in raised] == [(REMOVED, 3)]
    assert alarms(db_url) == [(REMOVED, 3)]
    web = create_fleet_app(db_url).test_client()
    (alarm,) = web.get("/fleet.json").get_json()["alarms"]
    assert (alarm["kind"], alarm["seq"], alarm["source"]) == (REMOVED, 3, TILL)
    assert "events_removed" in web.get("/fleet").get_data(as_text=True)
    metrics = web.get("/metrics").get_data(as_text=True)
    assert 'edge_central_integrity_alarms_total{kind="events_removed"} 1.0' in metrics
    assert 'edge_central_integrity_alarms_total{kind="chain_broken"} 0.0' in metrics
