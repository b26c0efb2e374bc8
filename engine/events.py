"""Merchant-facing events (the contract's ``payment.*`` and ``refund.*`` types).

``record_event`` is the one way an event comes to exist. It runs inside the transaction of the
change it reports, so an event exists exactly when its change was committed. The event JSON is
encoded once here and stored as bytes: the API and every webhook attempt serve those same bytes.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from enum import StrEnum
from typing import Any, Literal

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from engine.db.webhook_outbox import insert_event_with_deliveries
from engine.states import HISTORY_EVENT_TYPES, REFUND_EVENT_TYPES, PaymentStatus

#: Payment statuses that announce themselves to merchants, and the event type each one emits.
#: ``pending``/``processing`` are internal steps; ``partially_refunded`` is told by ``refund.succeeded``.
PAYMENT_EVENT_TYPES: dict[PaymentStatus, str] = {
    status: HISTORY_EVENT_TYPES[status]
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

#: Told to the merchant (API and other endpoints) when an endpoint is disabled for 410 or failing.
ENDPOINT_DISABLED = "webhook_endpoint.disabled"

#: Every event type a merchant can receive (and subscribe a webhook endpoint to).
PUBLIC_EVENT_TYPES: tuple[str, ...] = (
    *PAYMENT_EVENT_TYPES.values(),
    *REFUND_EVENT_TYPES.values(),
    ENDPOINT_DISABLED,
)


#: The event types as a type, so documents (OpenAPI) can list them.
# mypy reads an enum's members only from a literal list: here they come from PUBLIC_EVENT_TYPES.
EventType = StrEnum("EventType", {t.replace(".", "_").upper(): t for t in PUBLIC_EVENT_TYPES})  # type: ignore[misc]


class EventData(msgspec.Struct):
    object: Any


class EventView(msgspec.Struct, kw_only=True):
    id: str
    object: Literal["event"] = "event"
    type: EventType
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
    """Write one event carrying ``snapshot`` (the payment or refund object as it is now).

    In the same transaction, one pending webhook delivery is written per enabled endpoint of the
    merchant that subscribes to ``type`` (a transactional outbox): the event cannot commit without
    its deliveries, nor they without it.
    """
    view, body = new_event(type, snapshot)
    await insert_event_with_deliveries(
        conn,
        event_id=uuid.UUID(view.id),
        merchant_id=merchant_id,
        event_type=type,
        object_type=object_type,
        object_id=object_id,
        body=body,
        created_at=view.created_at,
    )
    return view


def new_event(type: str, snapshot: msgspec.Struct) -> tuple[EventView, bytes]:
    """A new event of ``type`` carrying ``snapshot``, and its JSON (what is stored and sent)."""
    if type not in PUBLIC_EVENT_TYPES:
        raise ValueError(f"unknown event type {type!r}")
    view = EventView(id=str(uuid.uuid4()), type=EventType(type), created_at=datetime.now(timezone.utc), data=EventData(object=snapshot))
    return view, _encoder.encode(view)
