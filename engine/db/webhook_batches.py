"""Webhook deliveries in batches: claim with everything the attempts need, load adopted claims,
settle successful attempts, or settle and claim again — one statement each, whatever the batch size.

Arrays (``unnest``) rather than a ``VALUES`` list keep one statement text per query, so the
driver's prepared statements are reused. Lock order as in ``engine.db.webhook_outbox``: delivery rows,
then their endpoint rows.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Sequence

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from engine.db.records import AttemptTargetRecord
from engine.db.webhook_outbox import CLAIM_LOCK_NAMESPACE, claim_ctes

#: What one attempt needs, joined to the claimed (or adopted) deliveries ``d``.
_ATTEMPT_COLUMNS = """
    d.id, d.status, d.lease_token, d.attempts, d.endpoint_id, d.event_id,
    e.url, e.enabled, e.failing_since, e.secret_sealed, e.previous_secret_sealed, e.previous_secret_expires_at,
    ev.body, ev.type AS event_type
"""

_FROM_CLAIMED = "FROM claimed d JOIN webhook_endpoints e ON e.id = d.endpoint_id JOIN events ev ON ev.id = d.event_id"
_CLAIM_FOR_ATTEMPT = text("WITH " + claim_ctes() + f" SELECT {_ATTEMPT_COLUMNS} {_FROM_CLAIMED}")

_LOAD_ADOPTED = text(
    f"""
    SELECT {_ATTEMPT_COLUMNS}
    FROM unnest(CAST(:ids AS uuid[]), CAST(:tokens AS uuid[])) AS c(id, token)
    JOIN webhook_deliveries d ON d.id = c.id AND d.lease_token = c.token AND d.status = 'pending'
    JOIN webhook_endpoints e ON e.id = d.endpoint_id AND e.enabled
    JOIN events ev ON ev.id = d.event_id
    """
)

#: Successful attempts: log each one, settle the deliveries whose lease the caller still holds
#: (compare-and-set on the token), end the failure streak of their endpoints.
_SETTLE_CTES = """
    v AS (
        SELECT * FROM unnest(CAST(:ids AS uuid[]), CAST(:tokens AS uuid[]), CAST(:attempted_at AS timestamptz[]),
                             CAST(:latency_ms AS integer[]), CAST(:status_code AS integer[]), CAST(:response_body AS text[]))
            AS v(id, token, attempted_at, latency_ms, status_code, response_body)
    ), upd AS (
        UPDATE webhook_deliveries d
        SET status = 'succeeded', attempts = d.attempts + 1, last_attempt_at = v.attempted_at,
            last_status_code = v.status_code, last_error = NULL, lease_token = NULL, lease_until = NULL,
            next_attempt_at = NULL, updated_at = now()
        FROM v WHERE d.id = v.id AND d.id = ANY(CAST(:ids AS uuid[]))  -- the primary key finds them,
          AND coalesce(d.status, '') = 'pending' AND d.lease_token = v.token  -- not the due index
        RETURNING d.id, d.endpoint_id
    ), ins AS (
        INSERT INTO webhook_attempts (delivery_id, attempted_at, latency_ms, status_code, error, response_body, succeeded)
        SELECT v.id, v.attempted_at, v.latency_ms, v.status_code, NULL, v.response_body, true
        FROM v JOIN webhook_deliveries d ON d.id = v.id AND d.id = ANY(CAST(:ids AS uuid[]))  -- not deleted meanwhile
    ), streak AS (
        UPDATE webhook_endpoints SET failing_since = NULL
        WHERE id IN (SELECT endpoint_id FROM upd) AND failing_since IS NOT NULL
    )"""
_RECORD_SUCCESSES = text("WITH " + _SETTLE_CTES + " SELECT id FROM upd")
#: Both in one statement (one round trip per batch): settle the successes, then claim as many due
#: deliveries as the caller has room for, with what their attempts need. One row per claimed
#: delivery (or one with NULLs), each carrying the settled ids.
_SETTLE_AND_CLAIM = text(
    "WITH " + _SETTLE_CTES + ", " + claim_ctes(excluding="CAST(:ids AS uuid[])")
    + f""", attempt_rows AS (SELECT {_ATTEMPT_COLUMNS} {_FROM_CLAIMED})
    SELECT s.settled, a.* FROM (SELECT array_agg(id) AS settled FROM upd) s LEFT JOIN attempt_rows a ON true
    """
)


#: Leases given back unattempted (a stopping runner's deliveries leased ahead): due again now.
_RELEASE = text(
    """
    UPDATE webhook_deliveries d
    SET lease_token = NULL, lease_until = NULL, lease_owner = NULL, next_attempt_at = now(), updated_at = now()
    FROM unnest(CAST(:ids AS uuid[]), CAST(:tokens AS uuid[])) AS c(id, token)
    WHERE d.id = c.id AND d.lease_token = c.token AND d.status = 'pending'
    """
)


@dataclass(frozen=True, slots=True)
class Success:
    delivery_id: uuid.UUID
    lease_token: uuid.UUID
    attempted_at: datetime
    latency_ms: int
    status_code: int | None
    response_body: str | None


def _claim_params(*, batch: int, max_in_flight: int, lease_s: float, owner: uuid.UUID | None, ahead: int) -> dict[str, Any]:
    return {"batch": max(batch, 0), "max_in_flight": max_in_flight, "lease_s": lease_s, "endpoint_id": None,
            "ns": CLAIM_LOCK_NAMESPACE, "owner": owner, "max_leased": max_in_flight + (max(ahead, 0) if owner else 0)}


async def claim_for_attempt(
    conn: AsyncConnection, *, batch: int, max_in_flight: int, lease_s: float, owner: uuid.UUID | None = None,
    ahead: int = 0,
) -> list[AttemptTargetRecord]:
    """Lease up to ``batch`` due deliveries (per-endpoint cap as ``claim_due``; an ``owner`` that
    alone leases an endpoint may lease ``ahead`` more of it, see ``claim_ctes``), with their
    endpoint's URL and sealed secrets and the event bytes."""
    if batch <= 0:
        return []
    result = await conn.execute(
        _CLAIM_FOR_ATTEMPT,
        _claim_params(batch=batch, max_in_flight=max_in_flight, lease_s=lease_s, owner=owner, ahead=ahead),
    )
    return [AttemptTargetRecord._make(row) for row in result]


async def load_adopted(conn: AsyncConnection, claims: Sequence[tuple[uuid.UUID, uuid.UUID]]) -> list[AttemptTargetRecord]:
    """The attempt rows of claims made elsewhere (the dispatcher); those whose lease is gone, that
    are no longer pending, or whose endpoint is disabled are left out."""
    if not claims:
        return []
    result = await conn.execute(_LOAD_ADOPTED, {"ids": [c[0] for c in claims], "tokens": [c[1] for c in claims]})
    return [AttemptTargetRecord._make(row) for row in result]


async def record_successes(conn: AsyncConnection, successes: Sequence[Success]) -> set[uuid.UUID]:
    """Settle successful attempts in one statement; returns the deliveries settled (the others'
    leases were lost: their attempts are logged all the same)."""
    if not successes:
        return set()
    result = await conn.execute(_RECORD_SUCCESSES, _success_params(successes))
    return set(result.scalars().all())


async def settle_and_claim(
    conn: AsyncConnection, successes: Sequence[Success], *, batch: int, max_in_flight: int, lease_s: float,
    owner: uuid.UUID | None = None, ahead: int = 0,
) -> tuple[set[uuid.UUID], list[AttemptTargetRecord]]:
    """``record_successes`` and ``claim_for_attempt`` in one statement (run it in autocommit: it is
    atomic on its own); returns the deliveries settled and the attempt rows claimed."""
    rows = (
        await conn.execute(
            _SETTLE_AND_CLAIM,
            {**_success_params(successes),
             **_claim_params(batch=batch, max_in_flight=max_in_flight, lease_s=lease_s, owner=owner, ahead=ahead)},
        )
    ).all()
    settled = set(rows[0].settled or ()) if rows else set()
    return settled, [AttemptTargetRecord._make(row[1:]) for row in rows if row.id is not None]  # after ``settled``


def _success_params(successes: Sequence[Success]) -> dict[str, list[Any]]:
    return {
        "ids": [s.delivery_id for s in successes],
        "tokens": [s.lease_token for s in successes],
        "attempted_at": [s.attempted_at for s in successes],
        "latency_ms": [s.latency_ms for s in successes],
        "status_code": [s.status_code for s in successes],
        "response_body": [s.response_body for s in successes],
    }


async def release_leases(conn: AsyncConnection, claims: Sequence[tuple[uuid.UUID, uuid.UUID]]) -> int:
    """Give back leases (``(delivery_id, lease_token)``) of deliveries never attempted, so that they
    are claimed again now rather than when the lease runs out; returns how many were still held."""
    if not claims:
        return 0
    result = await conn.execute(_RELEASE, {"ids": [c[0] for c in claims], "tokens": [c[1] for c in claims]})
    return int(result.rowcount or 0)
