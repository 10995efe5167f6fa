"""Orders requested at the till for what this store lacks: recorded with their event in
one transaction, shown at once in the customer's profile as waiting, refused clearly."""

from __future__ import annotations

import json

import pytest

from sync.protocol.event_schemas import validate_event_data


def customer_and_products(till) -> tuple[str, list[tuple[str, int]]]:
    customer = till.one("SELECT id FROM customers ORDER BY id LIMIT 1")[0]
    rows = till.ctx.store.db.execute(
        "SELECT gtin, price_minor FROM products ORDER BY gtin LIMIT 2"
    ).fetchall()
    return customer, [(g, p) for g, p in rows]


def test_a_request_is_recorded_with_its_event_and_shown_waiting(till):
    customer, products = customer_and_products(till)
    body = {"customer_id": customer, "fulfilment": "click_and_collect",
            "pickup_store_id": "store-b",
            "lines": [{"gtin": products[0][0], "quantity": 2},
                      {"gtin": products[1][0], "quantity": 1}]}  # fmt: skip
    response = till.client.post("/api/v1/order-requests", json=body)
    assert response.status_code == 201, response.get_json()
    placed = response.get_json()
    assert placed["state"] == "waiting"  # the till is offline: it waits in the outbox
    assert placed["number"].startswith("R") and len(placed["number"]) == 17
    assert placed["total"]["amount_minor"] == 2 * products[0][1] + products[1][1]
    envelope = json.loads(till.one(
        "SELECT envelope FROM outbox WHERE type = 'order.requested'")[0])  # fmt: skip
    validate_event_data("order.requested", 1, envelope["data"])
    assert envelope["data"]["order_number"] == placed["number"]
    assert envelope["data"]["staff_id"] == "ana"
    loyalty = till.one("SELECT loyalty_id FROM customers WHERE id = ?", [customer])[0]
    profile = till.client.post("/api/v1/customers/identify",
                               json={"loyalty_id": loyalty}).get_json()  # fmt: skip
    assert [(r["number"], r["state"]) for r in profile["requested_orders"]] == [
        (placed["number"], "waiting")
    ]
    assert till.one("SELECT action FROM audit_log WHERE subject = ?", [placed["number"]]) == (
        "order.requested",
    )


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"pickup_store_id": None}, 422),  # collect where?
        ({"fulfilment": "delivery"}, 422),  # delivered home, yet a pickup store
        ({"customer_id": "nobody"}, 404),
        ({"lines": [{"gtin": "4006381333931", "quantity": 1}]}, 404),
        ({"lines": []}, 400),
        ({"lines": [{"gtin": "4006381333931", "quantity": 100}]}, 400),
    ],
)
def test_a_request_that_cannot_be_placed_is_refused_and_records_nothing(till, change, status):
    customer, products = customer_and_products(till)
    body = {"customer_id": customer, "fulfilment": "click_and_collect",
            "pickup_store_id": "store-b", "lines": [{"gtin": products[0][0], "quantity": 1}],
            **change}  # fmt: skip
    response = till.client.post("/api/v1/order-requests", json=body)
    assert response.status_code == status, response.get_json()
    assert set(response.get_json()["error"]) == {"code", "message"}
    assert till.one("SELECT COUNT(*) FROM order_requests") == (0,)
    assert till.one("SELECT COUNT(*) FROM outbox WHERE type = 'order.requested'") == (0,)


def test_a_requested_order_number_is_an_order_number_typed_or_scanned(till):
    from edge_agent.codes import CodeRules, classify_typed

    rules = CodeRules.from_config(till.ctx.config)
    code = classify_typed("rf2ed8588db2bdfe5", rules)
    assert (code.kind, code.value) == ("order_number", "RF2ED8588DB2BDFE5")
    assert classify_typed("RF2ED8588DB2BDFE", rules).kind != "order_number"  # 15 hex digits
