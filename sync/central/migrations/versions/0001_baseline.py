"""The centre's tables as the first versioned centre created them.

`if_not_exists`: a database a pre-migration centre made (tables, no `alembic_version`)
is adopted as revision 0001 instead of failing; under the migration lock nothing races.

Revision 0001, the first.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TEXT = sa.Text
BIG = sa.BigInteger


def _table(name: str, *items: sa.SchemaItem) -> None:
    op.create_table(name, *items, if_not_exists=True)


def _index(name: str, table: str, columns: list[str]) -> None:
    op.create_index(name, table, columns, if_not_exists=True)


def _col(name: str, type_: type, nullable: bool = False) -> sa.Column:
    return sa.Column(name, type_, nullable=nullable)


def upgrade() -> None:
    # Every event a store sent, once: the event id is the key, so a resend changes nothing.
    _table(
        "events",
        sa.Column("event_id", TEXT, primary_key=True),
        _col("store_id", TEXT),
        _col("source", TEXT),
        _col("seq", BIG),
        _col("type", TEXT),
        _col("time", TEXT),
        _col("envelope", TEXT),
        _col("received_at", TEXT),
    )
    _index("events_source_seq", "events", ["source", "seq"])
    # Per device (event source): every seq up to contiguous_seq has arrived; max_seq above
    # it means a gap the store has not filled yet.
    _table(
        "sources",
        sa.Column("source", TEXT, primary_key=True),
        _col("store_id", TEXT),
        _col("contiguous_seq", BIG),
        _col("max_seq", BIG),
        _col("updated_at", TEXT),
    )
    _table(
        "rejected_events",
        sa.Column("event_id", TEXT, primary_key=True),
        _col("store_id", TEXT),
        _col("reason", TEXT),
        _col("payload", TEXT),
        _col("received_at", TEXT),
    )
    # Each store's gap-free change feed; the payload is the CloudEvent as sent.
    _table(
        "changes",
        sa.Column("store_id", TEXT, primary_key=True),
        sa.Column("seq", BIG, primary_key=True, autoincrement=False),
        sa.Column("change_id", TEXT, nullable=False, unique=True),
        _col("type", TEXT),
        _col("payload", TEXT),
        _col("created_at", TEXT),
    )
    _table(
        "revocations",
        sa.Column("serial", TEXT, primary_key=True),
        _col("revoked_at", TEXT),
    )
    # Every pass key set published to the stores; the newest is the one in force.
    _table(
        "key_sets",
        sa.Column("version", BIG, primary_key=True, autoincrement=False),
        _col("payload", TEXT),
        _col("published_at", TEXT),
    )
    _table(
        "fleet",
        sa.Column("store_id", TEXT, primary_key=True),
        sa.Column("device_id", TEXT, primary_key=True),
        _col("state", TEXT),
        _col("version", TEXT, nullable=True),
        _col("backlog", BIG, nullable=True),
        _col("detail", TEXT),
        _col("last_seen", TEXT),
    )
    # Master data (`edge-central load`): what the stores are told and look-ups answer
    # from. `digest` is the hash of the record as loaded, so a reload of the same record
    # is recognised and records no change.
    _table(
        "customers",
        sa.Column("id", TEXT, primary_key=True),
        _col("loyalty_id", TEXT, nullable=True),
        _col("first_name", TEXT),
        _col("last_name", TEXT),
        _col("email_hash", TEXT, nullable=True),
        _col("phone_hash", TEXT, nullable=True),
        _col("preferred_locale", TEXT, nullable=True),
        _col("consent_marketing", sa.Integer),
        _col("tier", TEXT, nullable=True),
        _col("points", BIG, nullable=True),
        _col("lifetime_points", BIG, nullable=True),
        _col("digest", TEXT),
        _col("updated_at", TEXT),
    )
    _index("customers_loyalty_id", "customers", ["loyalty_id"])
    _index("customers_email_hash", "customers", ["email_hash"])
    _index("customers_phone_hash", "customers", ["phone_hash"])
    _table(
        "orders",
        sa.Column("number", TEXT, primary_key=True),
        _col("customer_id", TEXT, nullable=True),
        _col("channel", TEXT),
        _col("fulfilment", TEXT),
        _col("status", TEXT),
        _col("pickup_store_id", TEXT, nullable=True),
        _col("placed_at", TEXT),
        _col("fulfilled_at", TEXT, nullable=True),
        _col("currency", TEXT),
        _col("total_minor", BIG),
        _col("payment_method", TEXT),
        _col("digest", TEXT),
        _col("updated_at", TEXT),
    )
    _index("orders_customer", "orders", ["customer_id", "placed_at"])
    _table(
        "order_lines",
        sa.Column("number", TEXT, primary_key=True),
        sa.Column("line_no", sa.Integer, primary_key=True, autoincrement=False),
        _col("gtin", TEXT),
        _col("sku", TEXT),
        _col("name", TEXT),
        _col("category", TEXT, nullable=True),
        _col("colour", TEXT, nullable=True),
        _col("size", TEXT, nullable=True),
        _col("quantity", sa.Integer),
        _col("unit_price_minor", BIG),
        _col("final_sale", sa.Integer),
    )
    # Stores the centre has told about a customer (feed or look-up): their updates go there.
    _table(
        "customer_stores",
        sa.Column("customer_id", TEXT, primary_key=True),
        sa.Column("store_id", TEXT, primary_key=True),
        _col("since", TEXT),
    )
    # Returns seen from every store, per order line (sync.central.conflicts): the one
    # place where a line returned at two stores while offline shows up.
    _table(
        "returned_lines",
        sa.Column("order_number", TEXT, primary_key=True),
        sa.Column("line_no", sa.Integer, primary_key=True, autoincrement=False),
        _col("ordered_quantity", sa.Integer, nullable=True),
        _col("updated_at", TEXT),
    )
    _table(
        "line_returns",
        sa.Column("order_number", TEXT, primary_key=True),
        sa.Column("line_no", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("store_id", TEXT, primary_key=True),
        sa.Column("return_id", TEXT, primary_key=True),
        _col("sku", TEXT),
        _col("quantity", sa.Integer),
        _col("refund_minor", BIG),
        _col("currency", TEXT),
        _col("returned_at", TEXT),
    )
    _table(
        "return_conflicts",
        sa.Column("conflict_id", TEXT, primary_key=True),
        _col("order_number", TEXT),
        _col("line_no", sa.Integer),
        _col("sku", TEXT),
        _col("ordered_quantity", sa.Integer),
        _col("returned_quantity", sa.Integer),
        _col("currency", TEXT),
        _col("stores", TEXT),
        _col("detail", TEXT),
        _col("detected_at", TEXT),
        _col("updated_at", TEXT),
    )
    _table(
        "return_resolutions",
        sa.Column("conflict_id", TEXT, primary_key=True),
        sa.Column("store_id", TEXT, primary_key=True),
        _col("resolved_at", TEXT),
        _col("staff_id", TEXT),
        _col("note", TEXT),
        _col("returned_quantity", sa.Integer),
    )


def downgrade() -> None:
    for name in (
        "return_resolutions",
        "return_conflicts",
        "line_returns",
        "returned_lines",
        "customer_stores",
        "order_lines",
        "orders",
        "customers",
        "fleet",
        "key_sets",
        "revocations",
        "changes",
        "rejected_events",
        "sources",
        "events",
    ):
        op.drop_table(name)
