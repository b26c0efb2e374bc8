"""A payment's history: every ``payment_events`` row of it, oldest first (the order they happened)."""

from __future__ import annotations

import uuid
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from engine.db.models import PaymentEvent
from engine.db.records import PaymentEventRecord

events = PaymentEvent.__table__

#: More than any payment's lifecycle writes (a charge, a capture, a few refunds): a cap, not a page.
MAX_HISTORY_EVENTS = 500


async def payment_history(conn: AsyncConnection, payment_id: uuid.UUID, *, limit: int = MAX_HISTORY_EVENTS) -> list[PaymentEventRecord]:
    """The payment's events in the order they were written (``id``); call it after checking that
    the caller may see the payment (the rows carry no tenancy check of their own)."""
    query = select(events).where(events.c.payment_id == payment_id).order_by(events.c.id).limit(limit)
    return [PaymentEventRecord._make(row) for row in await conn.execute(query)]
