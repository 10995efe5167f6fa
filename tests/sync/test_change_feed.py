"""The change feed: applied once, in sequence; gaps replayed; bad messages dead-lettered."""

from __future__ import annotations

import json

import pytest

from edge_agent.feed import last_applied, receive_change
from sync.central.changes import record_change
from sync.central.db import CentralDb
from sync.protocol.changes import MAX_CHANGE_BYTES
from sync.protocol.clock import utc_now

TOPIC = "retail/v1/stores/demo-001/changes"
EMAIL_HASH = "a" * 64

CUSTOMER = {
    "id": "cust-new-1",
    "loyalty_id": "2900000099990",
    "first_name": "Lucía",
    "last_name": "Gómez",
    "email_hash": EMAIL_HASH,
    "consent_marketing": True,
    "loyalty": {"tier": "gold", "points": 1200, "lifetime_points": 5400},
}
ORDER = {
    "number": "W900000001",
    "customer_id": "cust-new-1",
    "fulfilment": "click_and_collect",
    "status": "processing",
    "pickup_store_id": "demo-001",
    "placed_at": "2026-11-20T10:00:00Z",
    "currency": "EUR",
    "total_minor": 5990,
    "payment_method": "card",
    "lines": [
        {
            "line_no": 1,
            "gtin": "8400000000017",
            "sku": "DR-1",
            "name": "Vestido",
            "size": "M",
            "quantity": 1,
            "unit_price_minor": 3995,
        },
        {
            "line_no": 2,
            "gtin": "8400000000024",
            "sku": "SC-2",
            "name": "Pañuelo",
            "quantity": 1,
            "unit_price_minor": 1995,
        },
    ],
}


def change(centre: CentralDb, change_type: str, data: dict) -> bytes:
    return record_change(centre, "demo-001", change_type, data)


def receive(agent, payload: bytes):
    return receive_change(agent.store, TOPIC, payload, utc_now())


def dead_letters(agent) -> list[str]:
    return [r[0] for r in agent.store.db.execute("SELECT reason FROM dead_letters ORDER BY id")]


def test_each_kind_of_change_is_applied(agent, centre):
    db = agent.store.db
    outcomes = [
        receive(agent, change(centre, "customer.upserted", CUSTOMER)),
        receive(agent, change(centre, "order.upserted", ORDER)),
        receive(
            agent,
            change(
                centre,
                "order.status_changed",
                {"number": "W900000001", "status": "ready_for_pickup"},
            ),
        ),
        receive(
            agent, change(centre, "pass.revoked", {"serial": "P-1", "customer_id": "cust-new-1"})
        ),
        receive(
            agent, change(centre, "config.changed", {"key": "returns.window_days", "value": 45})
        ),
    ]
    assert [o.status for o in outcomes] == ["applied"] * 5
    assert db.execute(
        "SELECT first_name, email_hash, consent_marketing FROM customers WHERE id = 'cust-new-1'"
    ).fetchone() == ("Lucía", EMAIL_HASH, 1)
    assert db.execute(
        "SELECT tier, points FROM loyalty_accounts WHERE customer_id = 'cust-new-1'"
    ).fetchone() == ("gold", 1200)
    assert db.execute(
        "SELECT status, pickup_store_id, total_minor FROM orders WHERE number = 'W900000001'"
    ).fetchone() == ("ready_for_pickup", "demo-001", 5990)
    assert db.execute(
        "SELECT COUNT(*) FROM order_lines l JOIN orders o ON o.id = l.order_id"
        " WHERE o.number = 'W900000001'"
    ).fetchone() == (2,)
    assert db.execute("SELECT status FROM passes WHERE serial = 'P-1'").fetchone() == ("revoked",)
    assert db.execute(
        "SELECT value FROM central_config WHERE key = 'returns.window_days'"
    ).fetchone() == ("45",)
    assert last_applied(db) == 5
    assert dead_letters(agent) == []


def test_erasure_removes_the_customers_personal_data_and_keeps_the_order(agent, centre):
    receive(agent, change(centre, "customer.upserted", CUSTOMER))
    receive(agent, change(centre, "order.upserted", ORDER))
    outcome = receive(
        agent, change(centre, "customer.erasure_requested", {"customer_id": "cust-new-1"})
    )
    db = agent.store.db
    assert outcome.status == "applied"
    assert db.execute("SELECT COUNT(*) FROM customers WHERE id = 'cust-new-1'").fetchone() == (0,)
    assert db.execute(
        "SELECT COUNT(*) FROM customers WHERE email_hash = ?", [EMAIL_HASH]
    ).fetchone() == (0,)
    assert db.execute(
        "SELECT COUNT(*) FROM loyalty_accounts WHERE customer_id = 'cust-new-1'"
    ).fetchone() == (0,)
    assert db.execute("SELECT customer_id FROM orders WHERE number = 'W900000001'").fetchone() == (
        None,
    )


def test_the_same_change_twice_is_applied_once(agent, centre):
    payload = change(centre, "customer.upserted", CUSTOMER)
    assert receive(agent, payload).status == "applied"
    with agent.store.transaction() as db:
        db.execute("UPDATE loyalty_accounts SET points = 1300 WHERE customer_id = 'cust-new-1'")
    assert receive(agent, payload).status == "duplicate"
    # The duplicate did not re-apply the old points over the newer local value.
    assert agent.store.db.execute(
        "SELECT points FROM loyalty_accounts WHERE customer_id = 'cust-new-1'"
    ).fetchone() == (1300,)
    assert last_applied(agent.store.db) == 1


def test_a_change_after_a_gap_waits_for_the_replay(agent, centre):
    first = change(centre, "customer.upserted", CUSTOMER)
    second = change(centre, "order.upserted", ORDER)
    outcome = receive(agent, second)
    assert outcome.status == "gap"
    assert agent.store.db.execute("SELECT COUNT(*) FROM orders").fetchone() == (0,)
    assert [receive(agent, p).status for p in (first, second)] == ["applied", "applied"]
    assert last_applied(agent.store.db) == 2


def test_bad_messages_are_dead_lettered_and_the_feed_moves_on(agent, centre):
    good = change(centre, "customer.upserted", CUSTOMER)  # seq 1
    assert receive(agent, b"{not json").status == "dead_lettered"
    assert receive(agent, b"x" * (MAX_CHANGE_BYTES + 1)).status == "dead_lettered"
    assert last_applied(agent.store.db) == 0  # no readable sequence: the feed waits
    assert receive(agent, good).status == "applied"

    wrong_schema = json.loads(change(centre, "order.upserted", ORDER))  # seq 2
    del wrong_schema["data"]["lines"]
    assert receive(agent, json.dumps(wrong_schema).encode()).status == "dead_lettered"
    unknown = json.loads(change(centre, "customer.upserted", CUSTOMER))  # seq 3
    unknown["type"] = "customer.teleported"
    assert receive(agent, json.dumps(unknown).encode()).status == "dead_lettered"
    replayed = json.loads(good)
    replayed["id"] = "someone-else"
    replayed["data"]["first_name"] = "Mallory"
    assert receive(agent, json.dumps(replayed).encode()).status == "dead_lettered"
    orphan = dict(ORDER, customer_id="nobody")
    assert receive(agent, change(centre, "order.upserted", orphan)).status == "dead_lettered"

    assert last_applied(agent.store.db) == 4  # past the bad ones with sequences
    assert agent.store.db.execute(
        "SELECT first_name FROM customers WHERE id = 'cust-new-1'"
    ).fetchone() == ("Lucía",)
    reasons = dead_letters(agent)
    assert len(reasons) == 6
    assert "not a valid change envelope" in reasons[0]
    assert "oversized" in reasons[1]
    assert "lines" in reasons[2]
    assert "unknown change type 'customer.teleported'" in reasons[3]
    assert "replayed sequence 1" in reasons[4]
    assert "unknown here" in reasons[5]
    # And the feed still takes good changes after all that.
    assert receive(agent, change(centre, "order.upserted", ORDER)).status == "applied"


def test_the_centre_refuses_to_record_a_change_every_store_would_refuse(centre):
    from sync.protocol.errors import ChangeRejected

    with pytest.raises(ChangeRejected, match="unknown change type"):
        record_change(centre, "demo-001", "order.deleted", {})
    with pytest.raises(ChangeRejected, match=r"order\.upserted data is wrong"):
        record_change(centre, "demo-001", "order.upserted", {"number": "W1"})
    assert centre.execute("SELECT COUNT(*) FROM changes").fetchone() == (0,)


def test_a_feed_head_marker_is_recognised_and_nothing_else_is():
    from sync.protocol.changes import parse_feed_head

    marker = {"specversion": "1.0", "type": "feed.head", "feedhead": "7", "id": "x"}
    assert parse_feed_head(json.dumps(marker).encode()) == 7
    change = dict(marker, type="customer.upserted", sequence="7")
    assert parse_feed_head(json.dumps(change).encode()) is None
    assert parse_feed_head(json.dumps(dict(marker, sequence="7")).encode()) is None
    assert parse_feed_head(b"\xff not json") is None
    assert parse_feed_head(json.dumps(dict(marker, feedhead="-1")).encode()) is None


def test_replays_for_many_stores_answer_each_from_where_it_asked(centre):
    from sync.central.changes import answer_replays

    for n in range(3):
        record_change(centre, "store-b", "customer.upserted", {**CUSTOMER, "id": f"c-{n}"})
    answers = answer_replays(
        centre, [("store-a", 1, 100), ("store-b", 2, 100), ("store-b", 4, 100), ("store-b", 1, 1)]
    )
    assert [store for store, _ in answers] == ["store-a", "store-b", "store-b", "store-b"]
    (marker_a,), behind, (marker_b,), (first,) = (payloads for _, payloads in answers)
    # Nothing for store-a: where its feed stands (nowhere yet).
    assert int(json.loads(marker_a)["feedhead"]) == 0
    assert "data" not in json.loads(marker_a)
    # store-b from 2: changes 2 and 3, each stamped with the head; from 4, only the head.
    assert [int(json.loads(p)["sequence"]) for p in behind] == [2, 3]
    assert {int(json.loads(p)["feedhead"]) for p in behind} == {3}
    assert int(json.loads(marker_b)["feedhead"]) == 3
    assert json.loads(first)["data"]["id"] == "c-0"
