"""Every kiosk route through Flask's test client, including bad input."""

from __future__ import annotations

import json
import re
import time

import pytest
import zxingcpp
from PIL import Image

from tests.conftest import outbox_types
from tests.till_fixtures import printed
from tests.ui.conftest import (
    pickup_shopper,
    product_in_stock,
    returning_shopper,
    someone_elses_order,
    wallet_pass,
)


def scan(kiosk, code):
    return kiosk.post("/kiosk/scan", data={"code": code})


def text(response) -> str:
    return response.get_data(as_text=True)


def alert(response) -> str:
    found = re.search(r'role="alert"[^>]*>([^<]*)<', text(response))
    return found.group(1).strip() if found else ""


def test_start_screen_is_spanish_by_store_locale_with_a_focused_scan_field(kiosk):
    page = kiosk.get("/kiosk/")
    assert page.status_code == 200
    assert 'lang="es"' in text(page)
    assert "Escanee su tarjeta de cliente" in text(page)
    assert re.search(r'<input id="code" name="code" class="scan-field" autofocus', text(page))


def test_card_scan_welcomes_with_first_name_tier_and_points_only(till, kiosk):
    shopper, _, _ = returning_shopper(till)
    response = scan(kiosk, wallet_pass(till, shopper))
    assert response.status_code == 302 and response.location.endswith("/kiosk/welcome")
    page = text(kiosk.get("/kiosk/welcome"))
    assert f"¡Hola, {shopper.first_name}!" in page
    points = till.one("SELECT points FROM loyalty_accounts WHERE customer_id = ?",
                      [shopper.customer_id])[0]  # fmt: skip
    assert re.search(r'class="points">[\d.]+ puntos', page)
    assert f"{points:,}".replace(",", ".") in page or str(points) in page
    # Nothing beyond what the person in front of the kiosk needs.
    email_hash, phone_hash = till.one(
        "SELECT email_hash, phone_hash FROM customers WHERE id = ?", [shopper.customer_id]
    )
    assert shopper.last_name not in page
    assert shopper.customer_id not in page
    assert shopper.loyalty_id not in page
    assert (email_hash or "x" * 40) not in page and (phone_hash or "x" * 40) not in page
    assert "customer.identified" in outbox_types(till.ctx)


def test_ready_order_tells_the_customer_to_call_staff(till, kiosk):
    shopper, number = pickup_shopper(till)
    scan(kiosk, wallet_pass(till, shopper))
    page = text(kiosk.get("/kiosk/welcome"))
    assert 'id="pickup-ready"' in page
    assert "para recoger. Avise a nuestro personal" in page
    assert number not in page  # the order number is for staff, not the screen


def test_unknown_card_and_garbage_scans_are_refused_clearly(till, kiosk):
    unknown = scan(kiosk, "2900000000001")  # a loyalty number proves nothing: no look-up
    assert unknown.status_code == 200
    assert alert(unknown).startswith("Para ver sus puntos, pedidos y listas, escanee el pase")
    forged = scan(kiosk, wallet_pass(till, returning_shopper(till)[0])[:-4] + "AAAA")
    assert forged.status_code == 404
    assert alert(forged) == "No reconocemos esta tarjeta. Pregunte a nuestro personal, por favor."
    for garbage in ("hello world", "\x00\x01", "4006381333932", "x" * 600, "   "):
        refused = scan(kiosk, garbage)
        assert refused.status_code in (404, 422), garbage
        assert alert(refused), garbage
    assert kiosk.get("/kiosk/welcome").status_code == 302  # nobody got signed in


def test_unknown_product_is_refused(kiosk):
    response = scan(kiosk, "4006381333931")  # valid check digit, not in the catalogue
    assert response.status_code == 404
    assert alert(response) == "Este producto no se vende en esta tienda."
    assert kiosk.get("/kiosk/products/4006381333931").status_code == 404
    assert kiosk.get("/kiosk/products/not-a-gtin").status_code == 400


def test_pages_that_need_a_customer_send_a_stranger_to_the_start(kiosk, till):
    _, number, _ = returning_shopper(till)
    for path in ("/kiosk/welcome", "/kiosk/returns", f"/kiosk/returns/{number}"):
        response = kiosk.get(path)
        assert response.status_code == 302 and response.location.endswith("/kiosk/"), path


def test_return_from_the_kiosk_makes_a_slip_the_till_can_load(till, kiosk):
    shopper, number, quantity = returning_shopper(till)
    scan(kiosk, wallet_pass(till, shopper))
    orders = text(kiosk.get("/kiosk/returns"))
    assert f'data-order="{number}"' in orders
    lines_page = kiosk.get(f"/kiosk/returns/{number}")
    assert lines_page.status_code == 200
    assert 'name="qty_1"' in text(lines_page)
    made = kiosk.post(f"/kiosk/returns/{number}", data={"qty_1": str(quantity)})
    assert made.status_code == 302
    request_id = made.location.rsplit("/", 1)[1]
    slip = text(kiosk.get(f"/kiosk/slips/{request_id}"))
    assert f'data-slip-code="RR:{request_id}"' in slip
    assert "<svg" in slip
    stored = till.one("SELECT order_number, customer_id, lines FROM return_requests")
    assert stored[0] == number and stored[1] == shopper.customer_id
    assert json.loads(stored[2]) == [{"line_no": 1, "quantity": quantity}]
    # Nothing is returned until the till confirms.
    assert till.one("SELECT COUNT(*) FROM returns") == (0,)
    # The kiosk has a printer: the slip comes out on paper too, its QR the till's code.
    job = till.one("SELECT id FROM print_jobs WHERE kind = 'return_slip' AND reference = ?",
                   [f"RR:{request_id}"])  # fmt: skip
    assert job is not None and printed(till, job[0]), "the return slip was not printed"
    png = next(till.ctx.config.paths.data_dir.parent.rglob(f"job-{job[0]}.png"))
    assert [r.text for r in zxingcpp.read_barcodes(Image.open(png))] == [f"RR:{request_id}"]


def test_return_with_no_lines_chosen_asks_again(till, kiosk):
    shopper, number, _ = returning_shopper(till)
    scan(kiosk, wallet_pass(till, shopper))
    response = kiosk.post(f"/kiosk/returns/{number}", data={"qty_1": "0"})
    assert response.status_code == 422
    assert alert(response) == "Elija al menos un artículo para devolver."
    bad = kiosk.post(f"/kiosk/returns/{number}", data={"qty_1": "-3"})
    assert bad.status_code == 400
    too_many = kiosk.post(f"/kiosk/returns/{number}", data={"qty_1": "999"})
    assert too_many.status_code == 422  # more than bought: refused by the quote
    assert till.one("SELECT COUNT(*) FROM return_requests") == (0,)


def test_someone_elses_order_is_not_shown_nor_returnable(till, kiosk):
    shopper, _, _ = returning_shopper(till)
    other = someone_elses_order(till, shopper.customer_id)
    scan(kiosk, wallet_pass(till, shopper))
    page = kiosk.get(f"/kiosk/returns/{other}")
    assert page.status_code == 404
    assert 'id="return-lines"' not in text(page)
    other_line = till.one("SELECT l.name FROM order_lines l JOIN orders o ON o.id = l.order_id"
                          " WHERE o.number = ? AND l.line_no = 1", [other])[0]  # fmt: skip
    assert other_line not in text(page)
    posted = kiosk.post(f"/kiosk/returns/{other}", data={"qty_1": "1"})
    assert posted.status_code == 404
    scanned = scan(kiosk, other)  # scanning another customer's order number
    assert scanned.status_code == 404
    assert till.one("SELECT COUNT(*) FROM return_requests") == (0,)


def test_a_slip_is_shown_only_to_the_session_that_made_it(till, kiosk):
    shopper, number, _ = returning_shopper(till)
    scan(kiosk, wallet_pass(till, shopper))
    request_id = kiosk.post(f"/kiosk/returns/{number}", data={"qty_1": "1"}).location.rsplit(
        "/", 1
    )[1]
    stranger = till.app.test_client()
    assert stranger.get(f"/kiosk/slips/{request_id}").status_code == 404
    assert kiosk.get("/kiosk/slips/not-a-slip").status_code == 404


def test_scanning_a_slip_at_the_kiosk_sends_it_to_the_till(till, kiosk):
    shopper, number, _ = returning_shopper(till)
    scan(kiosk, wallet_pass(till, shopper))
    request_id = kiosk.post(f"/kiosk/returns/{number}", data={"qty_1": "1"}).location.rsplit(
        "/", 1
    )[1]
    response = scan(kiosk, f"RR:{request_id}")
    assert response.status_code == 422
    assert "Llévelo a caja" in alert(response)


def test_product_scan_add_to_list_and_send_to_staff(till, kiosk):
    gtin, name, price_minor, stock = product_in_stock(till)
    response = scan(kiosk, gtin)
    assert response.status_code == 302 and response.location.endswith(f"/kiosk/products/{gtin}")
    page = text(kiosk.get(f"/kiosk/products/{gtin}"))
    assert name in page
    assert f"{price_minor // 100},{price_minor % 100:02d}\xa0€" in page
    assert f"{stock} disponible" in page
    assert kiosk.post("/kiosk/list/items", data={"gtin": gtin}).status_code == 302
    assert kiosk.post("/kiosk/list/items", data={"gtin": gtin}).status_code == 302
    listed = text(kiosk.get("/kiosk/list"))
    assert f"2 \N{MULTIPLICATION SIGN} {name}" in listed
    sent = kiosk.post("/kiosk/list/send")
    assert sent.status_code == 200
    list_id = re.search(r'id="list-number">([^<]+)<', text(sent)).group(1)
    handoff = till.one(
        "SELECT l.source, h.source FROM shopping_lists l JOIN list_handoffs h"
        " ON h.list_id = l.id WHERE l.id = ?",
        [list_id],
    )
    assert handoff == ("kiosk", "kiosk")
    event = till.one("SELECT envelope FROM outbox WHERE type = 'list.sent_to_staff'")
    assert json.loads(event[0])["data"]["item_count"] == 2
    # The list has gone to staff; the kiosk starts a new one.
    assert "Su lista está vacía" in text(kiosk.get("/kiosk/list"))


def test_list_refuses_unknown_products_and_empty_sends(till, kiosk):
    assert kiosk.post("/kiosk/list/items", data={"gtin": "4006381333931"}).status_code == 404
    assert kiosk.post("/kiosk/list/items", data={"gtin": "12ab"}).status_code == 400
    assert kiosk.post("/kiosk/list/send").status_code == 400
    assert till.one("SELECT COUNT(*) FROM shopping_lists") == (0,)
    assert "list.sent_to_staff" not in outbox_types(till.ctx)


def test_idle_session_is_forgotten(till, kiosk):
    shopper, _, _ = returning_shopper(till)
    scan(kiosk, wallet_pass(till, shopper))
    assert kiosk.get("/kiosk/welcome").status_code == 200
    with kiosk.session_transaction() as session:
        session["seen"] = time.time() - till.ctx.config.kiosk.idle_timeout_seconds - 1
    response = kiosk.get("/kiosk/welcome")
    assert response.status_code == 302 and response.location.endswith("/kiosk/")


def test_finish_ends_the_session(till, kiosk):
    shopper, _, _ = returning_shopper(till)
    scan(kiosk, wallet_pass(till, shopper))
    assert kiosk.get("/kiosk/end").status_code == 302
    assert kiosk.get("/kiosk/welcome").status_code == 302


def test_a_new_card_replaces_the_previous_customer_entirely(till, kiosk):
    first, number, _ = returning_shopper(till)
    second, _ = pickup_shopper(till)
    scan(kiosk, wallet_pass(till, first))
    kiosk.post(f"/kiosk/returns/{number}", data={"qty_1": "1"})
    scan(kiosk, wallet_pass(till, second))
    with kiosk.session_transaction() as session:
        assert session["customer_id"] == second.customer_id
        assert "slips" not in session


def test_session_cookie_is_signed_and_tampering_is_ignored(till, kiosk):
    shopper, _, _ = returning_shopper(till)
    scan(kiosk, wallet_pass(till, shopper))
    cookie = kiosk.get_cookie("session")
    assert cookie is not None and shopper.customer_id not in cookie.value
    forged = till.app.test_client()
    forged.set_cookie("session", cookie.value[:-4] + "AAAA")
    assert forged.get("/kiosk/welcome").status_code == 302


@pytest.mark.parametrize("lang, greeting", [("en", "Hello, "), ("es", "¡Hola, ")])
def test_language_switch(till, kiosk, lang, greeting):
    shopper, _, _ = returning_shopper(till)
    scan(kiosk, wallet_pass(till, shopper))
    response = kiosk.get(f"/kiosk/lang/{lang}?next=/kiosk/welcome")
    assert response.location.endswith("/kiosk/welcome")
    assert greeting + shopper.first_name in text(kiosk.get("/kiosk/welcome"))


def test_language_switch_refuses_open_redirects_and_unknown_languages(kiosk):
    response = kiosk.get("/kiosk/lang/en?next=https://evil.example/")
    assert response.location.endswith("/kiosk/")
    kiosk.get("/kiosk/lang/fr")
    assert 'lang="en"' in text(kiosk.get("/kiosk/"))


def test_an_expired_slip_says_so_on_the_kiosk(till, kiosk):
    shopper, number, _ = returning_shopper(till)
    scan(kiosk, wallet_pass(till, shopper))
    request_id = kiosk.post(f"/kiosk/returns/{number}", data={"qty_1": "1"}).location.rsplit(
        "/", 1
    )[1]
    with till.ctx.store.transaction() as db:
        db.execute("UPDATE return_requests SET expires_at = '2000-01-01T00:00:00.000000Z'")
    response = kiosk.get(f"/kiosk/slips/{request_id}")
    assert response.status_code == 410
    assert "ha caducado" in alert(response)


def test_the_owner_scanning_their_order_number_goes_to_its_return(till, kiosk):
    shopper, number, _ = returning_shopper(till)
    scan(kiosk, wallet_pass(till, shopper))
    response = scan(kiosk, number)
    assert response.status_code == 302
    assert response.location.endswith(f"/kiosk/returns/{number}")


def test_screens_are_never_cached_nor_framed(till, kiosk, console):
    shopper, _, _ = returning_shopper(till)
    scan(kiosk, wallet_pass(till, shopper))
    for response in (kiosk.get("/kiosk/welcome"), console.get("/console/")):
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_a_list_built_before_scanning_a_card_is_kept(till, kiosk):
    shopper, _, _ = returning_shopper(till)
    second, _ = pickup_shopper(till)
    gtin, name, _, _ = product_in_stock(till)
    kiosk.post("/kiosk/list/items", data={"gtin": gtin})
    scan(kiosk, wallet_pass(till, shopper))
    assert f"1 \N{MULTIPLICATION SIGN} {name}" in text(kiosk.get("/kiosk/list"))
    scan(kiosk, wallet_pass(till, second))  # the next customer does not inherit it
    assert "Su lista está vacía" in text(kiosk.get("/kiosk/list"))
