from edge_agent.seed import loyalty_id_for
from tests.conftest import outbox_types


def test_list_create_add_update_remove(till):
    gtins = [r[0] for r in till.ctx.store.db.execute("SELECT gtin FROM products LIMIT 2")]
    created = till.client.post("/api/v1/lists", json={"customer_id": "C00000001",
                                                      "name": "Boda de Lucía"})  # fmt: skip
    assert created.status_code == 201
    list_id = created.get_json()["list_id"]
    for gtin in gtins:
        r = till.client.put(f"/api/v1/lists/{list_id}/items/{gtin}", json={"quantity": 1})
        assert r.status_code == 200
    r = till.client.put(f"/api/v1/lists/{list_id}/items/{gtins[0]}", json={"quantity": 3})
    assert {i["gtin"]: i["quantity"] for i in r.get_json()["items"]} == {gtins[0]: 3, gtins[1]: 1}
    r = till.client.delete(f"/api/v1/lists/{list_id}/items/{gtins[1]}")
    assert [i["gtin"] for i in r.get_json()["items"]] == [gtins[0]]
    lists = till.client.get("/api/v1/customers/C00000001/lists").get_json()["lists"]
    assert [item["name"] for item in lists[0]["items"]] and lists[0]["name"] == "Boda de Lucía"
    assert outbox_types(till.ctx) == ["list.updated"] * 5


def test_list_refusals(till):
    missing = till.client.put("/api/v1/lists/L-none/items/8437000100018", json={"quantity": 1})
    assert missing.status_code == 404
    list_id = till.client.post("/api/v1/lists", json={"name": "x"}).get_json()["list_id"]
    unknown = till.client.put(f"/api/v1/lists/{list_id}/items/0000000000000",
                              json={"quantity": 1})  # fmt: skip
    assert unknown.status_code == 404
    too_many = till.client.put(f"/api/v1/lists/{list_id}/items/0000000000000",
                               json={"quantity": 500})  # fmt: skip
    assert too_many.status_code == 422


def test_card_number_typed_as_a_product_is_refused_unseen_and_not_sent(till):
    list_id = till.client.post("/api/v1/lists", json={"name": "x"}).get_json()["list_id"]
    for card in ("4111111111111111", "5555-5555-5555-4444"):
        for response in (
            till.client.put(f"/api/v1/lists/{list_id}/items/{card}", json={"quantity": 1}),
            till.client.delete(f"/api/v1/lists/{list_id}/items/{card}"),
        ):
            assert response.status_code == 400
            assert "payment card data" in response.get_json()["error"]["message"]
            assert card not in response.get_data(as_text=True)
    assert outbox_types(till.ctx) == ["list.updated"]  # the list's creation only
    assert "4111111111111111" not in "\n".join(till.ctx.store.db.iterdump())


def test_till_screen_hears_a_scan_at_its_till(till):
    response = till.client.get("/api/v1/tills/lane-7/events", buffered=False)
    assert response.mimetype == "text/event-stream"
    chunks = iter(response.response)
    assert next(chunks).startswith(b": connected")
    scan = till.client.post("/api/v1/scans", json={"data": loyalty_id_for(3), "source": "lane-7"})
    assert scan.status_code == 200
    event = next(chunks).decode()
    assert event.startswith("event: customer.identified\n")
    assert '"customer_id": "C00000003"' in event
    assert "last_name" not in event  # the screen gets a first name, not the whole profile
    response.close()


def test_typed_identification_with_till_id_reaches_that_till(till):
    response = till.client.get("/api/v1/tills/lane-9/events", buffered=False)
    chunks = iter(response.response)
    next(chunks)
    till.client.post("/api/v1/customers/identify",
                     json={"loyalty_id": loyalty_id_for(4), "till_id": "lane-9"})  # fmt: skip
    assert '"customer_id": "C00000004"' in next(chunks).decode()
    response.close()
