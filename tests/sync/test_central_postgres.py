"""edge-central on PostgreSQL: two workers share the events and each is written once."""

from __future__ import annotations

import psycopg

from tests.sync.conftest import add_events, backlog, wait_for


def test_two_workers_on_postgres_write_every_event_once_in_order(
    postgres_url, broker, store_agent, central_factory, sync_factory
):
    first = central_factory(broker.url, postgres_url, worker_id="w1")
    second = central_factory(broker.url, postgres_url, worker_id="w2")
    add_events(store_agent, 1000)
    sync_factory(store_agent)
    wait_for(lambda: backlog(store_agent) == 0, "the outbox to drain into PostgreSQL")
    # The shared subscription split the stream between the two workers.
    assert first.counters.inserted > 0
    assert second.counters.inserted > 0
    assert first.counters.inserted + second.counters.inserted == 1000
    local = store_agent.store.db.execute("SELECT seq, event_id FROM outbox ORDER BY seq").fetchall()
    with psycopg.connect(postgres_url) as conn:
        centre = conn.execute("SELECT seq, event_id FROM events ORDER BY seq").fetchall()
        sources = conn.execute("SELECT contiguous_seq, max_seq FROM sources").fetchall()
    assert centre == local
    assert sources == [(1000, 1000)]


def test_master_data_loads_and_answers_look_ups_on_postgres(tmp_path, postgres_url):
    from sync.central.db import CentralDb
    from sync.central.masterdata import customer_orders, find_customer, load_records, read_order
    from sync.central.masterfile import read_master_file
    from tests.sync.masterdata_fixtures import CUSTOMER, delivered, order, write_json

    path = write_json(tmp_path / "m.json", [CUSTOMER, order("W900000001"), delivered("W900000007")])
    db = CentralDb(postgres_url)
    try:
        db.create_schema()
        first = load_records(db, read_master_file(path), "m.json")
        again = load_records(db, read_master_file(path), "m.json")
        assert (first.added, len(first.changes)) == (3, 2)
        assert (again.unchanged, again.changes) == (3, [])
        assert read_order(db, "W900000007")["lines"][1]["name"] == "Pañuelo"
        customer_id = find_customer(db, "loyalty_id", CUSTOMER["loyalty_id"])
        numbers = [o["number"] for o in customer_orders(db, customer_id, 50)]
        assert numbers == ["W900000007", "W900000001"]  # newest first, ties by number
    finally:
        db.close()
