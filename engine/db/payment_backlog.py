"""Payments not progressing: the backlog gauges of ``/metrics`` and ``easypay payments stuck``
(both served by the partial indexes on unfinished and unreconciled payments)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

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

_STUCK_WHERE = """(status IN ('pending', 'processing') AND created_at < now() - make_interval(secs => :older_than_s))
       OR needs_reconciliation"""
_STUCK_SELECT = """
    SELECT id, merchant_id, status, needs_reconciliation, processor_attempts, created_at, updated_at,
           extract(epoch FROM now() - created_at) AS age_s
    FROM payments
    WHERE ({where}){merchant}
    ORDER BY created_at
    LIMIT :limit
    """
_STUCK_SQL = text(_STUCK_SELECT.format(where=_STUCK_WHERE, merchant=""))
_MERCHANT_STUCK_SQL = text(_STUCK_SELECT.format(where=_STUCK_WHERE, merchant=" AND merchant_id = :merchant_id"))
#: One merchant's backlog (the dashboard's operators page); the global one above is the gauges'.
_MERCHANT_BACKLOG_SQL = text(
    """
    SELECT
      (SELECT count(*) FROM payments WHERE needs_reconciliation AND merchant_id = :merchant_id) AS reconciliation_backlog,
      (SELECT count(*) FROM payments WHERE status = 'pending' AND merchant_id = :merchant_id) AS pending,
      (SELECT count(*) FROM payments WHERE status = 'processing' AND merchant_id = :merchant_id) AS processing,
      (SELECT extract(epoch FROM now() - min(created_at)) FROM payments
        WHERE status = 'pending' AND merchant_id = :merchant_id) AS pending_age_s,
      (SELECT extract(epoch FROM now() - min(created_at)) FROM payments
        WHERE status = 'processing' AND merchant_id = :merchant_id) AS processing_age_s
    """
)


async def backlog(conn: AsyncConnection, *, merchant_id: uuid.UUID | None = None) -> Row[Any]:
    """Counts of unreconciled, pending and processing payments, and the age of the oldest in flight
    (of one merchant's payments when ``merchant_id`` is given)."""
    if merchant_id is None:
        return (await conn.execute(_BACKLOG_SQL)).one()
    return (await conn.execute(_MERCHANT_BACKLOG_SQL, {"merchant_id": merchant_id})).one()


async def list_stuck(conn: AsyncConnection, *, older_than_s: int, limit: int, merchant_id: uuid.UUID | None = None) -> list[Row[Any]]:
    """Pending/processing payments older than ``older_than_s``, and those awaiting reconciliation; oldest first
    (one merchant's when ``merchant_id`` is given)."""
    params: dict[str, Any] = {"older_than_s": older_than_s, "limit": limit}
    if merchant_id is None:
        return list((await conn.execute(_STUCK_SQL, params)).all())
    return list((await conn.execute(_MERCHANT_STUCK_SQL, {**params, "merchant_id": merchant_id})).all())
