import json

import pytest

from edge_agent.customers import IdentifyQuery, identify_customer, parse_query
from edge_agent.errors import CustomerNotFound, InvalidInput, StoreError
from edge_agent.outbox import append_event
from edge_agent.seed import loyalty_id_for
from sync.protocol.clock import iso_now, utc_now
from tests.conftest import outbox_types
from tests.sync.conftest import scan_data


def add_customer(ctx, customer_id="C-T1", email="Lucía.Núñez@Example.es", phone="612 345 678"):
    now = iso_now()
    with ctx.store.transaction() as db:
        db.execute(
            "INSERT INTO customers (id, loyalty_id, first_name, last_name, email_hash,"
            " phone_hash, consent_marketing, created_at, updated_at)"
            " VALUES (?, ?, 'Lucía', 'Núñez Ibáñez', ?, ?, 1, ?, ?)",
            [
                customer_id,
                "2999999999994",
                ctx.hasher.email(email),
                ctx.hasher.phone(phone),
                now,
                now,
            ],
        )
        db.execute(
            "INSERT INTO loyalty_accounts VALUES (?, 'gold', 1234, 5000, ?)", [customer_id, now]
        )


def test_identify_by_loyalty_id_returns_profile_and_one_event(seeded):
    profile = identify_customer(
        seeded, IdentifyQuery("loyalty_id", loyalty_id_for(3)), channel="scan", source="s1"
    )
    assert profile.customer_id == "C00000003"
    assert profile.loyalty_id == loyalty_id_for(3)
    assert profile.tier in {"bronze", "silver", "gold", "platinum"}
    assert outbox_types(seeded) == ["customer.identified"]
    envelope = json.loads(seeded.store.db.execute("SELECT envelope FROM outbox").fetchone()[0])
    assert envelope["specversion"] == "1.0"
    assert envelope["source"] == "/stores/demo-001/devices/till-1"
    assert envelope["subject"] == "C00000003"
    assert envelope["data"]["method"] == "loyalty_id"
    assert envelope["data"]["channel"] == "scan"


def test_identify_by_email_ignores_case_and_spaces(agent):
    add_customer(agent)
    profile = identify_customer(
        agent, parse_query(agent, "  lucía.núñez@example.ES "), channel="typed", source="api"
    )
    assert profile.first_name == "Lucía"
    assert profile.points == 1234
    assert profile.consent_marketing is True


@pytest.mark.parametrize("typed", ["612345678", "+34 612 34 56 78", "(+34) 612-345-678"])
def test_identify_by_phone_in_any_format(agent, typed):
    add_customer(agent)
    query = parse_query(agent, typed)
    assert query.method == "phone"
    assert identify_customer(agent, query, channel="typed", source="api").customer_id == "C-T1"


def test_unknown_loyalty_id_is_not_found_and_records_nothing(seeded):
    with pytest.raises(CustomerNotFound, match="loyalty number"):
        identify_customer(
            seeded, IdentifyQuery("loyalty_id", "2900009999990"), channel="scan", source="s1"
        )
    assert outbox_types(seeded) == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "enter a loyalty number"),
        ("hello there", "not a loyalty number"),
        ("x" * 300, "too long"),
        ("@@", "not an email"),
    ],
)
def test_unparseable_queries_are_refused(agent, text, message):
    with pytest.raises(InvalidInput, match=message):
        query = parse_query(agent, text)
        identify_customer(agent, query, channel="typed", source="api")


def test_profile_shows_orders_ready_here_and_preferred_sizes(seeded):
    store_id = seeded.config.store.id
    row = seeded.store.db.execute(
        "SELECT customer_id FROM orders WHERE status = 'ready_for_pickup' AND pickup_store_id = ?"
        " LIMIT 1",
        [store_id],
    ).fetchone()
    customer_id = row[0]
    loyalty = seeded.store.db.execute(
        "SELECT loyalty_id FROM customers WHERE id = ?", [customer_id]
    ).fetchone()[0]
    profile = identify_customer(
        seeded, IdentifyQuery("loyalty_id", loyalty), channel="scan", source="s1"
    )
    assert profile.ready_for_pickup_here
    assert all(o.pickup_store_id == store_id for o in profile.ready_for_pickup_here)
    assert all(o.status == "ready_for_pickup" for o in profile.ready_for_pickup_here)
    assert {o.number for o in profile.ready_for_pickup_here} <= {
        o.number for o in profile.open_orders
    }
    for category, size in profile.preferred_sizes.items():
        assert any(p.category == category and p.size == size for p in profile.recent_purchases)


def test_identification_is_lost_with_its_event_when_the_disk_is_full(seeded):
    db = seeded.store.db
    db.execute(f"PRAGMA max_page_count = {db.execute('PRAGMA page_count').fetchone()[0] + 1}")
    # Pack the database to its last byte with small committed rows, like a full SD card.
    with pytest.raises(StoreError):
        for _ in range(100_000):
            with seeded.store.transaction() as tx:
                append_event(tx, seeded.origin, "scan.recorded", None, scan_data(1), at=utc_now())
    queued = len(outbox_types(seeded))
    with pytest.raises(StoreError, match="disk is full"):
        identify_customer(
            seeded, IdentifyQuery("loyalty_id", loyalty_id_for(1)), channel="scan", source="s1"
        )
    assert outbox_types(seeded) == ["scan.recorded"] * queued
