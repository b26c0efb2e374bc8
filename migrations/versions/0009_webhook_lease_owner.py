"""webhook lease owner

``webhook_deliveries.lease_owner``: the delivery runner (one per ``webhooks`` worker process, a
random id per run) that claimed the lease, NULL for leases claimed by ``easypay webhooks
dispatch``. A runner that alone holds every live lease of an endpoint may lease a few of its
deliveries ahead (it still keeps at most ``WEBHOOK_ENDPOINT_MAX_IN_FLIGHT`` attempts in flight),
see ``engine.db.webhook_outbox.claim_ctes``. Nullable, no index: it is only read next to
``lease_until`` on rows the leased index already finds.

Revision ID: 0009_webhook_lease_owner
Revises: 0008_processor_latency
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0009_webhook_lease_owner"
down_revision = "0008_processor_latency"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("webhook_deliveries", sa.Column("lease_owner", UUID(as_uuid=True), nullable=True))


def downgrade() -> None:
    op.drop_column("webhook_deliveries", "lease_owner")
