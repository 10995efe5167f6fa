"""Stock here at the till, without the centre: the centre's figures applied from the feed,
this store's sales and returns on top until the next figure, the product's sizes, and
what the till says about other stores when it cannot ask."""

from __future__ import annotations

import json
from datetime import timedelta

from edge_agent.changes import apply_change
from sync.protocol.changes import parse_change
from sync.protocol.clock import to_iso
from tests.till_fixtures import TILL_NOW


def style_gtins(till) -> list[str]:
    style = till.one(
        "SELECT style FROM products GROUP BY style HAVING COUNT(*) >= 3 ORDER BY style LIMIT 1"
    )[0]
    return [r[0] for r in till.ctx.store.db.execute(
        "SELECT gtin FROM products WHERE style = ? ORDER BY rowid", [style])]  # fmt: skip


def figures(till, levels: dict[str, int], as_of) -> None:
    """A `stock.levels` change from the centre, applied as the feed applies it."""
    message = {
        "specversion": "1.0", "id": f"chg-{to_iso(as_of)}", "source": "/central",
        "type": "stock.levels", "time": to_iso(as_of), "sequence": "1",
        "dataschema": "urn:edge-central:schema:stock.levels:1",
        "data": {"levels": [{"gtin": g, "quantity": q, "as_of": to_iso(as_of)}
                            for g, q in levels.items()]},
    }  # fmt: skip
    change = parse_change(json.dumps(message).encode())
    with till.ctx.store.transaction() as db:
        apply_change(db, change, TILL_NOW)


def here(till, gtin: str) -> int:
    return till.one("SELECT stock_here FROM products WHERE gtin = ?", [gtin])[0]


def sell(till, reference: str, gtin: str, quantity: int = 1, reason: str = "sale"):
    return till.client.post("/api/v1/stock/movements", json={
        "reference": reference, "reason": reason,
        "lines": [{"gtin": gtin, "quantity": quantity}]})  # fmt: skip


def test_the_centres_figure_plus_sales_since_is_the_stock_here(till):
    gtin = style_gtins(till)[0]
    figures(till, {gtin: 6}, TILL_NOW - timedelta(hours=1))
    assert here(till, gtin) == 6
    assert sell(till, "S-1", gtin, 2).status_code == 201
    again = sell(till, "S-1", gtin, 2)  # the POS retries: counted once
    assert again.get_json()["recorded"] == 0
    assert here(till, gtin) == 4
    # A figure taken before the sale does not count it: the sale still comes off.
    figures(till, {gtin: 5}, TILL_NOW - timedelta(minutes=30))
    assert here(till, gtin) == 3
    # A figure taken after the sale counts it: it is the truth now.
    figures(till, {gtin: 4}, TILL_NOW + timedelta(minutes=5))
    assert here(till, gtin) == 4
    # An older figure arriving late changes nothing.
    figures(till, {gtin: 9}, TILL_NOW - timedelta(hours=2))
    assert here(till, gtin) == 4


def test_stock_here_never_shows_below_zero(till):
    gtin = style_gtins(till)[0]
    figures(till, {gtin: -2}, TILL_NOW - timedelta(hours=1))
    assert here(till, gtin) == 0
    page = till.client.get(f"/api/v1/products/{gtin}/stock").get_json()
    assert {v["gtin"]: v["stock_here"] for v in page["variants"]}[gtin] == 0


def test_a_return_at_the_till_puts_the_item_back_in_stock_here(till):
    number, gtin, line_no = till.one(
        "SELECT o.number, l.gtin, l.line_no FROM orders o JOIN order_lines l ON l.order_id = o.id"
        " JOIN products p ON p.gtin = l.gtin WHERE o.status = 'delivered' AND l.final_sale = 0"
        " AND o.fulfilled_at > ? AND l.unit_price_minor < 10000 ORDER BY o.id LIMIT 1",
        [to_iso(TILL_NOW - timedelta(days=20))],
    )
    before = here(till, gtin)
    done = till.client.post("/api/v1/returns", json={
        "order_number": number, "lines": [{"line_no": line_no, "quantity": 1}]})  # fmt: skip
    assert done.status_code == 201, done.get_json()
    assert here(till, gtin) == before + 1


def test_a_product_shows_every_size_here_and_says_the_others_cannot_be_asked(till):
    gtins = style_gtins(till)
    page = till.client.get(f"/api/v1/products/{gtins[1]}/stock")
    assert page.status_code == 200, page.get_json()
    body = page.get_json()
    assert [v["gtin"] for v in body["variants"]] == gtins
    assert len({v["size"] for v in body["variants"]}) == len(gtins)
    assert body["elsewhere_status"] == "offline" and body["elsewhere"] == []
    assert "offline" in body["elsewhere_message"]


def test_stock_requests_are_checked(till):
    assert till.client.get("/api/v1/products/12345/stock").status_code == 400
    assert till.client.get("/api/v1/products/4006381333931/stock").status_code == 404
    assert sell(till, "S-2", "4006381333931").status_code == 404
    assert sell(till, "S-3", style_gtins(till)[0], 0).status_code == 400
    assert sell(till, "S-4", style_gtins(till)[0], reason="theft").status_code == 400


def test_old_movements_and_requests_whose_order_came_back_are_pruned(till):
    from edge_agent.retention import prune

    gtin = style_gtins(till)[0]
    assert sell(till, "S-9", gtin).status_code == 201
    customer = till.one("SELECT id FROM customers ORDER BY id LIMIT 1")[0]
    body = {"customer_id": customer, "fulfilment": "delivery", "lines": [{"gtin": gtin,
                                                                       "quantity": 1}]}  # fmt: skip
    waiting = till.client.post("/api/v1/order-requests", json=body).get_json()["number"]
    back = till.client.post("/api/v1/order-requests", json=body).get_json()["number"]
    with till.ctx.store.transaction() as db:  # the centre's order for one of them arrived
        db.execute(
            "INSERT INTO orders (number, customer_id, channel, fulfilment, status, placed_at,"
            " currency, total_minor, payment_method, updated_at) VALUES (?, ?, 'store',"
            " 'delivery', 'placed', ?, 'EUR', 1, 'paid_at_store', ?)",
            [back, customer, to_iso(TILL_NOW), to_iso(TILL_NOW)],
        )
    deleted = prune(till.ctx, TILL_NOW + timedelta(days=31))
    assert deleted["stock_movements"] == 1
    assert deleted["order_requests"] == 1
    assert [r[0] for r in till.ctx.store.db.execute("SELECT number FROM order_requests")] == [
        waiting
    ]
