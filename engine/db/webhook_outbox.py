"""The webhook outbox: an event's deliveries written with it (fan-out), and due deliveries
claimed (leased) for their attempts: SQL on an ``AsyncConnection``.

Lock order, to stay deadlock-free: a delivery row, then its endpoint row.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

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
    one endpoint at a time), ``:batch`` in all, each leased for ``:lease_s`` to ``:owner``. An
    endpoint being claimed by someone else right now (advisory lock held) is skipped; its claimer
    serves it.

    Leasing ahead: a claimer with an ``:owner`` (a delivery runner) that holds every live lease
    of an endpoint may hold up to ``:max_leased`` (≥ ``:max_in_flight``) of them; it keeps at most
    ``:max_in_flight`` attempts in flight itself and starts the next one as soon as one ends. As
    long as it holds more than ``:max_in_flight`` nobody else can lease that endpoint, and once
    anyone else holds one every claimer is back to ``:max_in_flight`` leases in all — so the
    attempts in flight to an endpoint never exceed ``:max_in_flight``, whoever makes them.
    ``lease_owner`` means something only while ``lease_until`` is in the future.

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
            SELECT count(*) AS n,  -- only pending rows hold a lease
                   count(*) FILTER (WHERE l.lease_owner IS DISTINCT FROM CAST(:owner AS uuid)) AS others
            FROM webhook_deliveries l
            WHERE l.endpoint_id = e.id AND l.lease_until > now(){skip_leased}
        ) inflight
        CROSS JOIN LATERAL (
            SELECT d.id, d.next_attempt_at FROM webhook_deliveries d
            WHERE d.endpoint_id = e.id AND d.status = 'pending' AND d.next_attempt_at <= now(){skip_due}
            ORDER BY d.next_attempt_at
            LIMIT greatest(
                CASE WHEN CAST(:owner AS uuid) IS NOT NULL AND inflight.others = 0 THEN CAST(:max_leased AS integer)
                     ELSE CAST(:max_in_flight AS integer) END
                - inflight.n, 0)
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
        SET lease_token = gen_random_uuid(), lease_owner = CAST(:owner AS uuid),
            lease_until = now() + make_interval(secs => :lease_s),
            next_attempt_at = now() + make_interval(secs => :lease_s),
            updated_at = now()
        FROM locked WHERE w.id = locked.id
        RETURNING w.id, w.lease_token, w.status, w.attempts, w.endpoint_id, w.event_id
    )"""


_CLAIM = text("WITH " + claim_ctes() + " SELECT id, lease_token FROM claimed")


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
            "owner": None,
            "max_leased": max_in_flight,
        },
    )
    return [(row.id, row.lease_token) for row in rows]
