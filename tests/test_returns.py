import threading
from dataclasses import replace
from datetime import timedelta

from edge_agent.errors import EdgeAgentError
from edge_agent.returns import ReturnRequestLine, confirm_return
from edge_agent.staff import Actor
from sync.protocol.clock import to_iso
from tests.conftest import outbox_types
from tests.till_fixtures import TILL_NOW, printed


def returnable_order(till, max_total=10_000, min_total=0):
    """A delivered order inside the window, first line not final sale."""
    return till.one(
        "SELECT o.number, l.line_no, l.unit_price_minor, l.quantity FROM orders o"
        " JOIN order_lines l ON l.order_id = o.id AND l.line_no = 1"
        " WHERE o.status = 'delivered' AND o.fulfilled_at > ? AND l.final_sale = 0"
        " AND l.unit_price_minor * l.quantity BETWEEN ? AND ? ORDER BY o.id LIMIT 1",
        [to_iso(TILL_NOW - _days(25)), min_total, max_total],
    )


def _days(n):
    return timedelta(days=n)


def body(number, line_no=1, quantity=1, **extra):
    return {"order_number": number, "lines": [{"line_no": line_no, "quantity": quantity}],
            **extra}  # fmt: skip


def test_quote_then_confirm_records_return_and_event(till):
    number, line_no, price, quantity = returnable_order(till)
    quote = till.client.post("/api/v1/returns/quote", json=body(number, line_no, quantity))
    assert quote.status_code == 200
    q = quote.get_json()
    assert q["acceptable"] is True
    assert q["total"] == {"amount_minor": price * quantity, "currency": "EUR"}
    assert q["lines"][0]["returnable"] == quantity
    assert outbox_types(till.ctx) == []  # a quote changes nothing
    done = till.client.post("/api/v1/returns", json=body(number, line_no, quantity,
                                                         refund_method="store_credit"))  # fmt: skip
    assert done.status_code == 201, done.get_json()
    job = done.get_json()["receipt_job_id"]
    assert printed(till, job), "the return receipt was not printed"
    assert till.print_queue.job(job).kind == "return_receipt"
    assert till.print_queue.job(job).reference == done.get_json()["return_id"]
    assert till.one(
        "SELECT returned_quantity FROM order_lines l JOIN orders o ON o.id = l.order_id"
        " WHERE o.number = ? AND l.line_no = ?", [number, line_no],
    ) == (quantity,)  # fmt: skip
    assert outbox_types(till.ctx) == ["order.returned"]
    assert till.one("SELECT refund_method, offline, staff_id, till_id FROM returns") == (
        "store_credit", 1, "ana", "lane-1",
    )  # fmt: skip
    again = till.client.post("/api/v1/returns", json=body(number, line_no, 1))
    assert again.status_code == 422
    assert "already returned" in again.get_json()["error"]["message"]


def test_refusals_each_say_why(till):
    old = till.one(
        "SELECT number FROM orders WHERE status = 'delivered' AND fulfilled_at < ? LIMIT 1",
        [to_iso(TILL_NOW - _days(40))],
    )[0]
    shipped = till.one("SELECT number FROM orders WHERE status = 'shipped' LIMIT 1")[0]
    final = till.one(
        "SELECT o.number, l.line_no FROM orders o JOIN order_lines l ON l.order_id = o.id"
        " WHERE l.final_sale = 1 AND o.status = 'delivered' AND o.fulfilled_at > ? LIMIT 1",
        [to_iso(TILL_NOW - _days(25))],
    )
    cases = [
        (body(old), 422, "return window"),
        (body(shipped), 422, "not yet received"),
        (body(final[0], final[1]), 422, "final-sale"),
        (body(old, line_no=99), 422, "has no line 99"),
        (body("W199999999"), 404, "not in this store's cache"),
        (body(old, quantity=0), 400, "greater than or equal to 1"),
    ]
    for request, status, text in cases:
        response = till.client.post("/api/v1/returns", json=request)
        assert response.status_code == status, (request, response.get_json())
        assert text in response.get_json()["error"]["message"]
    assert outbox_types(till.ctx) == []


def test_offline_refunds_are_capped_and_allowed_when_online(till):
    number, line_no, _, quantity = returnable_order(till, max_total=50_000, min_total=5_000)
    settings = till.ctx.config.returns.model_copy(update={"offline_refund_limit_minor": 1000})
    config = till.ctx.config.model_copy(update={"returns": settings})
    till.app.extensions["edge_agent"] = replace(till.ctx, config=config)
    offline = till.client.post("/api/v1/returns", json=body(number, line_no, quantity))
    assert offline.status_code == 422
    assert "offline" in offline.get_json()["error"]["message"]
    till.online[0] = True
    online = till.client.post("/api/v1/returns", json=body(number, line_no, quantity))
    assert online.status_code == 201, online.get_json()


def test_large_refund_needs_a_supervisor(till):
    number, line_no, price, quantity = returnable_order(till, max_total=10**9, min_total=1)
    settings = till.ctx.config.returns.model_copy(
        update={"cashier_limit_minor": price * quantity - 1, "offline_refund_limit_minor": 10**9}
    )
    till.app.extensions["edge_agent"] = replace(
        till.ctx, config=till.ctx.config.model_copy(update={"returns": settings})
    )
    plain = till.client.post("/api/v1/returns", json=body(number, line_no, quantity))
    assert plain.status_code == 403
    assert plain.get_json()["error"]["code"] == "supervisor_approval_required"
    by_cashier = till.client.post("/api/v1/returns", json=body(
        number, line_no, quantity, approval={"staff_id": "ana", "pin": "1234"}))  # fmt: skip
    assert by_cashier.status_code == 403
    wrong_pin = till.client.post("/api/v1/returns", json=body(
        number, line_no, quantity, approval={"staff_id": "luis", "pin": "0000"}))  # fmt: skip
    assert wrong_pin.status_code == 401
    approved = till.client.post("/api/v1/returns", json=body(
        number, line_no, quantity, approval={"staff_id": "luis", "pin": "9876"}))  # fmt: skip
    assert approved.status_code == 201
    assert approved.get_json()["approved_by"] == "luis"


def test_two_tills_returning_the_same_line_at_once_succeed_once(till):
    number, line_no, _, quantity = returnable_order(till)
    results: list[str] = []
    barrier = threading.Barrier(2)

    def attempt(till_id: str) -> None:
        actor = Actor("ana", "cashier", "staff", till_id)
        barrier.wait()
        try:
            confirm_return(till.ctx, number, [ReturnRequestLine(line_no, quantity)],
                           "original_payment", actor=actor, online=True)  # fmt: skip
            results.append("ok")
        except EdgeAgentError as exc:
            results.append(exc.code)

    threads = [threading.Thread(target=attempt, args=(t,)) for t in ("lane-1", "lane-2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["ok", "return_refused"]
    assert outbox_types(till.ctx) == ["order.returned"]
