"""Every staff-console route through Flask's test client, including bad input."""

from __future__ import annotations

import re

import pytest

from edge_agent.return_requests import create_return_request
from edge_agent.returns import ReturnRequestLine
from edge_agent.seed import coupon_code_for
from tests.conftest import outbox_types
from tests.till_fixtures import printed
from tests.ui.conftest import pickup_shopper, product_in_stock, returning_shopper


def text(response) -> str:
    return response.get_data(as_text=True)


def error_code(response) -> str | None:
    found = re.search(r'data-code="([^"]+)"', text(response))
    return found.group(1) if found else None


def assert_printed(till, kind: str, reference: str) -> None:
    """The console's confirmation printed its receipt: a job of that kind for that
    return or order, really printed by the preview printer (a PNG on disk)."""
    job = till.one("SELECT id FROM print_jobs WHERE kind = ? AND reference = ?", [kind, reference])
    assert job is not None, f"no {kind} print job for {reference}"
    assert printed(till, job[0]), f"the {kind} for {reference} was not printed"
    assert list(till.ctx.config.paths.data_dir.parent.rglob("*.png")), "no receipt PNG"


@pytest.mark.parametrize(
    "method, path",
    [("get", "/console/"), ("get", "/console/customers/C00000001"),
     ("get", "/console/orders?number=W100000001"), ("post", "/console/identify"),
     ("post", "/console/returns"), ("post", "/console/pickups"),
     ("post", "/console/coupons/redeem"), ("get", "/console/lists/L-1")],
)  # fmt: skip
def test_every_page_needs_a_signed_in_staff_member(till, method, path):
    response = getattr(till.app.test_client(), method)(path)
    assert response.status_code == 302 and response.location.endswith("/console/sign-in")


def test_sign_in_refuses_a_wrong_pin_and_locks_out_after_five(till):
    client = till.app.test_client()
    for _ in range(5):
        wrong = client.post("/console/sign-in", data={"staff_id": "ana", "pin": "0000"})
        assert wrong.status_code == 401
        assert "PIN incorrecto" in text(wrong)
    locked = client.post("/console/sign-in", data={"staff_id": "ana", "pin": "1234"})
    assert locked.status_code == 423
    assert "Demasiados PIN incorrectos" in text(locked)
    garbage = client.post("/console/sign-in", data={"staff_id": "a b", "pin": "12"})
    assert garbage.status_code == 422


def test_sign_out_ends_the_session_at_the_server(till, console):
    token = None
    with console.session_transaction() as session:
        token = session["staff_token"]
    assert console.post("/console/sign-out").status_code == 302
    assert console.get("/console/").status_code == 302
    reused = till.app.test_client()
    with reused.session_transaction() as session:
        session["staff_token"] = token
    assert reused.get("/console/").status_code == 302  # the token is gone, not just the cookie


def test_identify_shows_the_full_profile_to_staff(till, console):
    shopper, number = pickup_shopper(till)
    response = console.post("/console/identify", data={"query": shopper.loyalty_id})
    assert response.status_code == 302
    page = text(console.get(response.location))
    assert f"{shopper.first_name} {shopper.last_name}" in page
    assert 'id="ready-here"' in page and f'data-pickup="{number}"' in page
    assert "Compras recientes" in page
    assert outbox_types(till.ctx)[-1] == "customer.identified"
    audit_source = till.one(
        "SELECT envelope FROM outbox WHERE type = 'customer.identified' ORDER BY seq DESC"
    )[0]
    assert '"source": "console"' in audit_source


def test_identify_refuses_unknown_and_garbage(till, console):
    unknown = console.post("/console/identify", data={"query": "2900000000001"})
    assert unknown.status_code == 404 and error_code(unknown) == "customer_not_found"
    garbage = console.post("/console/identify", data={"query": "%%%"})
    assert garbage.status_code == 422 and error_code(garbage) == "input_refused"
    assert console.get("/console/customers/nobody").status_code == 404


def test_order_search_shows_lines_and_refuses_bad_numbers(till, console):
    _, number, _ = returning_shopper(till)
    page = console.get(f"/console/orders?number={number}")
    assert page.status_code == 200 and 'name="qty_1"' in text(page)
    assert console.get("/console/orders?number=W999999999").status_code == 404
    assert console.get("/console/orders?number=nope").status_code == 422
    assert console.get("/console/orders").status_code == 400


def test_return_quote_then_confirm(till, console):
    _, number, quantity = returning_shopper(till)
    quote = console.post("/console/returns/quote",
                         data={"order_number": number, "qty_1": str(quantity)})  # fmt: skip
    assert quote.status_code == 200 and 'id="confirm-return"' in text(quote)
    done = console.post("/console/returns", data={"order_number": number, "qty_1": str(quantity),
                                                  "refund_method": "store_credit"})  # fmt: skip
    assert done.status_code == 201, text(done)
    assert 'id="receipt-printing"' in text(done)
    return_id = till.one("SELECT id FROM returns")[0]
    assert_printed(till, "return_receipt", return_id)
    assert till.one("SELECT refund_method, staff_id, till_id FROM returns") == (
        "store_credit", "ana", till.ctx.config.device.id)  # fmt: skip
    assert till.one("SELECT actor, action FROM audit_log WHERE action = 'return.confirmed'") == (
        "ana", "return.confirmed")  # fmt: skip
    again = console.post("/console/returns", data={"order_number": number,
                                                   "qty_1": str(quantity)})  # fmt: skip
    assert again.status_code == 422 and error_code(again) == "return_refused"


def test_return_refuses_bad_forms(till, console):
    _, number, _ = returning_shopper(till)
    nothing = console.post("/console/returns/quote", data={"order_number": number, "qty_1": "0"})
    assert nothing.status_code == 400
    bad_qty = console.post("/console/returns/quote", data={"order_number": number, "qty_1": "x"})
    assert bad_qty.status_code == 400
    method = console.post("/console/returns", data={"order_number": number, "qty_1": "1",
                                                    "refund_method": "cash"})  # fmt: skip
    assert method.status_code == 400
    no_line = console.post("/console/returns/quote", data={"order_number": number, "qty_77": "1"})
    assert no_line.status_code == 422
    assert till.one("SELECT COUNT(*) FROM returns") == (0,)


def test_large_refund_needs_a_supervisor_pin(till, console):
    row = till.one(
        "SELECT o.number, l.line_no, l.quantity FROM orders o JOIN order_lines l"
        " ON l.order_id = o.id WHERE o.status = 'delivered' AND o.fulfilled_at > ?"
        " AND l.final_sale = 0 AND l.unit_price_minor * l.quantity > ? ORDER BY o.id LIMIT 1",
        ["2026-10-10", till.ctx.config.returns.cashier_limit_minor],
    )
    assert row is not None, "the seeded store should hold an order above the cashier limit"
    number, line_no, quantity = row
    till.online[0] = True  # above the offline limit too; this test is about approval
    form = {"order_number": number, f"qty_{line_no}": str(quantity)}
    quote = console.post("/console/returns/quote", data=form)
    assert 'id="supervisor_pin"' in text(quote)
    refused = console.post("/console/returns", data=form)
    assert refused.status_code == 403
    wrong = console.post(
        "/console/returns", data={**form, "supervisor_id": "luis", "supervisor_pin": "0000"}
    )
    assert wrong.status_code == 401
    approved = console.post(
        "/console/returns", data={**form, "supervisor_id": "luis", "supervisor_pin": "9876"}
    )
    assert approved.status_code == 201, text(approved)
    assert till.one("SELECT approved_by FROM returns") == ("luis",)


def test_kiosk_slip_loads_in_the_console(till, console):
    shopper, number, _ = returning_shopper(till)
    made = create_return_request(
        till.ctx, shopper.customer_id, number, [ReturnRequestLine(1, 1)], "kiosk"
    )
    page = console.get(f"/console/return-requests?code={made.slip_code}")
    assert page.status_code == 200
    assert number in text(page) and 'id="confirm-return"' in text(page)
    missing = console.get("/console/return-requests?code=RR:AAAAAAAAAAAAAAAAAAAAAA")
    assert missing.status_code == 404 and error_code(missing) == "return_request_not_found"


def test_pickup_verify_then_hand_over(till, console):
    shopper, number = pickup_shopper(till)
    check = console.post(
        "/console/pickups/verify", data={"order_number": number, "customer_id": shopper.customer_id}
    )
    assert check.status_code == 200 and 'id="hand-over"' in text(check)
    assert 'id="suggestions"' in text(check)
    done = console.post(
        "/console/pickups", data={"order_number": number, "customer_id": shopper.customer_id}
    )
    assert done.status_code == 201
    assert 'id="receipt-printing"' in text(done)
    assert_printed(till, "pickup_slip", number)
    assert till.one("SELECT status FROM orders WHERE number = ?", [number]) == ("collected",)
    again = console.post("/console/pickups/verify", data={"order_number": number})
    assert again.status_code == 409 and error_code(again) == "pickup_refused"


def test_pickup_refuses_someone_elses_order(till, console):
    shopper, number = pickup_shopper(till)
    other = till.one("SELECT id FROM customers WHERE id != ? LIMIT 1", [shopper.customer_id])[0]
    refused = console.post("/console/pickups", data={"order_number": number, "customer_id": other})
    assert refused.status_code == 409
    assert till.one("SELECT status FROM orders WHERE number = ?", [number]) == ("ready_for_pickup",)


def test_coupon_redeem_once(till, console):
    form = {"code": coupon_code_for(3), "customer_id": "C00000003", "sale_reference": "S-1"}
    ok = console.post("/console/coupons/redeem", data=form)
    assert ok.status_code == 200 and 'id="coupon-done"' in text(ok)
    again = console.post("/console/coupons/redeem", data={**form, "sale_reference": "S-2"})
    assert again.status_code == 409 and error_code(again) == "coupon_refused"
    bad_sale = console.post("/console/coupons/redeem", data={**form, "sale_reference": ""})
    assert bad_sale.status_code == 400
    unknown = console.post("/console/coupons/redeem", data={**form, "code": "NOPE"})
    assert unknown.status_code == 404


def test_lists_create_add_and_see_lists_sent_from_the_kiosk(till, console):
    shopper, _, _ = returning_shopper(till)
    gtin, name, _, _ = product_in_stock(till)
    made = console.post("/console/lists", data={"customer_id": shopper.customer_id, "name": "Boda"})
    assert made.status_code == 302
    list_id = made.location.rsplit("/", 1)[1]
    added = console.post(f"/console/lists/{list_id}/items", data={"gtin": gtin, "quantity": "2"})
    assert added.status_code == 302
    page = text(console.get(f"/console/lists/{list_id}"))
    assert f"2 \N{MULTIPLICATION SIGN} {name}" in page
    assert (
        console.post(
            f"/console/lists/{list_id}/items", data={"gtin": "4006381333931", "quantity": "1"}
        ).status_code
        == 404
    )
    assert (
        console.post(
            f"/console/lists/{list_id}/items", data={"gtin": "abc", "quantity": "1"}
        ).status_code
        == 400
    )
    assert console.get("/console/lists/L-missing").status_code == 404
    assert console.post("/console/lists", data={"name": ""}).status_code == 422
    opened = console.get(f"/console/lists?list_id={list_id}")
    assert opened.location.endswith(f"/console/lists/{list_id}")
    # A list sent from the kiosk shows on the console's start page.
    kiosk = till.app.test_client()
    kiosk.post("/kiosk/list/items", data={"gtin": gtin})
    sent_id = re.search(r'id="list-number">([^<]+)<', text(kiosk.post("/kiosk/list/send")))[1]
    assert sent_id in text(console.get("/console/"))


def test_console_speaks_english_on_request(till, console):
    console.get("/console/lang/en")
    assert "Identify a customer" in text(console.get("/console/"))
    console.get("/console/lang/es")
    assert "Identificar a un cliente" in text(console.get("/console/"))
