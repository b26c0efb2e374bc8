"""Webhook endpoints: SQL on an ``AsyncConnection``."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from engine.db.keyset import Keyset, fetch_page
from engine.db.models import WebhookEndpoint
from engine.db.records import WebhookEndpointRecord
from engine.errors import EasyPayError
from engine.pages import Page

endpoints = WebhookEndpoint.__table__
ENDPOINT_ORDER = Keyset((endpoints.c.created_at, endpoints.c.id))


class EndpointNotFound(EasyPayError, LookupError):
    """No webhook endpoint with that id (or not the merchant's)."""


async def insert_endpoint(conn: AsyncConnection, values: dict[str, Any]) -> WebhookEndpointRecord:
    return WebhookEndpointRecord._make((await conn.execute(insert(endpoints).values(**values).returning(endpoints))).one())


async def get_endpoint(
    conn: AsyncConnection, endpoint_id: uuid.UUID, *, merchant_id: uuid.UUID | None = None, for_update: bool = False
) -> WebhookEndpointRecord | None:
    query = select(endpoints).where(endpoints.c.id == endpoint_id)
    if merchant_id is not None:
        query = query.where(endpoints.c.merchant_id == merchant_id)
    if for_update:
        query = query.with_for_update()
    row = (await conn.execute(query)).one_or_none()
    return None if row is None else WebhookEndpointRecord._make(row)


async def list_endpoints(
    conn: AsyncConnection, merchant_id: uuid.UUID | None, *, limit: int, starting_after: uuid.UUID | None = None
) -> Page[WebhookEndpointRecord]:
    """Newest first, keyset-paginated on ``(created_at, id)``; ``EndpointNotFound`` for a cursor
    that is not one of the listed merchant's endpoints."""
    owned = [] if merchant_id is None else [endpoints.c.merchant_id == merchant_id]
    return await fetch_page(
        conn,
        select(endpoints).where(*owned),
        ENDPOINT_ORDER,
        limit=limit,
        make=WebhookEndpointRecord._make,
        starting_after=starting_after,
        within=owned,
        missing=EndpointNotFound,
    )


async def update_endpoint(conn: AsyncConnection, endpoint_id: uuid.UUID, values: dict[str, Any]) -> WebhookEndpointRecord:
    row = (
        await conn.execute(
            update(endpoints)
            .where(endpoints.c.id == endpoint_id)
            .values(**values, updated_at=func.now())
            .returning(endpoints)
        )
    ).one()
    return WebhookEndpointRecord._make(row)


async def delete_endpoint(conn: AsyncConnection, endpoint_id: uuid.UUID, *, merchant_id: uuid.UUID) -> bool:
    result = await conn.execute(
        delete(endpoints).where(endpoints.c.id == endpoint_id, endpoints.c.merchant_id == merchant_id)
    )
    return bool(result.rowcount)
