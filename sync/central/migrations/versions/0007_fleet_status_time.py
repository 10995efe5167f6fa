"""`fleet` gains `status_at`: the device's own time of the status a row holds.

Statuses reach the workers through a shared subscription, in no common order, and a
worker that starts a session is sent every retained one again: a row keeps the newest
by this time (sync.central.fleet). Rows written before it have none and take the next
status whatever its time.

Revision 0007, after 0006.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("fleet") as fleet:
        fleet.add_column(sa.Column("status_at", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("fleet") as fleet:
        fleet.drop_column("status_at")
