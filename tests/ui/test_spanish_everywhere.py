"""Everything a customer or a cashier reads, in Spanish: each receipt layout and each
kiosk and console screen (refusals included) rendered for a Spanish store, read for
English words. The English vocabulary is the catalog's own: every word of its English
source strings that no Spanish translation uses, so a string that skipped the catalog
(or a new one without a translation) shows up as the English word it is."""

from __future__ import annotations

import re
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from babel.messages.pofile import read_po

from edge_agent.i18n import TRANSLATIONS_DIR
from edge_agent.orders import find_order
from edge_agent.receipts import pickup_slip, return_receipt, return_slip
from edge_agent.seed import coupon_code_for
from hardware.money import Money
from hardware.receipts import render_receipt
from tests.till_fixtures import TILL_NOW
from tests.ui.conftest import pickup_shopper, product_in_stock, returning_shopper, wallet_pass

# A run of letters standing alone: not the letters inside a generated id such as
# "L-b5c3add759d2", which once read as the English word "add".
LETTERS = "A-Za-zÁÉÍÓÚÜÑáéíóúüñ"
WORD = re.compile(rf"(?<![0-9{LETTERS}])[{LETTERS}]+(?![0-9{LETTERS}])")
# Words in both languages, or names: not English on a Spanish screen.
SHARED = {"a", "no", "de", "e", "en", "es", "o", "y", "pin", "qr", "id", "ok", "gtin", "sku",
          "eur", "api", "paypal", "bizum", "oxford", "jogger", "camel", "midi", "s", "m", "l",
          "xl", "xs", "x", "w", "c", "r", "rr", "total", "club", "demo", "store"}  # fmt: skip


@pytest.fixture(scope="module")
def english() -> set[str]:
    return english_vocabulary()


def english_vocabulary() -> set[str]:
    with (TRANSLATIONS_DIR / "es/LC_MESSAGES/messages.po").open("rb") as handle:
        catalog = read_po(handle, locale="es")
    source, spanish = set(), set()
    for entry in catalog:
        if not entry.id:
            continue
        ids = entry.id if isinstance(entry.id, tuple) else (entry.id,)
        strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        source |= {w.lower() for text in ids for w in WORD.findall(_no_placeholders(text))}
        spanish |= {w.lower() for text in strings for w in WORD.findall(_no_placeholders(text))}
    return source - spanish - SHARED


def _no_placeholders(text: str) -> str:
    return re.sub(r"%\(\w+\)[sd]", " ", text)


def english_in(text: str, english: set[str]) -> list[str]:
    return sorted({w for w in WORD.findall(text) if w.lower() in english})


class _Visible(HTMLParser):
    """The text a person sees: text nodes and the attributes screens show or read out."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in ("script", "style"):
            self._hidden += 1
        for name, value in attrs:
            if name in ("placeholder", "aria-label", "title", "alt") and value:
                self.parts.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def visible(html: str) -> str:
    parser = _Visible()
    parser.feed(html)
    return " ".join(parser.parts)


def receipt_text(data: bytes) -> str:
    """The printed characters of an ESC/POS stream: commands and QR payloads skipped."""
    out, i = bytearray(), 0
    while i < len(data):
        if data[i : i + 3] == b"\x1d(k":  # a QR function: 2 length bytes, then its data
            i += 5 + data[i + 3] + 256 * data[i + 4]
        elif data[i] == 0x1B:
            i += 2 if data[i + 1] == 0x40 else 3
        elif data[i] == 0x1D:
            i += 3
        else:
            out.append(data[i])
            i += 1
    return out.decode("cp858")


def test_the_vocabulary_catches_what_the_issue_found():
    english = english_vocabulary()
    assert english_in("Reembolsado en original payment", english) == ["payment"]
    assert english_in("Pago: card · 12345 puntos", english) == ["card"]
    assert english_in("el pedido W1 no está en la caché de esta tienda", english) == []


def test_every_receipt_layout_reads_spanish(till, english):
    shopper, number, _quantity = returning_shopper(till)
    order = find_order(till.ctx, number)
    line = order.lines[0]
    refund = Money(line.unit_price.amount_minor, line.unit_price.currency)
    config = till.ctx.config
    receipts = {
        "return, original payment": return_receipt(
            config, "R-1", TILL_NOW, number, [(line.name, 1, refund)], refund, "original_payment"
        ),
        "return, store credit": return_receipt(
            config, "R-2", TILL_NOW, number, [(line.name, 1, refund)], refund, "store_credit"
        ),
        "pickup slip": pickup_slip(config, order, shopper.first_name, TILL_NOW),
        "return slip": return_slip(
            config,
            "RR:abc",
            number,
            [(line.name, 1, refund)],
            refund,
            TILL_NOW + timedelta(hours=48),
        ),
    }
    for name, receipt in receipts.items():
        printed = receipt_text(render_receipt(receipt))
        assert english_in(printed, english) == [], f"{name}:\n{printed}"
    credit = receipt_text(render_receipt(receipts["return, store credit"]))
    assert "Devolución" in credit and "Reembolsado en" in credit and "Saldo" in credit


def test_every_console_screen_and_refusal_reads_spanish(till, console, english):
    shopper, number, quantity = returning_shopper(till)
    _collector, ready = pickup_shopper(till)
    gtin, *_ = product_in_stock(till)
    long_ago = (TILL_NOW - timedelta(days=60)).isoformat()
    late = till.one(
        "SELECT number FROM orders WHERE status = 'delivered' AND fulfilled_at < ? LIMIT 1",
        [long_ago],
    )
    placed = till.one("SELECT number FROM orders WHERE status = 'processing' LIMIT 1")
    signed_out = till.app.test_client()
    list_id = console.post("/console/lists", data={"name": "Boda"}).location.rsplit("/", 1)[1]
    pages = {
        "sign-in": signed_out.get("/console/sign-in"),
        "sign-in refused": signed_out.post("/console/sign-in",
                                           data={"staff_id": "ana", "pin": "0000"}),
        "home": console.get("/console/"),
        "profile": console.get(f"/console/customers/{shopper.customer_id}"),
        "order": console.get(f"/console/orders?number={number}"),
        "quote too many": console.post("/console/returns/quote",
                                       data={"order_number": number, "qty_1": "99"}),
        "quote late": console.post("/console/returns/quote",
                                   data={"order_number": late[0], "qty_1": "1"}),
        "quote not received": console.post("/console/returns/quote",
                                           data={"order_number": placed[0], "qty_1": "1"}),
        "return done": console.post("/console/returns", data={"order_number": number,
                                                              "qty_1": str(quantity)}),
        "return refused": console.post("/console/returns", data={"order_number": number,
                                                                 "qty_1": str(quantity)}),
        "pickup": console.post("/console/pickups/verify", data={"order_number": ready}),
        "pickup done": console.post("/console/pickups", data={"order_number": ready}),
        "pickup refused": console.post("/console/pickups/verify", data={"order_number": ready}),
        "pickup not ready": console.post("/console/pickups/verify",
                                         data={"order_number": placed[0]}),
        "coupon": console.post("/console/coupons/redeem", data={
            "code": coupon_code_for(3), "customer_id": "C00000003", "sale_reference": "S-1"}),
        "coupon again": console.post("/console/coupons/redeem", data={
            "code": coupon_code_for(3), "customer_id": "C00000003", "sale_reference": "S-2"}),
        "list": console.post(f"/console/lists/{list_id}/items",
                             data={"gtin": gtin, "quantity": "1"}, follow_redirects=True),
        "unknown order": console.get("/console/orders?number=W999999999"),
        "not an order number": console.get("/console/orders?number=nope"),
        "unknown card": console.post("/console/identify", data={"query": "2900000000001"}),
        "garbage": console.post("/console/identify", data={"query": "%%%"}),
        "card data": console.post("/console/identify", data={"query": "4111 1111 1111 1111"}),
        "bad form": console.post("/console/returns/quote",
                                 data={"order_number": number, "qty_1": "x"}),
    }  # fmt: skip
    for name, response in pages.items():
        # The page a person sees: neither a crash nor a redirect's body (never shown).
        assert response.status_code < 300 or 400 <= response.status_code < 500, name
        shown = visible(response.get_data(as_text=True))
        assert english_in(shown, english) == [], f"{name}: {shown}"


def test_every_kiosk_screen_reads_spanish(till, kiosk, english):
    shopper, number, quantity = returning_shopper(till)
    gtin, *_ = product_in_stock(till)
    pages = {"start": kiosk.get("/kiosk/")}
    pages["card, not a pass"] = kiosk.post("/kiosk/scan", data={"code": shopper.loyalty_id},
                                           follow_redirects=True)  # fmt: skip
    kiosk.post("/kiosk/scan", data={"code": wallet_pass(till, shopper)})
    pages["welcome"] = kiosk.get("/kiosk/welcome")
    pages["returns"] = kiosk.get("/kiosk/returns")
    pages["return lines"] = kiosk.get(f"/kiosk/returns/{number}")
    pages["nothing chosen"] = kiosk.post(f"/kiosk/returns/{number}", data={})
    made = kiosk.post(f"/kiosk/returns/{number}", data={"qty_1": str(quantity)})
    pages["slip"] = kiosk.get(made.location)
    pages["product"] = kiosk.get(f"/kiosk/products/{gtin}")
    kiosk.post("/kiosk/list/items", data={"gtin": gtin})
    pages["list"] = kiosk.get("/kiosk/list")
    pages["list sent"] = kiosk.post("/kiosk/list/send", follow_redirects=True)
    pages["unknown product"] = kiosk.get("/kiosk/products/4006381333931")
    pages["garbage scan"] = kiosk.post("/kiosk/scan", data={"code": "hello"}, follow_redirects=True)
    for name, response in pages.items():
        # The page a person sees: neither a crash nor a redirect's body (never shown).
        assert response.status_code < 300 or 400 <= response.status_code < 500, name
        shown = visible(response.get_data(as_text=True))
        assert english_in(shown, english) == [], f"{name}: {shown}"


def test_console_points_carry_the_locales_thousands_separator(till, console):
    shopper, _number, _quantity = returning_shopper(till)
    with till.ctx.store.transaction() as db:  # a loyal customer: five-digit points
        db.execute("UPDATE loyalty_accounts SET points = 12345 WHERE customer_id = ?",
                   [shopper.customer_id])  # fmt: skip
    page = console.get(f"/console/customers/{shopper.customer_id}").get_data(as_text=True)
    assert re.search(r'id="points">12\.345<', page), "points shown without the separator"
