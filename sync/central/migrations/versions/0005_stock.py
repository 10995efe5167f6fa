"""Stock at the centre: the chain's stores with their location, the figure per store and
GTIN, and the delta files and stream batches already applied (sync.central.stock).

Revision 0005, after 0004.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Stores of the chain and where they are: "nearest first" is measured from here.
    op.create_table(
        "stores",
        sa.Column("store_id", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("latitude", sa.Float(precision=53)),
        sa.Column("longitude", sa.Float(precision=53)),
        sa.Column("updated_at", sa.Text, nullable=False),
    )
    # The centre's figure per store and GTIN, as of a time. `pending`: moved since the
    # store was last told (the flusher sends it and clears the mark); `load_id`: the file
    # load that last wrote it (that load tells the store itself). Keyed GTIN first: "who
    # has these GTINs" is the query a till waits for; per-store work is bulk (a
    # snapshot's zeroing) or goes through the small pending index.
    op.create_table(
        "stock_levels",
        sa.Column("store_id", sa.Text, nullable=False),
        sa.Column("gtin", sa.Text, nullable=False),
        sa.Column("quantity", sa.BigInteger, nullable=False),
        sa.Column("as_of", sa.Text, nullable=False),
        sa.Column("pending", sa.Integer, nullable=False),
        sa.Column("load_id", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("gtin", "store_id"),
    )
    op.create_index(
        "stock_levels_pending",
        "stock_levels",
        ["store_id"],
        postgresql_where=sa.text("pending = 1"),
        sqlite_where=sa.text("pending = 1"),
    )
    # Delta files and stream batches already applied: a movement counts once.
    op.create_table(
        "stock_batches",
        sa.Column("batch_id", sa.Text, primary_key=True),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("rows", sa.BigInteger, nullable=False),
        sa.Column("loaded_at", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("stock_batches")
    op.drop_index("stock_levels_pending", table_name="stock_levels")
    op.drop_table("stock_levels")
    op.drop_table("stores")
