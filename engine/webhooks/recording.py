"""Recording finished attempts: successes settled together in one statement, each failure with
its consequences (next attempt time or death, the endpoint's failure streak, disabling).

Everything is recorded only if the caller still holds the delivery's lease (its token): an
attempt whose lease was lost is logged but changes nothing else (``Outcome.STALE``).
"""

from __future__ import annotations

import logging
import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any, Sequence

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncConnection

from engine.db import webhook_deliveries as repo
from engine.db import webhook_endpoints as endpoint_repo
from engine.db.webhook_batches import Success, record_successes
from engine.settings import WebhookSettings
from engine.webhooks import endpoints as endpoint_cases
from engine.webhooks.attempt import AttemptResult
from engine.webhooks.schedule import next_delay_s

log = logging.getLogger(__name__)


class Outcome(str, Enum):
    SUCCEEDED = "succeeded"
    RETRYING = "retrying"
    #: No attempts left, 410, or the endpoint was disabled: the delivery is failed (dead).
    DEAD = "dead"
    #: The lease was lost (claimed again after expiry) or the delivery is no longer pending.
    STALE = "stale"
    MISSING = "missing"


@dataclass(frozen=True, slots=True)
class Finished:
    """One attempt made for a delivery this process held the lease of."""

    delivery_id: uuid.UUID
    endpoint_id: uuid.UUID
    lease_token: uuid.UUID
    attempted_at: datetime
    result: AttemptResult


async def record(
    conn: AsyncConnection, finished: Sequence[Finished], *, settings: WebhookSettings, rng: random.Random
) -> list[Outcome]:
    """Record a batch of attempts in the caller's transaction; outcomes in the batch's order."""
    successes = [f for f in finished if f.result.succeeded]
    settled = await record_successes(conn, as_successes(successes))
    outcomes = success_outcomes(successes, settled)
    outcomes.update(await record_failures(conn, [f for f in finished if not f.result.succeeded], settings=settings, rng=rng))
    return [outcomes[f.delivery_id] for f in finished]


def as_successes(finished: Sequence[Finished]) -> list[Success]:
    return [
        Success(f.delivery_id, f.lease_token, f.attempted_at, f.result.latency_ms, f.result.status_code, f.result.response_body)
        for f in finished
    ]


def success_outcomes(successes: Sequence[Finished], settled: set[uuid.UUID]) -> dict[uuid.UUID, Outcome]:
    return {f.delivery_id: Outcome.SUCCEEDED if f.delivery_id in settled else Outcome.STALE for f in successes}


async def record_failures(
    conn: AsyncConnection, failures: Sequence[Finished], *, settings: WebhookSettings, rng: random.Random
) -> dict[uuid.UUID, Outcome]:
    """Failed attempts one by one, in delivery order (the lock order of every writer of these rows)."""
    return {
        f.delivery_id: await _record_failure(conn, f, settings=settings, rng=rng)
        for f in sorted(failures, key=lambda f: f.delivery_id)
    }


async def _record_failure(conn: AsyncConnection, f: Finished, *, settings: WebhookSettings, rng: random.Random) -> Outcome:
    result = f.result
    current = await repo.lock_delivery(conn, f.delivery_id)
    if current is None:  # the endpoint was deleted meanwhile
        return Outcome.MISSING
    await repo.insert_attempt(
        conn,
        {
            "delivery_id": f.delivery_id,
            "attempted_at": f.attempted_at,
            "latency_ms": result.latency_ms,
            "status_code": result.status_code,
            "error": result.error,
            "response_body": result.response_body,
            "succeeded": False,
        },
    )
    if current.status != "pending" or current.lease_token != f.lease_token:
        return Outcome.STALE
    done: dict[str, Any] = {
        "attempts": current.attempts + 1,
        "last_attempt_at": f.attempted_at,
        "last_status_code": result.status_code,
        "last_error": result.error,
        "lease_token": None,
        "lease_until": None,
    }
    endpoint = await endpoint_repo.get_endpoint(conn, f.endpoint_id, for_update=True)
    dead = {**done, "status": "failed", "next_attempt_at": None}
    if endpoint is None or not endpoint.enabled:
        await repo.update_delivery(conn, f.delivery_id, {**dead, "last_error": "endpoint disabled"})
        return Outcome.DEAD
    if result.gone:
        await repo.update_delivery(conn, f.delivery_id, dead)
        await endpoint_cases.disable(conn, endpoint.id, reason="gone", announce=True)
        log.warning("webhook endpoint %s answered 410: disabled", endpoint.id)
        return Outcome.DEAD
    failing_since = endpoint.failing_since or f.attempted_at
    if endpoint.failing_since is None:
        await endpoint_repo.update_endpoint(conn, endpoint.id, {"failing_since": f.attempted_at})
    delay_s = next_delay_s(current.attempts + 1, settings.retry_schedule_s, jitter=settings.retry_jitter, rng=rng)
    if delay_s is not None and result.retry_after_s is not None:
        delay_s = max(delay_s, result.retry_after_s)
    if delay_s is None:
        await repo.update_delivery(conn, f.delivery_id, dead)
        outcome = Outcome.DEAD
    else:
        await repo.update_delivery(conn, f.delivery_id, {**done, "next_attempt_at": func.now() + timedelta(seconds=delay_s)})
        outcome = Outcome.RETRYING
    if (f.attempted_at - failing_since).total_seconds() >= settings.disable_after_s:
        if outcome is Outcome.RETRYING:
            await repo.update_delivery(conn, f.delivery_id, {**dead, "last_error": result.error})
            outcome = Outcome.DEAD
        await endpoint_cases.disable(conn, endpoint.id, reason="failing", announce=True)
        log.warning("webhook endpoint %s failing since %s: disabled", endpoint.id, failing_since.isoformat())
    return outcome
