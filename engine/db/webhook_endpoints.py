"""Webhook endpoints: SQL on an ``AsyncConnection``."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, func, insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from engine.db.models import WebhookEndpoint
from engine.db.records import WebhookEndpointRecord
from engine.errors import EasyPayError

endpoints = WebhookEndpoint.__table__


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
) -> tuple[list[WebhookEndpointRecord], bool]:
    conditions = [] if merchant_id is None else [endpoints.c.merchant_id == merchant_id]
    if starting_after is not None:
        cursor = (
            await conn.execute(
                select(endpoints.c.created_at, endpoints.c.id).where(endpoints.c.id == starting_after, *conditions)
            )
        ).one_or_none()
        if cursor is None:
            raise EndpointNotFound(str(starting_after))
        conditions.append(tuple_(endpoints.c.created_at, endpoints.c.id) < tuple_(cursor.created_at, cursor.id))
    query = (
        select(endpoints)
        .where(*conditions)
        .order_by(endpoints.c.created_at.desc(), endpoints.c.id.desc())
        .limit(limit + 1)
    )
    rows = [WebhookEndpointRecord._make(row) for row in await conn.execute(query)]
    return rows[:limit], len(rows) > limit


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
