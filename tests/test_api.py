from dataclasses import replace
from datetime import timedelta

import pytest

from edge_agent.outbox import append_event
from edge_agent.scans import ScanDispatcher
from edge_agent.seed import loyalty_id_for, order_number_for
from edge_agent.staff import create_api_key
from pos_bridge.app import create_app
from sync.protocol.clock import utc_now
from tests.conftest import outbox_types
from tests.openapi_check import validate_responses
from tests.sync.conftest import scan_data


@pytest.fixture
def client(seeded):
    dispatcher = ScanDispatcher(seeded)
    dispatcher.start()
    app = create_app(seeded, dispatcher)
    validate_responses(app)
    key = create_api_key(seeded, "pos-test", "cashier")
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    yield client
    dispatcher.stop()


@pytest.mark.parametrize(
    ("method", "path"),
    [("post", "/api/v1/customers/identify"), ("get", "/api/v1/orders/W100000001"),
     ("get", "/api/v1/customers/C00000001/orders"), ("post", "/api/v1/scans"),
     ("post", "/api/v1/returns/quote"), ("post", "/api/v1/pickups"),
     ("get", "/api/v1/tills/t1/events")],
)  # fmt: skip
def test_till_api_needs_a_valid_token(client, method, path):
    for header in ("", "Bearer nonsense", "Bearer ek_revoked-or-unknown", "Basic abc"):
        response = getattr(client, method)(path, headers={"Authorization": header}, json={})
        assert_error(response, 401, "unauthorized")


def assert_error(response, status, code):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json
    body = response.get_json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]


def test_healthz_reports_ok_and_outbox(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["checks"] == {"database": "ok", "dispatcher": "ok", "sync": "offline"}
    assert body["outbox"]["depth"] == 0


def test_identify_by_loyalty_id(client, seeded):
    response = client.post("/api/v1/customers/identify", json={"loyalty_id": loyalty_id_for(6)})
    assert response.status_code == 200
    body = response.get_json()
    assert body["customer_id"] == "C00000006"
    assert {
        "first_name",
        "tier",
        "points",
        "consent_marketing",
        "open_orders",
        "ready_for_pickup_here",
        "recent_purchases",
        "preferred_sizes",
    } <= set(body)
    assert outbox_types(seeded) == ["customer.identified"]


def test_identify_with_free_text_query(client):
    response = client.post("/api/v1/customers/identify", json={"query": loyalty_id_for(7)})
    assert response.get_json()["customer_id"] == "C00000007"


def test_unknown_loyalty_id_is_404_with_code(client, seeded):
    response = client.post("/api/v1/customers/identify", json={"loyalty_id": "2900009999990"})
    assert_error(response, 404, "customer_not_found")
    assert outbox_types(seeded) == []


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (b"{not json", "application/json", 400, "invalid_json"),
        (b"\xff\xfe", "application/json", 400, "invalid_json"),
        (b"[1, 2]", "application/json", 400, "invalid_json"),
        (b'{"loyalty_id": "1"}', "text/plain", 415, "unsupported_media_type"),
        (b"{}", "application/json", 400, "invalid_request"),
        (b'{"email": "a@b.es", "phone": "612345678"}', "application/json", 400, "invalid_request"),
        (
            b'{"loyalty_id": "2900000000017", "extra": 1}',
            "application/json",
            400,
            "invalid_request",
        ),
        (b'{"query": "hello there"}', "application/json", 422, "input_refused"),
        (b'{"email": "0"}', "application/json", 422, "input_refused"),
    ],
)
def test_bad_identify_requests_get_clear_errors(client, seeded, body, content_type, status, code):
    response = client.post(
        "/api/v1/customers/identify", data=body, headers={"Content-Type": content_type}
    )
    assert_error(response, status, code)
    assert outbox_types(seeded) == []


def test_order_by_number(client):
    response = client.get(f"/api/v1/orders/{order_number_for(3)}")
    assert response.status_code == 200
    body = response.get_json()
    assert body["number"] == "W100000003"
    assert body["total"]["currency"] == "EUR"
    assert body["placed_at"].endswith("Z")
    assert body["lines"][0]["unit_price"]["amount_minor"] > 0


def test_order_errors(client):
    assert_error(client.get("/api/v1/orders/W199999999"), 404, "order_not_found")
    assert_error(client.get("/api/v1/orders/nonsense"), 422, "input_refused")
    assert_error(client.get(f"/api/v1/orders/{'W' * 41}"), 400, "invalid_request")


def test_customer_orders(client):
    body = client.get("/api/v1/customers/C00000001/orders").get_json()
    assert body["customer_id"] == "C00000001"
    assert all(o["number"].startswith("W") for o in body["orders"])


def test_scan_endpoint_goes_through_the_dispatcher(client, seeded):
    response = client.post("/api/v1/scans", json={"data": loyalty_id_for(8), "source": "kiosk"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "identified"
    assert body["source"] == "kiosk"
    assert outbox_types(seeded) == ["customer.identified", "scan.recorded"]


def test_scan_endpoint_refusals(client, seeded):
    assert_error(client.post("/api/v1/scans", json={"data": "8412345678906"}), 422, "scan_refused")
    assert_error(
        client.post("/api/v1/scans", json={"data": "2900009999990"}),
        404,
        "loyalty_id_not_found",
    )
    assert_error(client.post("/api/v1/scans", json={"data": ""}), 400, "invalid_request")
    assert outbox_types(seeded) == ["scan.recorded", "scan.recorded"]


def test_unknown_route_and_method_are_json(client):
    assert_error(client.get("/nowhere"), 404, "not_found")
    refused = client.delete("/api/v1/orders/W100000001")
    assert_error(refused, 405, "method_not_allowed")
    assert refused.headers["Allow"] == "GET, HEAD, OPTIONS"  # RFC 9110: name what works
    trace = client.open("/api/v1/lists/L-1/items/4006381333931", method="TRACE")
    assert trace.status_code == 405
    assert set(trace.headers["Allow"].split(", ")) >= {"PUT", "DELETE"}


def test_unexpected_error_is_json_500(seeded):
    dispatcher = ScanDispatcher(seeded)
    app = create_app(seeded, dispatcher)

    @app.get("/boom")
    def boom():
        raise RuntimeError("bug")

    response = app.test_client().get("/boom")
    assert_error(response, 500, "internal_error")


def test_healthz_fails_when_dispatcher_is_down(seeded):
    app = create_app(seeded, ScanDispatcher(seeded))  # never started
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["dispatcher"] == "stopped"


def test_metrics_count_scans_identifications_requests_and_outbox(client):
    client.post("/api/v1/scans", json={"data": loyalty_id_for(9), "source": "lane-2"})
    client.post("/api/v1/scans", json={"data": "8412345678906", "source": "lane-2"})
    client.post("/api/v1/customers/identify", json={"loyalty_id": loyalty_id_for(9)})
    client.get("/api/v1/orders/W100000001")
    text = client.get("/metrics").get_data(as_text=True)
    assert (
        'edge_agent_scans_total{kind="loyalty_id",outcome="identified",source="lane-2"} 1.0' in text
    )
    assert 'edge_agent_scans_total{kind="invalid",outcome="refused",source="lane-2"} 1.0' in text
    assert 'edge_agent_identifications_total{channel="scan",method="loyalty_id"} 1.0' in text
    assert 'edge_agent_identifications_total{channel="typed",method="loyalty_id"} 1.0' in text
    assert "edge_agent_outbox_depth 4.0" in text
    assert (
        'edge_agent_http_request_duration_seconds_count{method="GET",'
        'route="/api/v1/orders/<number>",status="200"} 1.0' in text
    )
    assert "W100000001" not in text


def test_order_search_by_number_loyalty_and_email(client, seeded):
    by_number = client.get("/api/v1/orders?query=w100000003").get_json()
    assert [o["number"] for o in by_number["orders"]] == ["W100000003"]
    owner = by_number["customer_id"]
    loyalty = seeded.store.db.execute(
        "SELECT loyalty_id FROM customers WHERE id = ?", [owner]
    ).fetchone()[0]
    by_card = client.get(f"/api/v1/orders?query={loyalty}").get_json()
    assert by_card["customer_id"] == owner
    assert "W100000003" in [o["number"] for o in by_card["orders"]]
    assert outbox_types(seeded) == []  # searching is not identifying
    assert_error(client.get("/api/v1/orders?query=2900009999990"), 404, "customer_not_found")
    assert_error(client.get("/api/v1/orders?query=hello"), 422, "input_refused")
    assert_error(client.get("/api/v1/orders"), 400, "invalid_request")


@pytest.mark.parametrize(
    "card", ["4111111111111111", "4111 1111 1111 1111", ";4111111111111111=2512101?"]
)
def test_typed_card_data_is_refused_never_echoed_nor_recorded(client, seeded, card):
    responses = [
        client.post("/api/v1/customers/identify", json={"query": card}),
        client.get("/api/v1/orders", query_string={"query": card}),
        client.get(f"/api/v1/orders/{card}"),
        client.post("/api/v1/scans", json={"data": card}),
    ]
    for response in responses:
        assert response.status_code in (400, 422), response.get_data(as_text=True)
        assert "payment card data is not accepted" in response.get_json()["error"]["message"]
        assert "4111" not in response.get_data(as_text=True)
    assert outbox_types(seeded) == ["scan.recorded"]  # the refused scan, without its data
    assert "4111111111111111" not in "\n".join(seeded.store.db.iterdump())


def test_healthz_degrades_when_events_wait_too_long_for_the_centre(seeded):
    config = seeded.config.model_copy(
        update={"sync": seeded.config.sync.model_copy(update={"broker_url": "mqtt://127.0.0.1:9"})}
    )
    ctx = replace(seeded, config=config)
    with ctx.store.transaction() as db:
        append_event(db, ctx.origin, "scan.recorded", None, scan_data(1),
                     at=utc_now() - timedelta(hours=2))  # fmt: skip
    dispatcher = ScanDispatcher(ctx)
    dispatcher.start()
    try:
        body = create_app(ctx, dispatcher).test_client().get("/healthz")
    finally:
        dispatcher.stop()
    assert body.status_code == 200  # the store still works offline
    assert body.get_json()["status"] == "degraded"
    assert body.get_json()["checks"]["sync_backlog"].startswith("degraded: 1 events waiting")


def test_metrics_show_print_jobs_dead_letters_and_link(client):
    text = client.get("/metrics").get_data(as_text=True)
    assert "edge_agent_dead_letters 0.0" in text
    assert "edge_agent_sync_connected 0.0" in text
    assert "# TYPE edge_agent_print_jobs gauge" in text
