"""Queries of the recovery jobs (``engine.reconcile``, ``engine.sweeps``): what is due, what is
stale, rescheduling and the reconciler's take-over of a charge."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from engine.db.payments import payments
from engine.db.records import PaymentRecord, StaleOperationRecord, UnsettledCaptureRecord
from engine.db.refunds import refunds
from engine.states import PaymentStatus, RefundStatus

# ------------------------------------------------------------------------------------------------
# Reconciliation


async def due_payment_ids(conn: AsyncConnection, *, now: datetime, min_age: datetime, limit: int) -> list[uuid.UUID]:
    """Payments needing reconciliation whose next look is due (charges only once ``min_age`` old)."""
    query = (
        select(payments.c.id)
        .where(
            payments.c.needs_reconciliation,
            or_(payments.c.reconcile_next_at.is_(None), payments.c.reconcile_next_at <= now),
            or_(
                payments.c.status != PaymentStatus.PROCESSING.value,
                func.coalesce(payments.c.processing_started_at, payments.c.created_at) <= min_age,
            ),
        )
        .order_by(payments.c.reconcile_next_at.asc().nulls_first())
        .limit(limit)
    )
    return list((await conn.execute(query)).scalars().all())


async def due_refund_ids(conn: AsyncConnection, *, now: datetime, limit: int) -> list[uuid.UUID]:
    query = (
        select(refunds.c.id)
        .where(
            refunds.c.needs_reconciliation,
            refunds.c.status == RefundStatus.PENDING.value,
            or_(refunds.c.reconcile_next_at.is_(None), refunds.c.reconcile_next_at <= now),
        )
        .limit(limit)
    )
    return list((await conn.execute(query)).scalars().all())


async def reschedule(conn: AsyncConnection, kind: str, row_id: uuid.UUID, *, attempts: int, next_at: datetime) -> None:
    """Look at a payment or refund (``kind``) again at ``next_at``, after ``attempts`` looks."""
    table = payments if kind == "payment" else refunds
    await conn.execute(
        update(table).where(table.c.id == row_id).values(reconcile_next_at=next_at, reconcile_attempts=attempts)
    )


async def clear_reconciliation(conn: AsyncConnection, payment_id: uuid.UUID) -> None:
    """Drop the flag of a payment with nothing in flight (compare-and-set: a charge in progress or
    a capture/void queued meanwhile keeps it)."""
    await conn.execute(
        update(payments)
        .where(
            payments.c.id == payment_id,
            payments.c.status != PaymentStatus.PROCESSING.value,
            payments.c.pending_operation.is_(None),
        )
        .values(needs_reconciliation=False)
    )


async def take_over_charge(
    conn: AsyncConnection, row: PaymentRecord, *, message_id: str, attempts: int, next_in_s: float
) -> bool:
    """Make ``message_id`` the owner of a charge still owned by ``row.processing_message_id``."""
    taken = await conn.execute(
        update(payments)
        .where(
            payments.c.id == row.id,
            payments.c.status == PaymentStatus.PROCESSING.value,
            payments.c.processing_message_id == row.processing_message_id,
        )
        .values(
            processing_message_id=message_id,
            reconcile_attempts=attempts,
            reconcile_next_at=func.now() + timedelta(seconds=next_in_s),
        )
    )
    return bool(taken.rowcount == 1)


# ------------------------------------------------------------------------------------------------
# Sweeps


async def unsettled_captures(conn: AsyncConnection, *, limit: int) -> list[UnsettledCaptureRecord]:
    """Captured payments not yet seen settled: (id, processor_transaction_id, currency)."""
    query = (
        select(payments.c.id, payments.c.processor_transaction_id, payments.c.currency)
        .where(
            payments.c.settled_at.is_(None),
            payments.c.status.in_([PaymentStatus.CAPTURED.value, PaymentStatus.PARTIALLY_REFUNDED.value]),
            payments.c.processor_transaction_id.is_not(None),
        )
        .order_by(payments.c.updated_at)
        .limit(limit)
    )
    return [UnsettledCaptureRecord._make(row) for row in await conn.execute(query)]


async def expirable_authorization_ids(conn: AsyncConnection, *, cutoff: datetime, limit: int) -> list[uuid.UUID]:
    query = (
        select(payments.c.id)
        .where(
            payments.c.status == PaymentStatus.AUTHORIZED.value,
            payments.c.pending_operation.is_(None),
            func.coalesce(payments.c.authorized_at, payments.c.created_at) <= cutoff,
        )
        .limit(limit)
    )
    return list((await conn.execute(query)).scalars().all())


async def stale_pending_ids(conn: AsyncConnection, *, before: datetime, limit: int) -> list[uuid.UUID]:
    """Payments still ``pending`` that were created before ``before``, oldest first."""
    query = (
        select(payments.c.id)
        .where(payments.c.status == PaymentStatus.PENDING.value, payments.c.created_at <= before)
        .order_by(payments.c.created_at)
        .limit(limit)
    )
    return list((await conn.execute(query)).scalars().all())


async def stale_operations(conn: AsyncConnection, *, before: datetime, limit: int) -> list[StaleOperationRecord]:
    """Captures/voids pending since before ``before`` with a known outcome: (id, pending_operation)."""
    query = (
        select(payments.c.id, payments.c.pending_operation)
        .where(
            payments.c.pending_operation.is_not(None),
            ~payments.c.needs_reconciliation,
            payments.c.updated_at <= before,
        )
        .limit(limit)
    )
    return [StaleOperationRecord._make(row) for row in await conn.execute(query)]


async def stale_refund_ids(conn: AsyncConnection, *, before: datetime, limit: int) -> list[uuid.UUID]:
    query = (
        select(refunds.c.id)
        .where(
            refunds.c.status == RefundStatus.PENDING.value,
            ~refunds.c.needs_reconciliation,
            refunds.c.updated_at <= before,
        )
        .limit(limit)
    )
    return list((await conn.execute(query)).scalars().all())
