"""The outbox sequence: never handed out twice, across pruning and the schema step that
dropped AUTOINCREMENT (the centre orders each device's events and spots gaps by it)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from edge_agent.context import AgentContext
from edge_agent.migrations import HIGH_WATER_TYPE, MIGRATIONS, OUTBOX_SEQUENCE
from edge_agent.outbox import EventOrigin, append_event
from edge_agent.retention import prune
from edge_agent.store import Store
from sync.protocol.clock import to_iso
from sync.protocol.envelope import build_event
from sync.publisher import OutboxPublisher
from tests.sync.conftest import scan_data

ORIGIN = EventOrigin("store-a", "till-1")
AT = datetime(2026, 1, 1, 9, tzinfo=UTC)
BEFORE_STEP = tuple(m for m in MIGRATIONS if m.version < OUTBOX_SEQUENCE.version)


def append(store: Store, n: int) -> int:
    with store.transaction() as db:
        return append_event(db, ORIGIN, "scan.recorded", None, scan_data(n), AT)


def append_old(store: Store, n: int) -> int:
    """As agents before the hash chain wrote an event: SQLite numbers it, no chain."""
    event = build_event(
        event_type="scan.recorded", store_id=ORIGIN.store_id, device_id=ORIGIN.device_id,
        subject=None, data=scan_data(n), at=AT,
    )  # fmt: skip
    with store.transaction() as db:
        return db.conn.execute(
            "INSERT INTO outbox (event_id, type, created_at, envelope) VALUES (?, ?, ?, ?)",
            [event["id"], event["type"], event["time"], json.dumps(event)],
        ).lastrowid


def ack(store: Store, at: datetime = AT) -> None:
    with store.transaction() as db:
        db.execute("UPDATE outbox SET acked_at = ? WHERE acked_at IS NULL", [to_iso(at)])


def test_existing_outbox_keeps_its_rows_and_its_high_water_mark(tmp_path: Path):
    path = tmp_path / "a.sqlite3"
    old = Store.open(path, BEFORE_STEP)
    assert [append_old(old, n) for n in range(5)] == [1, 2, 3, 4, 5]
    with old.transaction() as db:
        db.execute("UPDATE outbox SET acked_at = ? WHERE seq IN (1, 3, 4, 5)", [to_iso(AT)])
        db.execute("UPDATE outbox SET parked_reason = 'refused', attempts = 3 WHERE seq = 2")
        # The old pruner could remove the newest rows; AUTOINCREMENT remembered 5.
        db.execute("DELETE FROM outbox WHERE seq IN (4, 5)")
    before = old.db.execute("SELECT * FROM outbox ORDER BY seq").fetchall()
    old.close()

    store = Store.open(path)
    try:
        rows = store.db.execute("SELECT * FROM outbox ORDER BY seq").fetchall()
        assert rows[:3] == [(*row, None) for row in before]  # no chain before the step
        placeholder = store.db.execute(
            "SELECT seq, type, acked_at IS NOT NULL FROM outbox WHERE seq > 3"
        ).fetchall()
        assert placeholder == [(5, HIGH_WATER_TYPE, 1)]
        assert append(store, 5) == 6  # after the old high-water mark, not after 3
        indexes = {r[1] for r in store.db.execute("PRAGMA index_list(outbox)")}
        assert indexes == {"outbox_parked"}
    finally:
        store.close()


def test_existing_outbox_with_its_newest_row_needs_no_placeholder(tmp_path: Path):
    path = tmp_path / "a.sqlite3"
    old = Store.open(path, BEFORE_STEP)
    for n in range(3):
        append_old(old, n)
    old.close()
    store = Store.open(path)
    try:
        assert [r[0] for r in store.db.execute("SELECT seq FROM outbox")] == [1, 2, 3]
        assert append(store, 3) == 4
    finally:
        store.close()


def test_pruning_every_acked_event_keeps_the_newest_so_no_seq_is_reused(agent: AgentContext):
    for n in range(3):
        append(agent.store, n)
    ack(agent.store)
    later = AT + timedelta(days=agent.config.retention.acked_events_days + 1)
    assert prune(agent, now=later)["outbox"] == 2
    assert append(agent.store, 3) == 4
    ack(agent.store)
    publisher = OutboxPublisher(
        agent.store, lambda payload: 1, lambda: later, source="/stores/store-a/devices/till-1"
    )
    assert publisher.prune() == 1  # the publisher's own pruning keeps the newest too
    assert [r[0] for r in agent.store.db.execute("SELECT seq FROM outbox")] == [4]
    assert append(agent.store, 4) == 5
