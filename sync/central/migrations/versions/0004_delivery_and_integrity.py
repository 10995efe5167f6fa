"""Delivery to the retailer's platforms and each device's hash chain.

- `events` gains `chain_prev` (the link an event carries, NULL from agents before the
  chain) and `chain_hash` (SHA-256 of its text as sent), sync.central.integrity;
- `subscriptions`, `delivery_cursors` (per subscription and device: delivered through
  seq, lease, retry state, counters) and `delivery_dead_letters`,
  sync.central.delivery;
- `integrity_alarms` (each raised once) and `device_chains` (chained or not, alarms);
- `rejected_events` gains `source` and `seq`: a refused event counts as arrived in its
  device's sequence (sync.central.ingest).

Revision 0003, after 0002.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TEXT = sa.Text
BIG = sa.BigInteger


def _col(name: str, type_: type, nullable: bool = False) -> sa.Column:
    return sa.Column(name, type_, nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("events") as events:
        events.add_column(_col("chain_prev", TEXT, nullable=True))
        events.add_column(_col("chain_hash", TEXT, nullable=True))
    # A refused event's device and seq (when it proved to come from a device of the
    # store): it counts as arrived, so it does not hold that device's delivery forever.
    with op.batch_alter_table("rejected_events") as rejected:
        rejected.add_column(_col("source", TEXT, nullable=True))
        rejected.add_column(_col("seq", BIG, nullable=True))
    op.create_index("rejected_events_source_seq", "rejected_events", ["source", "seq"])
    # One row per platform; `secrets` is a JSON list of Standard Webhooks secrets, each
    # of which signs (rotation).
    op.create_table(
        "subscriptions",
        sa.Column("id", TEXT, primary_key=True),
        _col("url", TEXT),
        _col("types", TEXT),
        _col("stores", TEXT),
        _col("secrets", TEXT),
        _col("batch_max", sa.Integer),
        _col("state", TEXT),
        _col("created_at", TEXT),
        _col("updated_at", TEXT),
    )
    # Per subscription and device: everything through delivered_seq is done; a worker
    # holds the row (lease_owner until lease_until) while it sends.
    op.create_table(
        "delivery_cursors",
        sa.Column("subscription_id", TEXT, primary_key=True),
        sa.Column("source", TEXT, primary_key=True),
        _col("delivered_seq", BIG),
        _col("delivered_count", BIG),
        _col("failure_count", BIG),
        _col("attempts", sa.Integer),
        _col("next_attempt_at", TEXT, nullable=True),
        _col("lease_owner", TEXT, nullable=True),
        _col("lease_until", TEXT, nullable=True),
        _col("last_error", TEXT, nullable=True),
        _col("last_delivered_at", TEXT, nullable=True),
        _col("updated_at", TEXT),
    )
    op.create_table(
        "delivery_dead_letters",
        sa.Column("subscription_id", TEXT, primary_key=True),
        sa.Column("event_id", TEXT, primary_key=True),
        _col("source", TEXT),
        _col("seq", BIG),
        _col("type", TEXT),
        _col("status", sa.Integer),
        _col("response", TEXT),
        _col("failed_at", TEXT),
    )
    op.create_table(
        "integrity_alarms",
        sa.Column("alarm_id", TEXT, primary_key=True),
        _col("source", TEXT),
        _col("store_id", TEXT),
        _col("seq", BIG),
        _col("kind", TEXT),
        _col("detail", TEXT),
        _col("detected_at", TEXT),
    )
    op.create_table(
        "device_chains",
        sa.Column("source", TEXT, primary_key=True),
        _col("store_id", TEXT),
        _col("chained", sa.Integer),
        _col("alarms", BIG),
        _col("last_alarm", TEXT, nullable=True),
        _col("updated_at", TEXT),
    )


def downgrade() -> None:
    for name in (
        "device_chains",
        "integrity_alarms",
        "delivery_dead_letters",
        "delivery_cursors",
        "subscriptions",
    ):
        op.drop_table(name)
    op.drop_index("rejected_events_source_seq", "rejected_events")
    with op.batch_alter_table("rejected_events") as rejected:
        rejected.drop_column("seq")
        rejected.drop_column("source")
    with op.batch_alter_table("events") as events:
        events.drop_column("chain_hash")
        events.drop_column("chain_prev")
