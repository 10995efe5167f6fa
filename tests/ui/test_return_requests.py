"""Kiosk return slips at the till: the slip code loads the same quote as typing the lines,
through the API and through a scan; unknown, expired and malformed slips are refused."""

from __future__ import annotations

from datetime import timedelta

import pytest

from edge_agent.codes import CodeRules, classify_scan
from edge_agent.errors import OrderNotFound
from edge_agent.return_requests import (
    ReturnRequestExpired,
    create_return_request,
    load_return_request,
)
from edge_agent.returns import ReturnRefused, ReturnRequestLine
from hardware.scan import Scan
from tests.till_fixtures import TILL_NOW, make_till
from tests.ui.conftest import returning_shopper, someone_elses_order


def make_slip(till, quantity=1):
    shopper, number, _ = returning_shopper(till)
    made = create_return_request(
        till.ctx, shopper.customer_id, number, [ReturnRequestLine(1, quantity)], "kiosk"
    )
    return shopper, number, made


def test_slip_code_is_long_random_and_classified_as_a_return_request(till):
    _, _, first = make_slip(till)
    _, _, second = make_slip(till)
    assert first.slip_code.startswith("RR:") and len(first.request_id) >= 16
    assert first.request_id != second.request_id
    rules = CodeRules.from_config(till.ctx.config)

    def kind(text: str) -> str:
        return classify_scan(Scan(text, None, "kiosk", TILL_NOW), rules).kind

    assert kind(first.slip_code) == "return_request"
    assert kind("RR:short") == "invalid"
    assert kind("RR:" + "a" * 65) == "invalid"


def test_till_loads_the_slip_as_the_same_quote_as_typing_the_lines(till):
    _, number, made = make_slip(till)
    till.sign_in()
    from_slip = till.client.get(f"/api/v1/return-requests/{made.slip_code}")
    assert from_slip.status_code == 200, from_slip.get_json()
    typed = till.client.post(
        "/api/v1/returns/quote",
        json={"order_number": number, "lines": [{"line_no": 1, "quantity": 1}]},
    )
    assert from_slip.get_json() == typed.get_json()
    assert from_slip.get_json()["acceptable"] is True
    by_bare_id = till.client.get(f"/api/v1/return-requests/{made.request_id}")
    assert by_bare_id.get_json() == typed.get_json()


def test_slip_then_confirm_at_the_till_records_the_return(till):
    _, number, made = make_slip(till)
    till.sign_in()
    quote = till.client.get(f"/api/v1/return-requests/{made.slip_code}").get_json()
    lines = [{"line_no": ln["line_no"], "quantity": ln["requested"]} for ln in quote["lines"]]
    done = till.client.post("/api/v1/returns", json={"order_number": number, "lines": lines})
    assert done.status_code == 201, done.get_json()
    again = till.client.get(f"/api/v1/return-requests/{made.slip_code}").get_json()
    assert again["acceptable"] is False  # the slip cannot be used to refund twice


def test_scanning_the_slip_at_the_till_finds_its_order(till):
    _, number, made = make_slip(till)
    till.sign_in()
    response = till.client.post("/api/v1/scans", json={"data": made.slip_code, "source": "lane-1"})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["kind"] == "return_request"
    assert body["order"]["number"] == number
    assert body["return_request_id"] == made.request_id


def test_unknown_and_malformed_slips_are_refused(till):
    till.sign_in()
    unknown = till.client.get("/api/v1/return-requests/RR:AAAAAAAAAAAAAAAAAAAAAAAA")
    assert unknown.status_code == 404
    assert unknown.get_json()["error"]["code"] == "return_request_not_found"
    scanned = till.client.post("/api/v1/scans", json={"data": "RR:AAAAAAAAAAAAAAAAAAAAAAAA"})
    assert scanned.status_code == 404
    assert scanned.get_json()["error"]["code"] == "return_request_not_found"
    too_long = till.client.get("/api/v1/return-requests/" + "A" * 200)
    assert too_long.status_code == 400
    assert too_long.get_json()["error"]["code"] == "invalid_request"


def test_expired_slip_is_refused_with_gone(seeded):
    early = make_till(seeded)
    try:
        _, _, made = make_slip(early)
    finally:
        early.close()
    hours = early.ctx.config.kiosk.return_request_hours
    late = make_till(seeded, now=TILL_NOW + timedelta(hours=hours, seconds=1))
    try:
        late.sign_in()
        response = late.client.get(f"/api/v1/return-requests/{made.slip_code}")
        assert response.status_code == 410
        assert response.get_json()["error"]["code"] == "return_request_expired"
        assert "expired" in response.get_json()["error"]["message"]
        with pytest.raises(ReturnRequestExpired):
            load_return_request(late.ctx, made.slip_code)
        scanned = late.client.post("/api/v1/scans", json={"data": made.slip_code})
        assert scanned.status_code == 404  # the dispatcher answers "not usable" for a scan
        assert "expired" in scanned.get_json()["error"]["message"]
    finally:
        late.close()


def test_loading_a_slip_needs_a_signed_in_cashier(till):
    _, _, made = make_slip(till)
    response = till.client.get(f"/api/v1/return-requests/{made.slip_code}")
    assert response.status_code == 401


def test_a_request_for_someone_elses_order_is_refused_and_not_stored(till):
    shopper, _, _ = returning_shopper(till)
    other = someone_elses_order(till, shopper.customer_id)
    with pytest.raises(OrderNotFound):
        create_return_request(
            till.ctx, shopper.customer_id, other, [ReturnRequestLine(1, 1)], "kiosk"
        )
    assert till.one("SELECT COUNT(*) FROM return_requests") == (0,)


def test_a_request_for_more_than_can_come_back_is_refused(till):
    shopper, number, quantity = returning_shopper(till)
    with pytest.raises(ReturnRefused):
        create_return_request(
            till.ctx, shopper.customer_id, number, [ReturnRequestLine(1, quantity + 1)], "kiosk"
        )
    assert till.one("SELECT COUNT(*) FROM return_requests") == (0,)


def test_slip_quote_uses_the_tills_link_state(till):
    """Offline, the till's offline refund limit applies to a slip like to typed lines."""
    _, _, made = make_slip(till)
    till.sign_in()
    offline = till.client.get(f"/api/v1/return-requests/{made.slip_code}").get_json()
    till.online[0] = True
    online = till.client.get(f"/api/v1/return-requests/{made.slip_code}").get_json()
    assert offline["offline"] is True and online["offline"] is False
