"""The centre's own orders (placed from `order.requested`) and their hand-overs.

- `requested_orders`: which master-data orders the centre placed itself, and for which
  store; only these move to `collected` when a store hands them over (the retailer's
  order system owns the orders it loads, sync.central.order_collections);
- `order_collections`: every hand-over of one of them, the first one `is_first = 1`; a later
  one (the same order handed over again) is kept for an operator.

Orders placed before this revision are found from their `order.requested` events.

Revision 0006, after 0005.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "requested_orders",
        sa.Column("number", sa.Text, primary_key=True),
        sa.Column("asking_store_id", sa.Text, nullable=False),
        sa.Column("requested_at", sa.Text, nullable=False),
        sa.Column("event_id", sa.Text, nullable=False),
    )
    op.create_table(
        "order_collections",
        sa.Column("number", sa.Text, nullable=False),
        sa.Column("pickup_id", sa.Text, nullable=False),
        sa.Column("store_id", sa.Text, nullable=False),
        sa.Column("collected_at", sa.Text, nullable=False),
        sa.Column("event_id", sa.Text, nullable=False),
        sa.Column("recorded_at", sa.Text, nullable=False),
        sa.Column("is_first", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("number", "pickup_id"),
    )
    _find_requested_orders()


def _find_requested_orders() -> None:
    bind = op.get_bind()
    placed = {
        r[0] for r in bind.execute(sa.text("SELECT number FROM orders WHERE channel = 'store'"))
    }
    if not placed:
        return
    rows = {}
    for event_id, store_id, time, envelope in bind.execute(
        sa.text(
            "SELECT event_id, store_id, time, envelope FROM events"
            " WHERE type = 'order.requested' ORDER BY occurred_at, event_id"
        )
    ):
        try:
            number = json.loads(envelope)["data"]["order_number"]
        except (ValueError, KeyError, TypeError):
            continue
        if number in placed and number not in rows:
            rows[number] = {"number": number, "asking_store_id": store_id, "requested_at": time,
                            "event_id": event_id}  # fmt: skip
    if rows:
        bind.execute(
            sa.text(
                "INSERT INTO requested_orders (number, asking_store_id, requested_at, event_id)"
                " VALUES (:number, :asking_store_id, :requested_at, :event_id)"
            ),
            list(rows.values()),
        )


def downgrade() -> None:
    op.drop_table("order_collections")
    op.drop_table("requested_orders")
