"""Events partitioned by month of their own time on PostgreSQL, for years of them.

`occurred_at` (the event's `time`, as a timestamp) joins the key: (event_id,
occurred_at) is what PostgreSQL can enforce across partitions, and a resend carries the
same time, so it still lands on the same row (see sync/central/partitions.py). An index
per store and time serves per-store queries. On SQLite the one table gets the column
and the index.

Revision 0002, after 0001.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from sync.central.partitions import create_month, ensure_partitions

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

COLUMNS = "event_id, store_id, source, seq, type, time, envelope, received_at"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.add_column("events", sa.Column("occurred_at", sa.Text, nullable=True))
        op.execute("UPDATE events SET occurred_at = time")
        op.create_index("events_store_time", "events", ["store_id", "occurred_at"])
        return
    op.execute("ALTER TABLE events RENAME TO events_unpartitioned")
    op.execute("ALTER INDEX events_source_seq RENAME TO events_unpartitioned_source_seq")
    op.execute("ALTER TABLE events_unpartitioned RENAME CONSTRAINT events_pkey TO events_up_pkey")
    op.execute(
        """CREATE TABLE events (
            event_id TEXT NOT NULL,
            store_id TEXT NOT NULL,
            source TEXT NOT NULL,
            seq BIGINT NOT NULL,
            type TEXT NOT NULL,
            time TEXT NOT NULL,
            envelope TEXT NOT NULL,
            received_at TEXT NOT NULL,
            occurred_at TIMESTAMPTZ NOT NULL,
            PRIMARY KEY (event_id, occurred_at)
        ) PARTITION BY RANGE (occurred_at)"""
    )
    op.execute("CREATE TABLE events_default PARTITION OF events DEFAULT")
    op.execute("CREATE INDEX events_source_seq ON events (source, seq)")
    op.execute("CREATE INDEX events_store_time ON events (store_id, occurred_at)")
    execute = _executor()
    months = execute(
        "SELECT DISTINCT date_trunc('month', time::timestamptz AT TIME ZONE 'UTC')"
        " FROM events_unpartitioned ORDER BY 1",
        [],
    ).fetchall()
    for (month,) in months:
        create_month(execute, month.replace(tzinfo=UTC))
    ensure_partitions(execute, datetime.now(UTC))
    op.execute(
        f"INSERT INTO events ({COLUMNS}, occurred_at)"
        f" SELECT {COLUMNS}, time::timestamptz FROM events_unpartitioned"
    )
    op.execute("DROP TABLE events_unpartitioned")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.drop_index("events_store_time", "events")
        with op.batch_alter_table("events") as batch:
            batch.drop_column("occurred_at")
        return
    op.execute("ALTER TABLE events RENAME TO events_partitioned")
    op.execute("ALTER INDEX events_source_seq RENAME TO events_partitioned_source_seq")
    op.execute(
        """CREATE TABLE events (
            event_id TEXT PRIMARY KEY,
            store_id TEXT NOT NULL,
            source TEXT NOT NULL,
            seq BIGINT NOT NULL,
            type TEXT NOT NULL,
            time TEXT NOT NULL,
            envelope TEXT NOT NULL,
            received_at TEXT NOT NULL
        )"""
    )
    op.execute("CREATE INDEX events_source_seq ON events (source, seq)")
    op.execute(
        f"INSERT INTO events ({COLUMNS}) SELECT {COLUMNS} FROM events_partitioned"
        " ON CONFLICT (event_id) DO NOTHING"
    )
    op.execute("DROP TABLE events_partitioned")


def _executor():  # type: ignore[no-untyped-def]
    bind = op.get_bind()
    return lambda sql, params: bind.exec_driver_sql(sql, tuple(params))
