"""Webhook endpoints, deliveries (the outbox) and attempts: SQL on an ``AsyncConnection``.

Lock order, to stay deadlock-free: a delivery row, then its endpoint row; bulk updates of an
endpoint's deliveries (disable) skip rows another transaction holds.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Sequence

from sqlalchemy import delete, func, insert, select, text, tuple_, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from engine.db.models import Event, WebhookAttempt, WebhookDelivery, WebhookEndpoint

endpoints = WebhookEndpoint.__table__
deliveries = WebhookDelivery.__table__
attempts = WebhookAttempt.__table__
events = Event.__table__

#: Namespace of the advisory locks that serialise claims per endpoint.
CLAIM_LOCK_NAMESPACE = 5005

#: The outbox: one pending delivery per enabled endpoint that subscribes to the event's type.
_FAN_OUT_SQL = """
    INSERT INTO webhook_deliveries (id, endpoint_id, event_id, merchant_id, status, attempts, next_attempt_at)
    SELECT gen_random_uuid(), e.id, :event_id, :merchant_id, 'pending', 0, now() + make_interval(secs => :delay_s)
    FROM webhook_endpoints e
    WHERE e.merchant_id = :merchant_id AND e.enabled
      AND (e.event_types @> ARRAY['*']::varchar[] OR e.event_types @> ARRAY[:event_type]::varchar[])
    """
_FAN_OUT = text(_FAN_OUT_SQL)
#: With another row's change in one ``WITH`` (``engine.db.outcomes``): an event row and its
#: deliveries, each a statement of its own there, written only if the CTE ``moved`` has a row.
#: No parameter is named after a column of the moved table (SQLAlchemy would add it to the SET).
EVENT_IF_MOVED = (
    text(
        """
    INSERT INTO events (id, merchant_id, type, object_type, object_id, body, created_at)
    SELECT CAST(:event_id AS uuid), moved.merchant_id, :event_type, :object_type, moved.id,
           CAST(:body AS bytea), CAST(:event_created_at AS timestamptz)
    FROM moved
    """
    ),
    text(_FAN_OUT_SQL.replace(":merchant_id", ":event_merchant_id") + "  AND EXISTS (SELECT 1 FROM moved)\n"),
)
#: An event row and its outbox deliveries in one statement (one round trip per event).
_INSERT_EVENT_AND_FAN_OUT = text(
    """
    WITH event AS (
        INSERT INTO events (id, merchant_id, type, object_type, object_id, body, created_at)
        VALUES (:event_id, :merchant_id, :event_type, :object_type, :object_id, :body, :created_at)
    )"""
    + _FAN_OUT_SQL
)

def claim_ctes(*, excluding: str | None = None) -> str:
    """The CTEs (no leading ``WITH``) that claim due deliveries into ``claimed``: at most
    ``:max_in_flight`` leased at once per endpoint (counted on the ``lease_until`` partial index,
    one endpoint at a time), ``:batch`` in all, each leased for ``:lease_s``. An endpoint being
    claimed by someone else right now (advisory lock held) is skipped; its claimer serves it.

    ``excluding`` is an SQL array of delivery ids settled by the same statement: their leases do
    not count and they are not claimed again (a statement sees the rows as they were before it).
    """
    skip_leased = f" AND l.id <> ALL({excluding})" if excluding else ""
    skip_due = f" AND d.id <> ALL({excluding})" if excluding else ""
    return f"""
    candidates AS (
        SELECT d.id, d.next_attempt_at
        FROM webhook_endpoints e
        CROSS JOIN LATERAL (
            SELECT count(*) AS n FROM webhook_deliveries l  -- only pending rows hold a lease
            WHERE l.endpoint_id = e.id AND l.lease_until > now(){skip_leased}
        ) inflight
        CROSS JOIN LATERAL (
            SELECT d.id, d.next_attempt_at FROM webhook_deliveries d
            WHERE d.endpoint_id = e.id AND d.status = 'pending' AND d.next_attempt_at <= now(){skip_due}
            ORDER BY d.next_attempt_at
            LIMIT greatest(:max_in_flight - inflight.n, 0)
        ) d
        WHERE e.enabled AND (CAST(:endpoint_id AS uuid) IS NULL OR e.id = CAST(:endpoint_id AS uuid))
          AND pg_try_advisory_xact_lock(:ns, hashtext(e.id::text))
        ORDER BY d.next_attempt_at
        LIMIT :batch
    ), locked AS (
        -- Rechecked once locked; written so that the primary key, not the due index, finds them
        -- (a plan built on stale statistics would otherwise scan every due row).
        SELECT id FROM webhook_deliveries
        WHERE id = ANY(ARRAY(SELECT id FROM candidates)) AND coalesce(status, '') = 'pending'
          AND next_attempt_at <= now()
        FOR UPDATE SKIP LOCKED
    ), claimed AS (
        UPDATE webhook_deliveries w
        SET lease_token = gen_random_uuid(),
            lease_until = now() + make_interval(secs => :lease_s),
            next_attempt_at = now() + make_interval(secs => :lease_s),
            updated_at = now()
        FROM locked WHERE w.id = locked.id
        RETURNING w.id, w.lease_token, w.status, w.attempts, w.endpoint_id, w.event_id
    )"""


_CLAIM = text("WITH " + claim_ctes() + " SELECT id, lease_token FROM claimed")


class EndpointNotFound(LookupError):
    """No webhook endpoint with that id (or not the merchant's)."""


async def fan_out(
    conn: AsyncConnection, *, merchant_id: uuid.UUID, event_id: uuid.UUID, event_type: str, delay_s: float = 0.0
) -> int:
    """Create the deliveries of a new event in the caller's transaction; returns how many."""
    result = await conn.execute(
        _FAN_OUT, {"merchant_id": merchant_id, "event_id": event_id, "event_type": event_type, "delay_s": delay_s}
    )
    return int(result.rowcount or 0)


async def insert_event_with_deliveries(
    conn: AsyncConnection,
    *,
    event_id: uuid.UUID,
    merchant_id: uuid.UUID,
    event_type: str,
    object_type: str,
    object_id: uuid.UUID,
    body: bytes,
    created_at: datetime,
) -> int:
    """Insert an event row and, in the same statement, its deliveries (``fan_out``); returns how many deliveries."""
    result = await conn.execute(
        _INSERT_EVENT_AND_FAN_OUT,
        {
            "event_id": event_id,
            "merchant_id": merchant_id,
            "event_type": event_type,
            "object_type": object_type,
            "object_id": object_id,
            "body": body,
            "created_at": created_at,
            "delay_s": 0.0,
        },
    )
    return int(result.rowcount or 0)


async def claim_due(
    conn: AsyncConnection,
    *,
    batch: int,
    max_in_flight: int,
    lease_s: float,
    endpoint_id: uuid.UUID | None = None,
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """Lease due deliveries (``(delivery_id, lease_token)``); the caller commits, then enqueues.

    With ``endpoint_id`` (a worker refilling the slot it just freed) the endpoint's claim lock is
    waited for instead of skipped.
    """
    if endpoint_id is not None:
        await conn.execute(
            text("SELECT pg_advisory_xact_lock(:ns, hashtext(:eid))"), {"ns": CLAIM_LOCK_NAMESPACE, "eid": str(endpoint_id)}
        )
    rows = await conn.execute(
        _CLAIM,
        {
            "batch": batch,
            "max_in_flight": max_in_flight,
            "lease_s": lease_s,
            "endpoint_id": endpoint_id,
            "ns": CLAIM_LOCK_NAMESPACE,
        },
    )
    return [(row.id, row.lease_token) for row in rows]


# --- endpoints -------------------------------------------------------------------------------


async def insert_endpoint(conn: AsyncConnection, values: dict[str, Any]) -> Row[Any]:
    row: Row[Any] = (await conn.execute(insert(endpoints).values(**values).returning(endpoints))).one()
    return row


async def get_endpoint(
    conn: AsyncConnection, endpoint_id: uuid.UUID, *, merchant_id: uuid.UUID | None = None, for_update: bool = False
) -> Row[Any] | None:
    query = select(endpoints).where(endpoints.c.id == endpoint_id)
    if merchant_id is not None:
        query = query.where(endpoints.c.merchant_id == merchant_id)
    if for_update:
        query = query.with_for_update()
    return (await conn.execute(query)).one_or_none()


async def list_endpoints(
    conn: AsyncConnection, merchant_id: uuid.UUID | None, *, limit: int, starting_after: uuid.UUID | None = None
) -> tuple[list[Row[Any]], bool]:
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
    rows = list((await conn.execute(query)).all())
    return rows[:limit], len(rows) > limit


async def update_endpoint(conn: AsyncConnection, endpoint_id: uuid.UUID, values: dict[str, Any]) -> Row[Any]:
    row: Row[Any] = (
        await conn.execute(
            update(endpoints)
            .where(endpoints.c.id == endpoint_id)
            .values(**values, updated_at=func.now())
            .returning(endpoints)
        )
    ).one()
    return row


async def delete_endpoint(conn: AsyncConnection, endpoint_id: uuid.UUID, *, merchant_id: uuid.UUID) -> bool:
    result = await conn.execute(
        delete(endpoints).where(endpoints.c.id == endpoint_id, endpoints.c.merchant_id == merchant_id)
    )
    return bool(result.rowcount)


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


async def load_for_attempt(conn: AsyncConnection, delivery_id: uuid.UUID) -> Row[*tuple[Any, ...]] | None:
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
    return (await conn.execute(query)).one_or_none()


async def lock_delivery(conn: AsyncConnection, delivery_id: uuid.UUID) -> Row[Any] | None:
    return (
        await conn.execute(select(deliveries).where(deliveries.c.id == delivery_id).with_for_update())
    ).one_or_none()


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
) -> tuple[list[Row[Any]], bool]:
    conditions = [deliveries.c.endpoint_id == endpoint_id]
    if status is not None:
        conditions.append(deliveries.c.status == status)
    if starting_after is not None:
        cursor = (
            await conn.execute(
                select(deliveries.c.created_at, deliveries.c.id).where(
                    deliveries.c.id == starting_after, deliveries.c.endpoint_id == endpoint_id
                )
            )
        ).one_or_none()
        if cursor is None:
            raise LookupError(str(starting_after))
        conditions.append(tuple_(deliveries.c.created_at, deliveries.c.id) < tuple_(cursor.created_at, cursor.id))
    query = (
        select(deliveries, events.c.type.label("event_type"))
        .join(events, events.c.id == deliveries.c.event_id)
        .where(*conditions)
        .order_by(deliveries.c.created_at.desc(), deliveries.c.id.desc())
        .limit(limit + 1)
    )
    rows = list((await conn.execute(query)).all())
    return rows[:limit], len(rows) > limit


async def attempts_of(conn: AsyncConnection, delivery_ids: Sequence[uuid.UUID], *, per_delivery: int) -> dict[uuid.UUID, list[Row[Any]]]:
    """The latest ``per_delivery`` attempts of each delivery, oldest first."""
    if not delivery_ids:
        return {}
    ranked = (
        select(attempts, func.row_number().over(partition_by=attempts.c.delivery_id, order_by=attempts.c.id.desc()).label("rn"))
        .where(attempts.c.delivery_id.in_(list(delivery_ids)))
        .subquery()
    )
    rows = (await conn.execute(select(ranked).where(ranked.c.rn <= per_delivery).order_by(ranked.c.id))).all()
    grouped: dict[uuid.UUID, list[Row[Any]]] = {}
    for row in rows:
        grouped.setdefault(row.delivery_id, []).append(row)
    return grouped


async def requeue_for_event(
    conn: AsyncConnection, *, event_id: uuid.UUID, merchant_id: uuid.UUID, event_type: str, endpoint_id: uuid.UUID | None
) -> list[Row[Any]]:
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
    return list(result.all())


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


async def list_dead(conn: AsyncConnection, *, merchant_id: uuid.UUID | None, limit: int) -> list[Row[Any]]:
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
    return list((await conn.execute(query)).all())


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


