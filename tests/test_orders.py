import pytest

from edge_agent.errors import InvalidInput, OrderNotFound
from edge_agent.orders import find_order, list_customer_orders
from edge_agent.seed import order_number_for


def test_find_order_by_number_with_lines(seeded):
    order = find_order(seeded, order_number_for(5))
    assert order.number == "W100000005"
    assert order.lines
    assert order.total.amount_minor == sum(
        line.unit_price.amount_minor * line.quantity for line in order.lines
    )
    assert order.total.currency == "EUR"
    assert [line.line_no for line in order.lines] == list(range(1, len(order.lines) + 1))


def test_order_number_is_forgiving_of_case_and_spaces(seeded):
    assert find_order(seeded, "  w100000005 ").number == "W100000005"


def test_unknown_order_is_not_found(seeded):
    with pytest.raises(OrderNotFound, match="W199999999"):
        find_order(seeded, "W199999999")


def test_malformed_order_number_is_refused(seeded):
    with pytest.raises(InvalidInput, match="not an order number"):
        find_order(seeded, "DROP TABLE orders")


def test_customer_orders_newest_first(seeded):
    customer_id = seeded.store.db.execute(
        "SELECT customer_id FROM orders GROUP BY customer_id HAVING COUNT(*) > 3 LIMIT 1"
    ).fetchone()[0]
    orders = list_customer_orders(seeded, customer_id)
    assert len(orders) > 3
    placed = [o.placed_at for o in orders]
    assert placed == sorted(placed, reverse=True)
    assert list_customer_orders(seeded, "C-nobody") == ()
