"""The charge a message owns: a payment ``processing`` under that message's id. What the
processing worker writes outside a status change (SQL on an ``AsyncConnection``)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from engine.db.payments import payments
from engine.states import PaymentStatus


def still_owned(message_id: str) -> tuple[Any, ...]:
    """The row is still this message's charge in progress (no one else finished or took it over)."""
    return (
        payments.c.status == PaymentStatus.PROCESSING.value,
        payments.c.processing_message_id == message_id,
    )


async def set_fields(conn: AsyncConnection, payment_id: uuid.UUID, values: dict[str, Any]) -> None:
    """Write ``values`` onto the payment, no event (a message resuming its own charge, row locked)."""
    await conn.execute(update(payments).where(payments.c.id == payment_id).values(**values))


async def set_fields_if_owned(conn: AsyncConnection, payment_id: uuid.UUID, message_id: str, values: dict[str, Any]) -> None:
    """``set_fields`` as a compare-and-set on the charge still being ``message_id``'s."""
    await conn.execute(update(payments).where(payments.c.id == payment_id, *still_owned(message_id)).values(**values))
