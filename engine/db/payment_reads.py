"""The API's reads of payments: one payment (``get_payment_view``) and a page of them
(``list_payments``), each selecting only the columns the public object shows.

A whole ``payments`` row also carries the billing address (JSON, decoded on every read), the invoice
number and the worker's bookkeeping; on a page of 100 reading them was a third of the read's time.
The workers and the use cases read whole rows (``engine.db.payments.get_payment``).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import and_, select, true
from sqlalchemy.ext.asyncio import AsyncConnection

from engine.db.keyset import Keyset, fetch_page
from engine.db.payments import PaymentNotFound, payments
from engine.pages import Page

PAYMENT_ORDER = Keyset((payments.c.created_at, payments.c.id))


class PaymentViewRecord(NamedTuple):
    """The columns of a ``payments`` row its public object shows (``engine.views.payment_view``),
    with the ``merchant_id`` and ``version`` a cache write needs."""

    id: uuid.UUID
    merchant_id: uuid.UUID
    status: str
    amount_minor: int
    currency: str
    capture: bool
    amount_captured_minor: int
    amount_refunded_minor: int
    payment_method_type: str
    card_brand: str | None
    card_last4: str | None
    card_exp_month: int | None
    card_exp_year: int | None
    processor_transaction_id: str | None
    processor_auth_code: str | None
    processor_avs_result: str | None
    processor_cvv_result: str | None
    failure_code: str | None
    failure_message: str | None
    failure_processor_code: str | None
    customer_id: str | None
    description: str | None
    metadata: dict[str, Any]
    pending_operation: str | None
    settled_at: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime


#: What these reads select: the public object's columns, in ``PaymentViewRecord`` order.
VIEW_COLUMNS = tuple(payments.c[name] for name in PaymentViewRecord._fields)


async def get_payment_view(
    conn: AsyncConnection, payment_id: uuid.UUID, *, merchant_id: uuid.UUID | None = None
) -> PaymentViewRecord | None:
    """The columns of one payment its public object shows (``merchant_id``: only if it is that
    merchant's)."""
    query = select(*VIEW_COLUMNS).where(payments.c.id == payment_id)
    if merchant_id is not None:
        query = query.where(payments.c.merchant_id == merchant_id)
    row = (await conn.execute(query)).one_or_none()
    return None if row is None else PaymentViewRecord._make(row)


async def list_payments(
    conn: AsyncConnection,
    merchant_id: uuid.UUID | None,
    *,
    limit: int,
    starting_after: uuid.UUID | None = None,
    status: str | None = None,
    customer_id: str | None = None,
    created_gte: datetime | None = None,
    created_lt: datetime | None = None,
) -> Page[PaymentViewRecord]:
    """Newest first, keyset-paginated on ``(created_at, id)``; the columns the public object shows.

    ``merchant_id`` None lists every merchant's payments (admins). A ``starting_after`` id that
    is not one of the listed payments raises ``PaymentNotFound``.
    """
    scoped = [payments.c.merchant_id == merchant_id] if merchant_id is not None else []
    conditions = list(scoped)
    if status is not None:
        conditions.append(payments.c.status == status)
    if customer_id is not None:
        conditions.append(payments.c.customer_id == customer_id)
    if created_gte is not None:
        conditions.append(payments.c.created_at >= created_gte)
    if created_lt is not None:
        conditions.append(payments.c.created_at < created_lt)
    return await fetch_page(
        conn,
        select(*VIEW_COLUMNS).where(and_(true(), *conditions)),
        PAYMENT_ORDER,
        limit=limit,
        make=PaymentViewRecord._make,
        starting_after=starting_after,
        within=scoped,
        missing=PaymentNotFound,
    )


__all__ = ["PAYMENT_ORDER", "PaymentViewRecord", "VIEW_COLUMNS", "get_payment_view", "list_payments"]
