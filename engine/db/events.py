"""Reading events: one by id, or a page, newest first (SQL on an ``AsyncConnection``)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from engine.db.keyset import Keyset, fetch_page
from engine.db.models import Event
from engine.db.records import EventBodyRecord, EventRecord
from engine.errors import EasyPayError
from engine.pages import Page

events = Event.__table__
EVENT_ORDER = Keyset((events.c.created_at, events.c.id))


async def get_event(conn: AsyncConnection, event_id: uuid.UUID, *, merchant_id: uuid.UUID | None) -> EventRecord | None:
    """The event, if it belongs to ``merchant_id`` (None: any merchant)."""
    query = select(events).where(events.c.id == event_id)
    if merchant_id is not None:
        query = query.where(events.c.merchant_id == merchant_id)
    row = (await conn.execute(query)).one_or_none()
    return None if row is None else EventRecord._make(row)


class EventNotFound(EasyPayError, LookupError):
    """No such event (or not the merchant's)."""


async def list_events(
    conn: AsyncConnection,
    merchant_id: uuid.UUID | None,
    *,
    limit: int,
    starting_after: uuid.UUID | None = None,
    type: str | None = None,
    object_id: uuid.UUID | None = None,
    created_gte: datetime | None = None,
    created_lt: datetime | None = None,
) -> Page[EventBodyRecord]:
    """Newest first, keyset-paginated on ``(created_at, id)``.

    ``merchant_id`` None lists every merchant's events (admins). Raises ``EventNotFound`` for a
    ``starting_after`` that is not one of the listed merchant's events.
    """
    owned = [] if merchant_id is None else [events.c.merchant_id == merchant_id]
    conditions = list(owned)
    if type is not None:
        conditions.append(events.c.type == type)
    if object_id is not None:  # the payment or refund the events are about
        conditions.append(events.c.object_id == object_id)
    if created_gte is not None:
        conditions.append(events.c.created_at >= created_gte)
    if created_lt is not None:
        conditions.append(events.c.created_at < created_lt)
    return await fetch_page(
        conn,
        select(events.c.id, events.c.body).where(*conditions),
        EVENT_ORDER,
        limit=limit,
        make=EventBodyRecord._make,
        starting_after=starting_after,
        within=owned,
        missing=EventNotFound,
    )
