"""Return conflicts at the store: applied from the feed, shown at the till, resolved by a
supervisor, and a malformed one dead-lettered."""

from __future__ import annotations

import json
from datetime import timedelta

from edge_agent.feed import last_applied, receive_change
from pos_bridge.conflicts_api import conflict_announcer
from sync.central.changes import record_change
from sync.protocol.clock import to_iso
from tests.conftest import outbox_types
from tests.screen_client import ScreenClient
from tests.till_fixtures import TILL_NOW

TOPIC = "retail/v1/stores/demo-001/changes"


def bought_once(till):
    """A delivered order in the return window whose first line was bought once."""
    return till.one(
        "SELECT o.number, l.line_no, l.sku, l.unit_price_minor FROM orders o"
        " JOIN order_lines l ON l.order_id = o.id AND l.line_no = 1"
        " WHERE o.status = 'delivered' AND o.fulfilled_at > ? AND l.final_sale = 0"
        " AND l.quantity = 1 ORDER BY o.id LIMIT 1",
        [to_iso(TILL_NOW - timedelta(days=25))],
    )


def conflict_data(number: str, line_no: int, sku: str, price: int, **changes) -> dict:
    data = {
        "conflict_id": "RC-0123456789abcdef",
        "order_number": number,
        "line_no": line_no,
        "sku": sku,
        "ordered_quantity": 1,
        "returned_quantity": 2,
        "currency": "EUR",
        "returns": [
            {"store_id": "demo-001", "return_id": "R-here", "quantity": 1,
             "refund_minor": price, "returned_at": "2026-11-02T09:00:00.000000Z"},
            {"store_id": "store-b", "return_id": "R-there", "quantity": 1,
             "refund_minor": price, "returned_at": "2026-11-02T09:30:00.000000Z"},
        ],
        "detected_at": "2026-11-02T10:00:00.000000Z",
    }  # fmt: skip
    return {**data, **changes}


def receive(till, payload: bytes):
    return receive_change(till.ctx.store, TOPIC, payload, TILL_NOW)


def test_a_conflict_from_the_centre_is_listed_and_stops_another_refund(till, centre):
    number, line_no, sku, price = bought_once(till)
    data = conflict_data(number, line_no, sku, price)
    outcome = receive(till, record_change(centre, "demo-001", "return.conflict", data))
    assert outcome.status == "applied"
    listed = till.client.get("/api/v1/conflicts")
    assert listed.status_code == 200
    (conflict,) = listed.get_json()["conflicts"]
    assert conflict["id"] == "RC-0123456789abcdef"
    assert (conflict["order_number"], conflict["line_no"], conflict["state"]) == (
        number, line_no, "open",
    )  # fmt: skip
    assert [r["store_id"] for r in conflict["returns"]] == ["demo-001", "store-b"]
    order = till.client.get(f"/api/v1/orders/{number}").get_json()
    assert [c["id"] for c in order["conflicts"]] == ["RC-0123456789abcdef"]
    quote = till.client.post(
        "/api/v1/returns/quote",
        json={"order_number": number, "lines": [{"line_no": line_no, "quantity": 1}]},
    ).get_json()
    assert quote["acceptable"] is False
    assert quote["lines"][0]["conflict_id"] == "RC-0123456789abcdef"
    assert "also returned at another store" in quote["lines"][0]["refusal"]


def test_the_same_conflict_applied_again_changes_nothing(till, centre):
    number, line_no, sku, price = bought_once(till)
    data = conflict_data(number, line_no, sku, price)
    payload = record_change(centre, "demo-001", "return.conflict", data)
    receive(till, payload)
    assert receive(till, payload).status == "duplicate"
    till.sign_in("luis", "9876")
    resolved = till.client.post(
        "/api/v1/conflicts/RC-0123456789abcdef/resolve", json={"note": "refund reversed"}
    )
    assert resolved.status_code == 200
    # The centre sends it once more (a new change of the same conflict): still resolved.
    again = record_change(
        centre, "demo-001", "return.conflict", conflict_data(number, line_no, sku, price)
    )
    assert receive(till, again).status == "applied"
    assert till.one("SELECT COUNT(*), MAX(resolved_by) FROM return_conflicts") == (1, "luis")
    # A further return elsewhere is news: open again.
    grown = conflict_data(number, line_no, sku, price, returned_quantity=3)
    grown["returns"].append({**grown["returns"][1], "return_id": "R-third"})
    receive(till, record_change(centre, "demo-001", "return.conflict", grown))
    assert till.one("SELECT returned_quantity, resolved_at FROM return_conflicts") == (3, None)


def test_a_supervisor_resolves_a_conflict_with_a_note(till, centre):
    number, line_no, sku, price = bought_once(till)
    receive(till, record_change(centre, "demo-001", "return.conflict",
                                conflict_data(number, line_no, sku, price)))  # fmt: skip
    url = "/api/v1/conflicts/RC-0123456789abcdef/resolve"
    cashier = till.client.post(url, json={"note": "ok"})
    assert cashier.status_code == 403
    till.sign_in("luis", "9876")
    assert till.client.post(url, json={"note": ""}).status_code in (400, 422)
    done = till.client.post(url, json={"note": "Customer brought the second dress back"})
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["state"] == "resolved"
    assert done.get_json()["resolved_by"] == "luis"
    twice = till.client.post(url, json={"note": "again"})
    assert twice.status_code == 409
    assert twice.get_json()["error"]["code"] == "conflict_already_resolved"
    missing = till.client.post("/api/v1/conflicts/RC-nope/resolve", json={"note": "x"})
    assert missing.status_code == 404
    assert till.client.get("/api/v1/conflicts").get_json() == {"conflicts": []}
    assert till.one(
        "SELECT actor, action, subject FROM audit_log WHERE action LIKE 'return_conflict%'"
    ) == ("luis", "return_conflict.resolved", "RC-0123456789abcdef")
    assert outbox_types(till.ctx)[-1] == "return.conflict_resolved"
    event = json.loads(
        till.one("SELECT envelope FROM outbox WHERE type = 'return.conflict_resolved'")[0]
    )
    assert event["data"]["conflict_id"] == "RC-0123456789abcdef"
    assert event["data"]["returned_quantity"] == 2


def test_a_malformed_conflict_is_dead_lettered_and_the_feed_moves_on(till, centre):
    number, line_no, sku, price = bought_once(till)
    good = record_change(centre, "demo-001", "return.conflict",
                         conflict_data(number, line_no, sku, price))  # fmt: skip
    event = json.loads(good)
    event["data"]["returns"] = event["data"]["returns"][:1]  # one store is no conflict
    outcome = receive(till, json.dumps(event).encode())
    assert outcome.status == "dead_lettered"
    assert "return.conflict data is wrong" in outcome.reason
    assert last_applied(till.ctx.store.db) == 1
    assert till.one("SELECT COUNT(*) FROM return_conflicts") == (0,)


def test_till_screens_hear_of_a_conflict_and_metrics_and_health_count_it(till, centre):
    number, line_no, sku, price = bought_once(till)
    hub = till.app.extensions["till_events"]
    screen = hub.stream("lane-1", keepalive=5)
    assert next(screen) == ": connected\n\n"
    outcome = receive(till, record_change(centre, "demo-001", "return.conflict",
                                          conflict_data(number, line_no, sku, price)))  # fmt: skip
    conflict_announcer(hub)(outcome.change)
    sent = next(screen)
    assert sent.startswith("event: return.conflict\n")
    assert json.loads(sent.split("data: ", 1)[1])["order_number"] == number
    screen.close()
    metrics = till.client.get("/metrics").get_data(as_text=True)
    assert "edge_agent_return_conflicts_open 1.0" in metrics
    health = till.client.get("/healthz").get_json()
    assert health["return_conflicts"] == {"open": 1}
    assert health["status"] != "failing"


def test_the_staff_console_warns_of_open_conflicts(till, centre):
    number, line_no, sku, price = bought_once(till)
    receive(till, record_change(centre, "demo-001", "return.conflict",
                                conflict_data(number, line_no, sku, price)))  # fmt: skip
    console = ScreenClient(till.app, till.app.response_class)
    signed_in = console.post("/console/sign-in", data={"staff_id": "ana", "pin": "1234"})
    assert signed_in.status_code == 302
    home = console.get("/console/").get_data(as_text=True)
    assert 'id="return-conflicts"' in home and number in home
    order = console.get(f"/console/orders?number={number}").get_data(as_text=True)
    assert f'id="conflict-{line_no}"' in order
