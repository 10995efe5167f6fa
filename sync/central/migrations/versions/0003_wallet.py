"""Wallet passes and loyalty at the centre (sync.central.wallet): passes issued and kept
here, Apple device registrations and the APNs push queue, Google notification counts,
coalesced re-issues, Google callback nonces, each customer's "add to wallet" page, and
loyalty as the centre counts it from every store (counted events, coupon uses,
conflicts).

Revision 0003, after 0002.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TEXT = sa.Text
BIG = sa.BigInteger
INT = sa.Integer


def _col(name: str, type_: type, nullable: bool = False, **kw: object) -> sa.Column:
    return sa.Column(name, type_, nullable=nullable, **kw)


def upgrade() -> None:
    # Every pass the centre issued. `code` is the signed pass code in its barcode; the
    # Apple columns hold the newest signed .pkpass and its update tag (grows on each
    # re-issue: "serials updated since tag"); `shown_*` is what the pass shows now, so a
    # re-issue that would change nothing is skipped; `google_state` is what Google's
    # save/delete callbacks said last.
    op.create_table(
        "wallet_passes",
        sa.Column("serial", TEXT, primary_key=True),
        _col("customer_id", TEXT),
        _col("kind", TEXT),
        _col("platform", TEXT),
        _col("status", TEXT),
        _col("code", TEXT),
        _col("pass_type_id", TEXT, True),
        _col("auth_token", TEXT, True),
        _col("update_tag", BIG),
        _col("pkpass", sa.LargeBinary, True),
        _col("shown_points", BIG, True),
        _col("shown_tier", TEXT, True),
        _col("google_state", TEXT, True),
        _col("issued_at", TEXT),
        _col("updated_at", TEXT),
    )
    op.create_index("wallet_passes_customer", "wallet_passes", ["customer_id"])
    # One active loyalty card per customer and platform: two taps on the email link at
    # the same instant must not mint two. (Coupons: as many as the retailer gives.)
    active = sa.text("status = 'active' AND kind = 'loyalty'")
    op.create_index(
        "wallet_passes_one_card", "wallet_passes", ["customer_id", "platform"],
        unique=True, sqlite_where=active, postgresql_where=active,
    )  # fmt: skip
    op.create_index("wallet_passes_tag", "wallet_passes", ["pass_type_id", "update_tag"])
    # Counters handed out under a row lock (passes.next_update_tag): tags commit in order.
    counters = op.create_table(
        "wallet_counters", sa.Column("name", TEXT, primary_key=True), _col("value", BIG)
    )
    op.bulk_insert(counters, [{"name": "update_tag", "value": 0}])
    # The customer's "add to wallet" page: an unguessable token the retailer's email links.
    op.create_table(
        "wallet_pages",
        sa.Column("customer_id", TEXT, primary_key=True),
        _col("token", TEXT, unique=True),
        _col("created_at", TEXT),
    )
    # Apple devices holding a pass (PassKit web service registrations).
    op.create_table(
        "wallet_registrations",
        sa.Column("device_id", TEXT, primary_key=True),
        sa.Column("pass_type_id", TEXT, primary_key=True),
        sa.Column("serial", TEXT, primary_key=True),
        _col("push_token", TEXT),
        _col("registered_at", TEXT),
    )
    op.create_index("wallet_registrations_serial", "wallet_registrations", ["serial"])
    op.create_index("wallet_registrations_token", "wallet_registrations", ["push_token"])
    # APNs pushes waiting: one per device and pass type (the device then asks which of its
    # serials changed); a row leaves when APNs accepted it or said 410.
    op.create_table(
        "wallet_push_queue",
        sa.Column("push_token", TEXT, primary_key=True),
        sa.Column("pass_type_id", TEXT, primary_key=True),
        _col("serial", TEXT),
        _col("queued_at", TEXT),
        _col("attempts", INT, server_default="0"),
        _col("last_error", TEXT, True),
    )
    # Notifying updates sent, to stay within Google's 3 per pass per 24 hours.
    op.create_table(
        "wallet_notifications", _col("serial", TEXT), _col("platform", TEXT), _col("sent_at", TEXT)
    )
    op.create_index(
        "wallet_notifications_serial", "wallet_notifications", ["serial", "platform", "sent_at"]
    )
    # Customers whose passes wait to be re-issued (coalescing, sync.central.wallet.updates).
    op.create_table(
        "wallet_updates",
        sa.Column("customer_id", TEXT, primary_key=True),
        _col("pending", INT),
        _col("changes", BIG),
        _col("tier_changes", INT),
        _col("due_at", TEXT),
        _col("last_sent_at", TEXT, True),
    )
    op.create_index("wallet_updates_due", "wallet_updates", ["pending", "due_at"])
    # Google callback nonces seen: a replayed callback is dropped.
    op.create_table(
        "google_callback_nonces",
        sa.Column("nonce", TEXT, primary_key=True),
        _col("received_at", TEXT),
    )
    # Loyalty at the centre (sync.central.wallet.loyalty): the newest event of each device
    # counted into a customer's balance, coupon uses from every store, conflicts.
    op.create_table(
        "loyalty_counted",
        sa.Column("customer_id", TEXT, primary_key=True),
        sa.Column("source", TEXT, primary_key=True),
        _col("seq", BIG),
    )
    op.create_table(
        "coupon_uses",
        sa.Column("code", TEXT, primary_key=True),
        sa.Column("sale_reference", TEXT, primary_key=True),
        _col("store_id", TEXT),
        _col("customer_id", TEXT, True),
        _col("points_spent", BIG),
        _col("max_redemptions", INT, True),
        _col("redeemed_at", TEXT),
    )
    op.create_table(
        "loyalty_conflicts",
        sa.Column("conflict_id", TEXT, primary_key=True),
        _col("kind", TEXT),
        _col("subject", TEXT),
        _col("customer_id", TEXT, True),
        _col("stores", TEXT),
        _col("detail", TEXT),
        _col("detected_at", TEXT),
        _col("updated_at", TEXT),
    )


def downgrade() -> None:
    for name in (
        "loyalty_conflicts",
        "coupon_uses",
        "loyalty_counted",
        "google_callback_nonces",
        "wallet_updates",
        "wallet_notifications",
        "wallet_push_queue",
        "wallet_registrations",
        "wallet_pages",
        "wallet_counters",
        "wallet_passes",
    ):
        op.drop_table(name)
