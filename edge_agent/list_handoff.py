"""Handing a shopping list built at the kiosk to a sales associate."""

from __future__ import annotations

from edge_agent.context import AgentContext
from edge_agent.errors import InvalidInput
from edge_agent.lists import ShoppingList, get_list
from edge_agent.outbox import append_event
from sync.protocol.clock import to_iso

RECENTLY_SENT = 20


def send_list_to_staff(ctx: AgentContext, list_id: str, source: str) -> ShoppingList:
    """Mark the list as waiting for staff and tell the centre (`list.sent_to_staff`)."""
    shopping_list = get_list(ctx, list_id)
    if not shopping_list.items:
        raise InvalidInput("the list is empty; add a product first")
    now = ctx.clock()
    with ctx.store.transaction() as db:
        db.execute(
            "INSERT INTO list_handoffs (list_id, source, sent_at) VALUES (?, ?, ?)"
            " ON CONFLICT (list_id) DO UPDATE SET source = excluded.source,"
            " sent_at = excluded.sent_at",
            [list_id, source, to_iso(now)],
        )
        append_event(db, ctx.origin, "list.sent_to_staff", list_id, {
            "list_id": list_id, "customer_id": shopping_list.customer_id,
            "item_count": sum(item.quantity for item in shopping_list.items),
            "source": source,
        }, at=now)  # fmt: skip
    return get_list(ctx, list_id)


def lists_sent_to_staff(ctx: AgentContext) -> tuple[ShoppingList, ...]:
    """The lists customers most recently sent to staff, newest first."""
    rows = ctx.store.db.execute(
        "SELECT list_id FROM list_handoffs ORDER BY sent_at DESC LIMIT ?",
        [RECENTLY_SENT],
    ).fetchall()
    return tuple(get_list(ctx, row[0]) for row in rows)
