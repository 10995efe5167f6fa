"""Refund limits hold for the order and, offline, for the till's day: a return split into
pieces, sent one after another or all at the same instant, refunds no more than one."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import timedelta

import pytest
import requests

from sync.protocol.clock import to_iso
from tests.http_server import serving
from tests.till_fixtures import TILL_NOW, make_till


@pytest.fixture
def till(seeded):
    t = make_till(seeded)
    token = t.sign_in()["token"]
    t.token = token
    yield t
    t.close()


def _limits(till, **update) -> None:
    settings = till.ctx.config.returns.model_copy(update=update)
    config = till.ctx.config.model_copy(update={"returns": settings})
    till.app.extensions["edge_agent"] = replace(till.ctx, config=config)


def _order_in_pieces(till, pieces: int = 4) -> tuple[str, list[dict], int]:
    """A delivered order in its window with at least `pieces` returnable units; one
    request body per unit, and what all of them refund together."""
    number = till.one(
        "SELECT o.number FROM orders o JOIN order_lines l ON l.order_id = o.id"
        " WHERE o.status = 'delivered' AND o.fulfilled_at > ? AND l.final_sale = 0"
        " GROUP BY o.id HAVING SUM(l.quantity) >= ? ORDER BY o.id LIMIT 1",
        [to_iso(TILL_NOW - _days(20)), pieces],
    )[0]
    rows = till.ctx.store.db.execute(
        "SELECT l.line_no, l.quantity, l.unit_price_minor FROM order_lines l"
        " JOIN orders o ON o.id = l.order_id WHERE o.number = ? AND l.final_sale = 0"
        " ORDER BY l.line_no",
        [number],
    ).fetchall()
    units = [(line_no, price) for line_no, quantity, price in rows for _ in range(quantity)]
    bodies = [
        {"order_number": number, "lines": [{"line_no": line_no, "quantity": 1}]}
        for line_no, _ in units[:pieces]
    ]
    return number, bodies, sum(price for _, price in units[:pieces])


def _days(n: int) -> timedelta:
    return timedelta(days=n)


def _send_at_once(url: str, token: str, bodies: list[dict]) -> list[requests.Response]:
    barrier = threading.Barrier(len(bodies))
    answers: list[requests.Response | None] = [None] * len(bodies)

    def send(i: int) -> None:
        with requests.Session() as http:
            barrier.wait()
            answers[i] = http.post(
                f"{url}/api/v1/returns",
                json=bodies[i],
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            )

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [a for a in answers if a is not None]


def _refunded(till, number: str) -> int:
    return till.one(
        "SELECT COALESCE(SUM(r.refund_total_minor), 0) FROM returns r"
        " JOIN orders o ON o.id = r.order_id WHERE o.number = ?",
        [number],
    )[0]


def test_split_return_needs_the_supervisor_the_whole_would(till):
    till.online[0] = True
    number, bodies, total = _order_in_pieces(till)
    # Each piece is under the cashier limit; the four together are over it.
    _limits(till, cashier_limit_minor=total - 1)
    answers = [till.client.post("/api/v1/returns", json=b) for b in bodies]
    codes = [a.status_code for a in answers]
    assert codes[:3] == [201, 201, 201]
    assert codes[3] == 403
    assert answers[3].get_json()["error"]["code"] == "supervisor_approval_required"
    assert _refunded(till, number) < total
    quote = till.client.post("/api/v1/returns/quote", json=bodies[3]).get_json()
    assert quote["needs_supervisor"] is True
    assert quote["refunded_before"]["amount_minor"] == _refunded(till, number)
    approved = till.client.post(
        "/api/v1/returns", json={**bodies[3], "approval": {"staff_id": "luis", "pin": "9876"}}
    )
    assert approved.status_code == 201
    assert approved.get_json()["approved_by"] == "luis"


def test_split_return_sent_at_the_same_instant_passes_the_cashier_limit_once(till):
    till.online[0] = True
    number, bodies, _ = _order_in_pieces(till)
    smallest = min(_piece_total(till, number, b) for b in bodies)
    # Room for exactly one piece, whichever comes first.
    _limits(till, cashier_limit_minor=smallest)
    with serving(till.app, threads=8) as url:
        answers = _send_at_once(url, till.token, bodies)
    codes = sorted(a.status_code for a in answers)
    assert codes.count(201) <= 1, codes
    assert set(codes) <= {201, 403}
    assert _refunded(till, number) <= smallest


def test_offline_split_returns_stop_at_the_tills_daily_limit(till):
    number, bodies, total = _order_in_pieces(till)
    pieces = [_piece_total(till, number, b) for b in bodies]
    # The whole is over the offline limit; every piece is under it.
    _limits(till, offline_refund_limit_minor=total - 1, cashier_limit_minor=10**9)
    whole = {"order_number": number, "lines": [line for b in bodies for line in b["lines"]]}
    assert till.client.post("/api/v1/returns/quote", json=_merged(whole)).get_json()["refusal"]
    answers = [till.client.post("/api/v1/returns", json=b) for b in bodies]
    assert [a.status_code for a in answers][:3] == [201, 201, 201]
    assert answers[3].status_code == 422
    assert "a day" in answers[3].get_json()["error"]["message"]
    assert _refunded(till, number) == sum(pieces[:3])
    # Another order at the same till the same day is held to what is left, too.
    left = total - 1 - sum(pieces[:3])
    other = _line_of_another_order(till, number, over=left)
    refused = till.client.post("/api/v1/returns", json=other)
    assert refused.status_code == 422, refused.get_json()
    # Back online, the offline allowance no longer applies.
    till.online[0] = True
    assert till.client.post("/api/v1/returns", json=bodies[3]).status_code == 201


def test_offline_split_returns_at_the_same_instant_stay_under_the_limit(till):
    number, bodies, _ = _order_in_pieces(till)
    pieces = [_piece_total(till, number, b) for b in bodies]
    limit = max(pieces)  # room for one piece, maybe two small ones, never all four
    _limits(till, offline_refund_limit_minor=limit, cashier_limit_minor=10**9)
    with serving(till.app, threads=8) as url:
        answers = _send_at_once(url, till.token, bodies)
    assert sorted({a.status_code for a in answers}) <= [201, 422]
    assert any(a.status_code == 201 for a in answers)
    assert 0 < _refunded(till, number) <= limit


def _piece_total(till, number: str, body: dict) -> int:
    line_no = body["lines"][0]["line_no"]
    return till.one(
        "SELECT l.unit_price_minor FROM order_lines l JOIN orders o ON o.id = l.order_id"
        " WHERE o.number = ? AND l.line_no = ?",
        [number, line_no],
    )[0]


def _merged(body: dict) -> dict:
    quantities: dict[int, int] = {}
    for line in body["lines"]:
        quantities[line["line_no"]] = quantities.get(line["line_no"], 0) + 1
    return {
        "order_number": body["order_number"],
        "lines": [{"line_no": n, "quantity": q} for n, q in quantities.items()],
    }


def _line_of_another_order(till, number: str, over: int) -> dict:
    other, line_no = till.one(
        "SELECT o.number, l.line_no FROM orders o JOIN order_lines l ON l.order_id = o.id"
        " WHERE o.status = 'delivered' AND o.fulfilled_at > ? AND l.final_sale = 0"
        " AND o.number != ? AND l.unit_price_minor > ? ORDER BY o.id LIMIT 1",
        [to_iso(TILL_NOW - _days(20)), number, over],
    )
    return {"order_number": other, "lines": [{"line_no": line_no, "quantity": 1}]}
