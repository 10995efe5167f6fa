from tests.conftest import outbox_types
from tests.till_fixtures import printed


def order_where(till, condition, params=()):
    row = till.one(
        f"SELECT number, customer_id FROM orders WHERE {condition} LIMIT 1", list(params)
    )
    assert row is not None, condition
    return row


def test_verify_then_hand_over_a_ready_order(till):
    here = till.ctx.config.store.id
    number, customer = order_where(
        till, "status = 'ready_for_pickup' AND pickup_store_id = ?", [here]
    )
    check = till.client.post("/api/v1/pickups/verify",
                             json={"order_number": number, "customer_id": customer})  # fmt: skip
    assert check.status_code == 200, check.get_json()
    body = check.get_json()
    assert body["order"]["number"] == number
    assert body["customer_first_name"]
    bought = {line["gtin"] for line in body["order"]["lines"]}
    assert body["suggestions"], "staff should get something to suggest"
    assert not bought & {s["gtin"] for s in body["suggestions"]}
    assert all(s["stock_here"] > 0 for s in body["suggestions"])
    done = till.client.post("/api/v1/pickups", json={"order_number": number,
                                                     "customer_id": customer})  # fmt: skip
    assert done.status_code == 201
    assert printed(till, done.get_json()["slip_job_id"]), "the pickup slip was not printed"
    assert till.one("SELECT status FROM orders WHERE number = ?", [number]) == ("collected",)
    assert outbox_types(till.ctx) == ["order.collected"]
    again = till.client.post("/api/v1/pickups", json={"order_number": number})
    assert again.status_code == 409
    assert "already collected" in again.get_json()["error"]["message"]


def test_every_refusal_is_clear(till):
    here = till.ctx.config.store.id
    elsewhere, _ = order_where(till, "status = 'ready_for_pickup' AND pickup_store_id != ?", [here])
    not_ready, _ = order_where(
        till, "fulfilment = 'click_and_collect' AND status = 'processing' AND pickup_store_id = ?",
        [here],
    )  # fmt: skip
    delivery, _ = order_where(till, "fulfilment = 'delivery'")
    mine, owner = order_where(till, "status = 'ready_for_pickup' AND pickup_store_id = ?", [here])
    someone_else = till.one("SELECT id FROM customers WHERE id != ? LIMIT 1", [owner])[0]
    cases = [
        ({"order_number": elsewhere}, "for pickup at store"),
        ({"order_number": not_ready}, "not ready yet"),
        ({"order_number": delivery}, "home delivery"),
        ({"order_number": mine, "customer_id": someone_else}, "belongs to another customer"),
    ]
    for request, text in cases:
        for path in ("/api/v1/pickups/verify", "/api/v1/pickups"):
            response = till.client.post(path, json=request)
            assert response.status_code == 409, (request, response.get_json())
            assert response.get_json()["error"]["code"] == "pickup_refused"
            assert text in response.get_json()["error"]["message"]
    assert outbox_types(till.ctx) == []
