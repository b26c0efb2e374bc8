"""Webhook deliveries and their attempts: SQL on an ``AsyncConnection``.

Lock order, to stay deadlock-free: a delivery row, then its endpoint row; bulk updates of an
endpoint's deliveries (disable) skip rows another transaction holds.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Sequence

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from engine.db.keyset import Keyset, fetch_page
from engine.db.models import Event, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from engine.db.records import (
    AttemptTargetRecord,
    DeadDeliveryRecord,
    ListedDeliveryRecord,
    RequeuedDeliveryRecord,
    WebhookAttemptRecord,
    WebhookDeliveryRecord,
)
from engine.pages import Page

endpoints = WebhookEndpoint.__table__
deliveries = WebhookDelivery.__table__
attempts = WebhookAttempt.__table__
events = Event.__table__
DELIVERY_ORDER = Keyset((deliveries.c.created_at, deliveries.c.id))


async def fail_pending_deliveries(conn: AsyncConnection, endpoint_id: uuid.UUID, *, reason: str) -> int:
    """Mark the endpoint's pending deliveries failed (dead); rows being recorded right now are skipped."""
    result = await conn.execute(
        text(
            """
            UPDATE webhook_deliveries SET status = 'failed', last_error = :reason, next_attempt_at = NULL,
                   lease_token = NULL, lease_until = NULL, updated_at = now()
            WHERE id IN (SELECT id FROM webhook_deliveries WHERE endpoint_id = :eid AND status = 'pending'
                         FOR UPDATE SKIP LOCKED)
            """
        ),
        {"eid": endpoint_id, "reason": reason},
    )
    return int(result.rowcount or 0)


# --- deliveries ------------------------------------------------------------------------------


async def load_for_attempt(conn: AsyncConnection, delivery_id: uuid.UUID) -> AttemptTargetRecord | None:
    """The delivery with what an attempt needs: its endpoint's URL and secrets, the event bytes."""
    query = (
        select(
            deliveries.c.id,
            deliveries.c.status,
            deliveries.c.lease_token,
            deliveries.c.attempts,
            deliveries.c.endpoint_id,
            deliveries.c.event_id,
            endpoints.c.url,
            endpoints.c.enabled,
            endpoints.c.failing_since,
            endpoints.c.secret_sealed,
            endpoints.c.previous_secret_sealed,
            endpoints.c.previous_secret_expires_at,
            events.c.body,
            events.c.type.label("event_type"),
        )
        .join(endpoints, endpoints.c.id == deliveries.c.endpoint_id)
        .join(events, events.c.id == deliveries.c.event_id)
        .where(deliveries.c.id == delivery_id)
    )
    row = (await conn.execute(query)).one_or_none()
    return None if row is None else AttemptTargetRecord._make(row)


async def lock_delivery(conn: AsyncConnection, delivery_id: uuid.UUID) -> WebhookDeliveryRecord | None:
    row = (
        await conn.execute(select(deliveries).where(deliveries.c.id == delivery_id).with_for_update())
    ).one_or_none()
    return None if row is None else WebhookDeliveryRecord._make(row)


#: The success path in one round trip: log the attempt, settle the delivery if this caller still
#: holds its lease (compare-and-set on the token), end the endpoint's failure streak.
_RECORD_SUCCESS = text(
    """
    WITH upd AS (
        UPDATE webhook_deliveries
        SET status = 'succeeded', attempts = attempts + 1, last_attempt_at = :attempted_at,
            last_status_code = :status_code, last_error = NULL, lease_token = NULL, lease_until = NULL,
            next_attempt_at = NULL, updated_at = now()
        WHERE id = :id AND status = 'pending' AND lease_token = :token
        RETURNING endpoint_id
    ), ins AS (
        INSERT INTO webhook_attempts (delivery_id, attempted_at, latency_ms, status_code, error, response_body, succeeded)
        SELECT id, :attempted_at, :latency_ms, :status_code, NULL, :response_body, true
        FROM webhook_deliveries WHERE id = :id
    ), streak AS (
        UPDATE webhook_endpoints SET failing_since = NULL
        WHERE id IN (SELECT endpoint_id FROM upd) AND failing_since IS NOT NULL
    )
    SELECT count(*) FROM upd
    """
)


async def record_success(
    conn: AsyncConnection,
    delivery_id: uuid.UUID,
    lease_token: uuid.UUID,
    *,
    attempted_at: datetime,
    latency_ms: int,
    status_code: int | None,
    response_body: str | None,
) -> bool:
    """True if the delivery was settled as succeeded (False: the lease was lost; the attempt is still logged)."""
    result = await conn.execute(
        _RECORD_SUCCESS,
        {
            "id": delivery_id,
            "token": lease_token,
            "attempted_at": attempted_at,
            "latency_ms": latency_ms,
            "status_code": status_code,
            "response_body": response_body,
        },
    )
    return bool(result.scalar_one())


async def insert_attempt(conn: AsyncConnection, values: dict[str, Any]) -> None:
    await conn.execute(insert(attempts).values(**values))


async def update_delivery(conn: AsyncConnection, delivery_id: uuid.UUID, values: dict[str, Any]) -> None:
    await conn.execute(update(deliveries).where(deliveries.c.id == delivery_id).values(**values, updated_at=func.now()))


async def list_deliveries(
    conn: AsyncConnection,
    endpoint_id: uuid.UUID,
    *,
    limit: int,
    starting_after: uuid.UUID | None = None,
    status: str | None = None,
) -> Page[ListedDeliveryRecord]:
    """The endpoint's deliveries, newest first (keyset on ``(created_at, id)``), each with its
    event's type; ``LookupError`` for a cursor that is not one of the endpoint's deliveries."""
    of_endpoint = [deliveries.c.endpoint_id == endpoint_id]
    conditions = list(of_endpoint)
    if status is not None:
        conditions.append(deliveries.c.status == status)
    query = select(deliveries, events.c.type.label("event_type")).join(events, events.c.id == deliveries.c.event_id)
    return await fetch_page(
        conn,
        query.where(*conditions),
        DELIVERY_ORDER,
        limit=limit,
        make=ListedDeliveryRecord._make,
        starting_after=starting_after,
        within=of_endpoint,
    )


async def attempts_of(conn: AsyncConnection, delivery_ids: Sequence[uuid.UUID], *, per_delivery: int) -> dict[uuid.UUID, list[WebhookAttemptRecord]]:
    """The latest ``per_delivery`` attempts of each delivery, oldest first."""
    if not delivery_ids:
        return {}
    ranked = (
        select(attempts, func.row_number().over(partition_by=attempts.c.delivery_id, order_by=attempts.c.id.desc()).label("rn"))
        .where(attempts.c.delivery_id.in_(list(delivery_ids)))
        .subquery()
    )
    rows = (await conn.execute(select(ranked).where(ranked.c.rn <= per_delivery).order_by(ranked.c.id))).all()
    grouped: dict[uuid.UUID, list[WebhookAttemptRecord]] = {}
    for row in rows:
        attempt = WebhookAttemptRecord._make(row[:-1])  # the attempt's columns, without its rank ``rn``
        grouped.setdefault(attempt.delivery_id, []).append(attempt)
    return grouped


async def requeue_for_event(
    conn: AsyncConnection, *, event_id: uuid.UUID, merchant_id: uuid.UUID, event_type: str, endpoint_id: uuid.UUID | None
) -> list[RequeuedDeliveryRecord]:
    """Resend: a new round (attempt now) for every enabled endpoint matching the event (or just one)."""
    result = await conn.execute(
        text(
            """
            INSERT INTO webhook_deliveries (id, endpoint_id, event_id, merchant_id, status, attempts, next_attempt_at)
            SELECT gen_random_uuid(), e.id, :event_id, :merchant_id, 'pending', 0, now()
            FROM webhook_endpoints e
            WHERE e.merchant_id = :merchant_id AND e.enabled
              AND (CAST(:endpoint_id AS uuid) IS NULL OR e.id = CAST(:endpoint_id AS uuid))
              AND (e.event_types @> ARRAY['*']::varchar[] OR e.event_types @> ARRAY[:event_type]::varchar[])
            ON CONFLICT (endpoint_id, event_id) DO UPDATE
              SET status = 'pending', attempts = 0, next_attempt_at = now(), lease_token = NULL,
                  lease_until = NULL, updated_at = now()
            RETURNING id, endpoint_id, status
            """
        ),
        {"event_id": event_id, "merchant_id": merchant_id, "event_type": event_type, "endpoint_id": endpoint_id},
    )
    return [RequeuedDeliveryRecord._make(row) for row in result]


async def recover_failed(
    conn: AsyncConnection, *, endpoint_id: uuid.UUID, since: datetime, until: datetime | None, limit: int
) -> int:
    """Bulk recovery: every failed delivery of the endpoint for events created in [since, until)."""
    result = await conn.execute(
        text(
            """
            UPDATE webhook_deliveries d
            SET status = 'pending', attempts = 0, next_attempt_at = now(), lease_token = NULL,
                lease_until = NULL, updated_at = now()
            WHERE d.id IN (
                SELECT d2.id FROM webhook_deliveries d2 JOIN events ev ON ev.id = d2.event_id
                WHERE d2.endpoint_id = :eid AND d2.status = 'failed' AND ev.created_at >= :since
                  AND (CAST(:until AS timestamptz) IS NULL OR ev.created_at < CAST(:until AS timestamptz))
                ORDER BY ev.created_at LIMIT :limit
                FOR UPDATE OF d2 SKIP LOCKED)
            """
        ),
        {"eid": endpoint_id, "since": since, "until": until, "limit": limit},
    )
    return int(result.rowcount or 0)


async def list_dead(conn: AsyncConnection, *, merchant_id: uuid.UUID | None, limit: int) -> list[DeadDeliveryRecord]:
    """Failed (dead) deliveries, newest first (the ``easypay webhooks dead`` command)."""
    query = (
        select(deliveries, events.c.type.label("event_type"), endpoints.c.url)
        .join(events, events.c.id == deliveries.c.event_id)
        .join(endpoints, endpoints.c.id == deliveries.c.endpoint_id)
        .where(deliveries.c.status == "failed")
        .order_by(deliveries.c.updated_at.desc())
        .limit(limit)
    )
    if merchant_id is not None:
        query = query.where(deliveries.c.merchant_id == merchant_id)
    return [DeadDeliveryRecord._make(row) for row in await conn.execute(query)]


async def replay_delivery(conn: AsyncConnection, delivery_id: uuid.UUID) -> bool:
    """A new round for one failed delivery (its endpoint must be enabled)."""
    result = await conn.execute(
        text(
            """
            UPDATE webhook_deliveries d SET status = 'pending', attempts = 0, next_attempt_at = now(),
                   lease_token = NULL, lease_until = NULL, updated_at = now()
            FROM webhook_endpoints e
            WHERE d.id = :id AND d.status = 'failed' AND e.id = d.endpoint_id AND e.enabled
            """
        ),
        {"id": delivery_id},
    )
    return bool(result.rowcount)
