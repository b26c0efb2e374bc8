"""Merchant-facing events (the contract's ``payment.*`` and ``refund.*`` types).

``record_event`` is the one way an event comes to exist. It runs inside the transaction of the
change it reports, so an event exists exactly when its change was committed. The event JSON is
encoded once here and stored as bytes: the API and every webhook attempt serve those same bytes.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any, Literal

import msgspec
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from engine.db.models import Event
from engine.states import PaymentStatus

events = Event.__table__
_INSERT_EVENT = insert(events)

#: Payment statuses that announce themselves to merchants, and the event type each one emits.
#: ``pending``/``processing`` are internal steps; ``partially_refunded`` is told by ``refund.succeeded``.
PAYMENT_EVENT_TYPES: dict[PaymentStatus, str] = {
    status: f"payment.{status.value}"
    for status in (
        PaymentStatus.AUTHORIZED,
        PaymentStatus.CAPTURED,
        PaymentStatus.DECLINED,
        PaymentStatus.FAILED,
        PaymentStatus.VOIDED,
        PaymentStatus.EXPIRED,
        PaymentStatus.REFUNDED,
    )
}

#: Every event type a merchant can receive (and subscribe a webhook endpoint to).
EVENT_TYPES: tuple[str, ...] = (*PAYMENT_EVENT_TYPES.values(), "refund.succeeded", "refund.failed")


class EventData(msgspec.Struct):
    object: Any


class EventView(msgspec.Struct, kw_only=True):
    id: str
    object: Literal["event"] = "event"
    type: str
    created_at: datetime
    data: EventData


_encoder = msgspec.json.Encoder()


async def record_event(
    conn: AsyncConnection,
    *,
    merchant_id: uuid.UUID,
    type: str,
    object_type: str,
    object_id: uuid.UUID,
    snapshot: msgspec.Struct,
) -> EventView:
    """Write one event carrying ``snapshot`` (the payment or refund object as it is now)."""
    if type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type!r}")
    event_id = uuid.uuid4()
    created_at = datetime.now(timezone.utc)
    view = EventView(id=str(event_id), type=type, created_at=created_at, data=EventData(object=snapshot))
    await conn.execute(
        _INSERT_EVENT,
        {
            "id": event_id,
            "merchant_id": merchant_id,
            "type": type,
            "object_type": object_type,
            "object_id": object_id,
            "body": _encoder.encode(view),
            "created_at": created_at,
        },
    )
    return view
