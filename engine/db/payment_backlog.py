"""Payments not progressing: the backlog gauges of ``/metrics`` and ``easypay payments stuck``
(both served by the partial indexes on unfinished and unreconciled payments)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from engine.db.records import PaymentBacklogRecord, StuckPaymentRecord

_BACKLOG_SQL = text(
    """
    SELECT
      (SELECT count(*) FROM payments WHERE needs_reconciliation) AS reconciliation_backlog,
      (SELECT count(*) FROM payments WHERE status = 'pending') AS pending,
      (SELECT count(*) FROM payments WHERE status = 'processing') AS processing,
      (SELECT extract(epoch FROM now() - min(created_at)) FROM payments WHERE status = 'pending') AS pending_age_s,
      (SELECT extract(epoch FROM now() - min(created_at)) FROM payments WHERE status = 'processing') AS processing_age_s
    """
)

_STUCK_SQL = text(
    """
    SELECT id, merchant_id, status, needs_reconciliation, processor_attempts, created_at, updated_at,
           extract(epoch FROM now() - created_at) AS age_s
    FROM payments
    WHERE (status IN ('pending', 'processing') AND created_at < now() - make_interval(secs => :older_than_s))
       OR needs_reconciliation
    ORDER BY created_at
    LIMIT :limit
    """
)


async def backlog(conn: AsyncConnection) -> PaymentBacklogRecord:
    """Counts of unreconciled, pending and processing payments, and the age of the oldest in flight."""
    return PaymentBacklogRecord._make((await conn.execute(_BACKLOG_SQL)).one())


async def list_stuck(conn: AsyncConnection, *, older_than_s: int, limit: int) -> list[StuckPaymentRecord]:
    """Pending/processing payments older than ``older_than_s``, and those awaiting reconciliation; oldest first."""
    return [StuckPaymentRecord._make(row) for row in await conn.execute(_STUCK_SQL, {"older_than_s": older_than_s, "limit": limit})]
