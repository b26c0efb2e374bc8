"""Refund rows (SQLAlchemy Core). ``transition_refund`` is the only writer of ``refunds.status``;
it writes the refund's merchant event (``refund.succeeded`` / ``refund.failed``) in the same
transaction."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from engine.db.keyset import Keyset, fetch_page
from engine.db.models import Refund
from engine.db.records import RefundRecord
from engine.errors import EasyPayError
from engine.events import record_event
from engine.pages import Page
from engine.states import REFUND_EVENT_TYPES, IllegalRefundTransition, RefundStatus, RefundTrigger, apply_refund
from engine.views import refund_view

refunds = Refund.__table__
REFUND_ORDER = Keyset((refunds.c.created_at, refunds.c.id))

#: Refund statuses whose amount counts against the captured amount (pending ones are reserved).
RESERVING = (RefundStatus.PENDING.value, RefundStatus.SUCCEEDED.value)


class RefundNotFound(EasyPayError, LookupError):
    """No refund with that id."""


async def insert_refund(conn: AsyncConnection, values: dict[str, Any]) -> RefundRecord:
    return RefundRecord._make(
        (await conn.execute(insert(refunds).values(**values, status=RefundStatus.PENDING.value).returning(refunds))).one()
    )


async def get_refund(
    conn: AsyncConnection, refund_id: uuid.UUID, *, merchant_id: uuid.UUID | None = None, for_update: bool = False
) -> RefundRecord | None:
    query = select(refunds).where(refunds.c.id == refund_id)
    if merchant_id is not None:
        query = query.where(refunds.c.merchant_id == merchant_id)
    if for_update:
        query = query.with_for_update()
    row = (await conn.execute(query)).one_or_none()
    return None if row is None else RefundRecord._make(row)


async def list_refunds(
    conn: AsyncConnection, payment_id: uuid.UUID, *, limit: int, starting_after: uuid.UUID | None = None
) -> Page[RefundRecord]:
    """One page of a payment's refunds, newest first (keyset on
    ``(created_at, id)``, like every other list); ``RefundNotFound`` for a cursor not of this payment."""
    mine = [refunds.c.payment_id == payment_id]
    return await fetch_page(
        conn,
        select(refunds).where(*mine),
        REFUND_ORDER,
        limit=limit,
        make=RefundRecord._make,
        starting_after=starting_after,
        within=mine,
        missing=RefundNotFound,
    )


async def reserved_minor(conn: AsyncConnection, payment_id: uuid.UUID) -> int:
    """Sum of pending and succeeded refunds of a payment (call under the payment's row lock)."""
    total = await conn.scalar(
        select(func.coalesce(func.sum(refunds.c.amount_minor), 0)).where(
            refunds.c.payment_id == payment_id, refunds.c.status.in_(RESERVING)
        )
    )
    return int(total or 0)


async def has_pending(conn: AsyncConnection, payment_id: uuid.UUID) -> bool:
    found = await conn.scalar(
        select(refunds.c.id).where(refunds.c.payment_id == payment_id, refunds.c.status == RefundStatus.PENDING.value).limit(1)
    )
    return found is not None


async def annotate_refund(conn: AsyncConnection, refund_id: uuid.UUID, changes: dict[str, Any]) -> RefundRecord:
    """Change non-status fields (processor id, reconciliation flags, method)."""
    return RefundRecord._make(
        (
            await conn.execute(
                update(refunds).where(refunds.c.id == refund_id).values(updated_at=func.now(), **changes).returning(refunds)
            )
        ).one()
    )


async def transition_refund(
    conn: AsyncConnection, refund_id: uuid.UUID, trigger: RefundTrigger, *, changes: dict[str, Any] | None = None
) -> RefundRecord:
    """Apply ``trigger`` under a row lock, write the status and the refund's merchant event.

    Raises ``RefundNotFound`` or ``IllegalRefundTransition`` (nothing written).
    """
    current = await get_refund(conn, refund_id, for_update=True)
    if current is None:
        raise RefundNotFound(str(refund_id))
    new_status = apply_refund(current.status, trigger)
    row = RefundRecord._make(
        (
            await conn.execute(
                update(refunds)
                .where(refunds.c.id == refund_id)
                .values(status=new_status.value, updated_at=func.now(), **(changes or {}))
                .returning(refunds)
            )
        ).one()
    )
    await record_event(
        conn,
        merchant_id=row.merchant_id,
        type=REFUND_EVENT_TYPES[new_status],
        object_type="refund",
        object_id=row.id,
        snapshot=refund_view(row),
    )
    return row


__all__ = ["IllegalRefundTransition", "RefundNotFound", "annotate_refund", "get_refund", "insert_refund",
           "list_refunds", "reserved_minor", "has_pending", "transition_refund"]
