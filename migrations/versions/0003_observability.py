"""observability: partial indexes for the backlog gauges and `easypay payments stuck`

/metrics reads, on every scrape, how many payments are pending, processing or awaiting
reconciliation and the oldest of each; these partial indexes keep that O(backlog), not O(table).

Revision ID: 0003_observability
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_observability"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_payments_in_flight_status_created",
        "payments",
        ["status", "created_at"],
        unique=False,
        postgresql_where=sa.text("status IN ('pending', 'processing')"),
    )
    op.create_index(
        "ix_payments_needs_reconciliation_created",
        "payments",
        ["created_at"],
        unique=False,
        postgresql_where=sa.text("needs_reconciliation"),
    )


def downgrade() -> None:
    op.drop_index("ix_payments_needs_reconciliation_created", table_name="payments")
    op.drop_index("ix_payments_in_flight_status_created", table_name="payments")
