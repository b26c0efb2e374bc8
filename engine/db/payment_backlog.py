"""Payments not progressing: the backlog gauges of ``/metrics`` and ``easypay payments stuck``
(both served by the partial indexes on unfinished and unreconciled payments), for every merchant
or, on the dashboard's operators page, one."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from engine.db.records import PaymentBacklogRecord, StuckPaymentRecord

#: The gauges' backlog (every merchant), or with `` AND merchant_id = :merchant_id`` one merchant's
#: (the dashboard's operators page).
_BACKLOG_SELECT = """
    SELECT
      (SELECT count(*) FROM payments WHERE needs_reconciliation{merchant}) AS reconciliation_backlog,
      (SELECT count(*) FROM payments WHERE status = 'pending'{merchant}) AS pending,
      (SELECT count(*) FROM payments WHERE status = 'processing'{merchant}) AS processing,
      (SELECT extract(epoch FROM now() - min(created_at)) FROM payments WHERE status = 'pending'{merchant}) AS pending_age_s,
      (SELECT extract(epoch FROM now() - min(created_at)) FROM payments WHERE status = 'processing'{merchant}) AS processing_age_s
    """
_ONE_MERCHANT = " AND merchant_id = :merchant_id"
_BACKLOG_SQL = text(_BACKLOG_SELECT.format(merchant=""))
_MERCHANT_BACKLOG_SQL = text(_BACKLOG_SELECT.format(merchant=_ONE_MERCHANT))

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
_MERCHANT_STUCK_SQL = text(_STUCK_SELECT.format(where=_STUCK_WHERE, merchant=_ONE_MERCHANT))

#: Which of some ids (the subjects of queue messages) are one merchant's payments or refunds.
_OWNED_SQL = text(
    """
    SELECT id FROM payments WHERE id = ANY(:ids) AND merchant_id = :merchant_id
    UNION ALL
    SELECT id FROM refunds WHERE id = ANY(:ids) AND merchant_id = :merchant_id
    """
)


async def backlog(conn: AsyncConnection, *, merchant_id: uuid.UUID | None = None) -> PaymentBacklogRecord:
    """Counts of unreconciled, pending and processing payments, and the age of the oldest in flight
    (of one merchant's payments when ``merchant_id`` is given)."""
    if merchant_id is None:
        return PaymentBacklogRecord._make((await conn.execute(_BACKLOG_SQL)).one())
    return PaymentBacklogRecord._make((await conn.execute(_MERCHANT_BACKLOG_SQL, {"merchant_id": merchant_id})).one())


async def list_stuck(conn: AsyncConnection, *, older_than_s: int, limit: int, merchant_id: uuid.UUID | None = None) -> list[StuckPaymentRecord]:
    """Pending/processing payments older than ``older_than_s``, and those awaiting reconciliation; oldest first
    (one merchant's when ``merchant_id`` is given)."""
    params: dict[str, Any] = {"older_than_s": older_than_s, "limit": limit}
    if merchant_id is None:
        return [StuckPaymentRecord._make(row) for row in await conn.execute(_STUCK_SQL, params)]
    return [StuckPaymentRecord._make(row) for row in await conn.execute(_MERCHANT_STUCK_SQL, {**params, "merchant_id": merchant_id})]


async def owned_by(conn: AsyncConnection, ids: list[uuid.UUID], merchant_id: uuid.UUID) -> set[uuid.UUID]:
    """Those of ``ids`` that are payments or refunds of ``merchant_id`` (dead letters of one merchant)."""
    if not ids:
        return set()
    return set((await conn.execute(_OWNED_SQL, {"ids": ids, "merchant_id": merchant_id})).scalars())
