"""processor latency

``payments.processor_ms``: how long the processor took to answer the charge whose outcome is
recorded, written by the same UPDATE that records the outcome (no extra statement on the charge
path). Nullable: payments charged before this revision, and those never answered, have none.

Revision ID: 0008_processor_latency
Revises: 0007_token_version
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_processor_latency"
down_revision = "0007_token_version"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("payments", sa.Column("processor_ms", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("payments", "processor_ms")
