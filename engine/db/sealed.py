"""Values stored sealed with the root key's box, read in pages and replaced by compare-and-set
on the sealed value that was read (re-sealing after a root-key rotation, ``engine.reseal``)."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from engine.db.models import IdempotencyKey, WebhookEndpoint
from engine.db.records import EndpointSecretsRecord, SealedReplyRecord

endpoints = WebhookEndpoint.__table__
idempotency_keys = IdempotencyKey.__table__


async def endpoint_secrets_page(conn: AsyncConnection, *, after: uuid.UUID | None, limit: int) -> list[EndpointSecretsRecord]:
    """Endpoints' sealed secrets in ``id`` order, from just after ``after`` (None: the first)."""
    query = (
        select(endpoints.c.id, endpoints.c.secret_sealed, endpoints.c.previous_secret_sealed)
        .order_by(endpoints.c.id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(endpoints.c.id > after)
    return [EndpointSecretsRecord._make(row) for row in await conn.execute(query)]


async def replace_endpoint_secrets(
    conn: AsyncConnection, read: EndpointSecretsRecord, *, secret_sealed: str, previous_secret_sealed: str | None
) -> None:
    """Write the re-sealed secrets, unless the endpoint's secrets changed since ``read``."""
    await conn.execute(
        update(endpoints)
        .where(
            endpoints.c.id == read.id,
            endpoints.c.secret_sealed == read.secret_sealed,
            endpoints.c.previous_secret_sealed.is_not_distinct_from(read.previous_secret_sealed),
        )
        .values(secret_sealed=secret_sealed, previous_secret_sealed=previous_secret_sealed)
    )


async def sealed_replies_page(
    conn: AsyncConnection, *, prefix: bytes, after: tuple[uuid.UUID, str] | None, limit: int
) -> list[SealedReplyRecord]:
    """Stored answers whose body starts with ``prefix``, in (merchant id, key) order, from just after ``after``."""
    table = idempotency_keys
    query = (
        select(table.c.merchant_id, table.c.key, table.c.response_body)
        .where(func.substring(table.c.response_body, 1, len(prefix)) == prefix)
        .order_by(table.c.merchant_id, table.c.key)
        .limit(limit)
    )
    if after is not None:
        query = query.where(tuple_(table.c.merchant_id, table.c.key) > tuple_(*after))
    return [SealedReplyRecord._make(row) for row in await conn.execute(query)]


async def replace_reply(conn: AsyncConnection, read: SealedReplyRecord, *, body: bytes, response_body: bytes) -> None:
    """Write the re-sealed answer, unless the stored body is no longer ``body`` (the one read)."""
    table = idempotency_keys
    await conn.execute(
        update(table)
        .where(table.c.merchant_id == read.merchant_id, table.c.key == read.key, table.c.response_body == body)
        .values(response_body=response_body)
    )
