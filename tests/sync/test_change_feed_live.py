"""The change feed over a real broker: pushed, lost by the broker, replayed."""

from __future__ import annotations

from pathlib import Path

from edge_agent.context import open_agent
from edge_agent.feed import last_applied
from sync.central.changes import record_change
from sync.central.db import CentralDb
from sync.protocol.topics import StoreTopics
from tests.sync.conftest import sync_config, wait_for


def customer(n: int) -> dict:
    return {"id": f"c-{n}", "first_name": "Ana", "last_name": f"N{n}"}


def test_changes_the_broker_dropped_while_the_store_was_away_are_replayed(
    tmp_path: Path, broker_factory, central_factory, sync_factory
):
    broker = broker_factory("max_queued_messages 5\n")
    ctx = open_agent(sync_config(tmp_path / "store", broker.url))
    try:
        sync = sync_factory(ctx)
        wait_for(sync.link.connected.is_set, "the store to connect and subscribe")
        sync.stop()  # away: its session stays, with a broker queue of 5
        central = central_factory(broker.url)
        for n in range(1, 31):
            central.push_change("store-a", "customer.upserted", customer(n))
        sync = sync_factory(ctx)
        wait_for(lambda: last_applied(ctx.store.db) == 30, "all 30 changes applied")
        ids = [r[0] for r in ctx.store.db.execute("SELECT id FROM customers ORDER BY rowid")]
        assert ids == [f"c-{n}" for n in range(1, 31)]  # in feed order
        assert ctx.store.db.execute("SELECT COUNT(*) FROM dead_letters").fetchone() == (0,)
    finally:
        sync.stop()
        ctx.store.close()


def test_a_gap_seen_live_asks_for_a_replay(
    tmp_path: Path, broker, store_agent, central_factory, sync_factory
):
    central = central_factory(broker.url)
    sync = sync_factory(store_agent)
    wait_for(sync.link.connected.is_set, "the store to connect")
    wait_for(lambda: central.counters.replays >= 1, "the replay request made on connect")
    db = CentralDb(central.db_url)
    try:
        payloads = [
            record_change(db, "store-a", "customer.upserted", customer(n)) for n in (1, 2, 3)
        ]
    finally:
        db.close()
    topic = StoreTopics("retail/v1", "store-a").changes
    central.link.publish(topic, payloads[0])
    central.link.publish(topic, payloads[2])  # 2 is "lost" on the way
    wait_for(lambda: last_applied(store_agent.store.db) == 3, "the gap filled by a replay")
    assert central.counters.replays >= 2


def test_a_lost_last_change_is_caught_by_the_periodic_feed_check(
    tmp_path: Path, broker, central_factory, sync_factory
):
    ctx = open_agent(sync_config(tmp_path / "store", broker.url, feed_check_seconds=1))
    try:
        central = central_factory(broker.url)
        sync = sync_factory(ctx)
        wait_for(lambda: central.counters.replays >= 1, "the replay request made on connect")
        db = CentralDb(central.db_url)
        try:
            # Recorded but never delivered, and nothing follows it that would reveal a gap.
            record_change(db, "store-a", "customer.upserted", customer(1))
        finally:
            db.close()
        wait_for(lambda: last_applied(ctx.store.db) == 1, "the lost change fetched by a check")
        assert central.counters.replays >= 2
        # The centre's "nothing to replay" answers are markers, never dead letters.
        assert ctx.store.db.execute("SELECT COUNT(*) FROM dead_letters").fetchone() == (0,)
    finally:
        sync.stop()
        ctx.store.close()
