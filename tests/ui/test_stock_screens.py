"""Stock on the screens, in Spanish and English: the console's stock page and ordering for
the customer what this store lacks (saved offline, and it says so), the customer's
requests in their profile, and the kiosk's sizes here and nearby."""

from __future__ import annotations

import re

from tests.ui.conftest import pickup_shopper


def text(response) -> str:
    return response.get_data(as_text=True)


def a_style(till) -> list[tuple[str, str]]:
    """(gtin, size) of every variant of a style with three sizes or more."""
    style = till.one(
        "SELECT style FROM products GROUP BY style HAVING COUNT(*) >= 3 ORDER BY style LIMIT 1"
    )[0]
    return [tuple(r) for r in till.ctx.store.db.execute(
        "SELECT gtin, size FROM products WHERE style = ? ORDER BY rowid", [style])]  # fmt: skip


def test_the_console_stock_page_shows_every_size_and_says_it_is_offline(till, console):
    variants = a_style(till)
    page = text(console.get("/console/stock", query_string={"gtin": variants[0][0]}))
    rows = re.findall(r'<tr data-gtin="(\d+)"', page)
    assert rows == [gtin for gtin, _ in variants]
    assert "No se puede consultar a las otras tiendas" in page  # the store's language
    assert 'id="order-for-customer"' not in page  # no customer: nothing to order for
    console.get("/console/lang/en")
    english = text(console.get("/console/stock", query_string={"gtin": variants[0][0]}))
    assert "The other stores cannot be asked: the store is offline" in english
    bad = console.get("/console/stock", query_string={"gtin": "12ab"})
    assert bad.status_code == 400


def test_ordering_for_a_customer_offline_is_saved_and_shown_in_the_profile(till, console):
    shopper, _number = pickup_shopper(till)
    variants = a_style(till)
    console.get("/console/lang/en")
    page = text(console.get("/console/stock", query_string={
        "gtin": variants[1][0], "customer_id": shopper.customer_id}))  # fmt: skip
    assert f"Order it for {shopper.first_name}" in page
    assert 'value="home"' in page and "Deliver to the customer" in page
    placed = console.post("/console/order-requests", data={
        "customer_id": shopper.customer_id, "gtin": variants[1][0], "quantity": "2",
        "fulfilment": "home"})  # fmt: skip
    assert placed.status_code == 201, text(placed)
    done = text(placed)
    assert "will be placed when the store reconnects" in done
    number = re.search(r"Order (R[0-9A-F]{16})", done).group(1)
    assert till.one("SELECT fulfilment, customer_id FROM order_requests WHERE number = ?",
                    [number]) == ("delivery", shopper.customer_id)  # fmt: skip
    profile = text(console.get(f"/console/customers/{shopper.customer_id}"))
    assert f'data-request="{number}"' in profile
    console.get("/console/lang/es")
    spanish = text(console.get(f"/console/customers/{shopper.customer_id}"))
    assert "Pedidos desde esta tienda" in spanish
    assert "se hará cuando la tienda se vuelva a conectar" in spanish


def test_an_order_form_that_does_not_fit_is_refused_and_nothing_is_saved(till, console):
    shopper, _number = pickup_shopper(till)
    gtin = a_style(till)[0][0]
    for form in (
        {"customer_id": shopper.customer_id, "gtin": gtin, "quantity": "0", "fulfilment": "home"},
        {"customer_id": shopper.customer_id, "gtin": "x", "quantity": "1", "fulfilment": "home"},
        {"customer_id": shopper.customer_id, "gtin": gtin, "quantity": "1", "fulfilment": "Bad"},
        {"customer_id": "nobody", "gtin": gtin, "quantity": "1", "fulfilment": "home"},
    ):
        refused = console.post("/console/order-requests", data=form)
        assert refused.status_code in (400, 404, 422), (form, refused.status_code)
        assert 'data-code="' in text(refused)
    assert till.one("SELECT COUNT(*) FROM order_requests") == (0,)


def test_the_kiosk_shows_sizes_here_and_says_when_nearby_stores_cannot_be_asked(till, kiosk):
    variants = a_style(till)
    page = text(kiosk.get(f"/kiosk/products/{variants[0][0]}"))
    assert "Tallas en esta tienda" in page  # the kiosk speaks the store's language first
    assert re.findall(r'<tr data-gtin="(\d+)"', page) == [gtin for gtin, _ in variants]
    assert "No se puede consultar a las otras tiendas" in page
    english = text(kiosk.get("/kiosk/lang/en", follow_redirects=True))
    assert english
    page = text(kiosk.get(f"/kiosk/products/{variants[0][0]}"))
    assert "Sizes in this store" in page and "In stores nearby" in page
