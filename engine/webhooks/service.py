"""Delivering one claimed delivery: one attempt, recorded with its consequences.

The database holds the schedule: a worker makes exactly one attempt for a delivery it holds the
lease of, then records the outcome and the next attempt time (or success, or death) in one
transaction, and in that same transaction claims the next due delivery of the same endpoint so a
busy endpoint's queue keeps moving without waiting for the dispatcher.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import Any

import httpx
from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from engine.db import webhooks as repo
from engine.db.session import autocommit
from engine.settings import WebhookSettings
from engine.webhooks import endpoints as endpoint_cases
from engine.webhooks.addresses import (
    BlockedAddress,
    Resolver,
    UnresolvableHost,
    UnsafeUrl,
    parse_networks,
    resolve_target,
    system_resolver,
)
from engine.webhooks.attempt import AttemptResult, post_event
from engine.webhooks.schedule import next_delay_s
from engine.webhooks.secretbox import SecretBox
from engine.webhooks.signing import headers as signed_headers
from engine.webhooks.views import webhook_id

log = logging.getLogger(__name__)


class Outcome(str, Enum):
    SUCCEEDED = "succeeded"
    RETRYING = "retrying"
    #: No attempts left, 410, or the endpoint was disabled: the delivery is failed (dead).
    DEAD = "dead"
    #: The lease was lost (claimed again after expiry) or the delivery is no longer pending.
    STALE = "stale"
    MISSING = "missing"


@dataclass
class DeliveryDeps:
    engine: AsyncEngine
    http: httpx.AsyncClient
    box: SecretBox
    settings: WebhookSettings
    resolver: Resolver = system_resolver
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        self.allowed_networks = parse_networks(self.settings.allowed_networks)


@dataclass(frozen=True)
class DeliveryReport:
    outcome: Outcome
    attempt: AttemptResult | None = None
    #: Deliveries of the same endpoint claimed in the recording transaction: enqueue them.
    next_claims: list[tuple[uuid.UUID, uuid.UUID]] = field(default_factory=list)


async def deliver(deps: DeliveryDeps, delivery_id: uuid.UUID, lease_token: uuid.UUID) -> DeliveryReport:
    """Make one attempt of a delivery this caller holds the lease of, and record it.

    Safe to run twice for the same message: a lease token that no longer matches is a no-op.
    """
    async with autocommit(deps.engine).connect() as conn:
        row = await repo.load_for_attempt(conn, delivery_id)
    if row is None:
        return DeliveryReport(Outcome.MISSING)
    if row.status != "pending" or row.lease_token != lease_token or not row.enabled:
        return DeliveryReport(Outcome.STALE)
    attempted_at = datetime.now(timezone.utc)
    result = await _attempt(deps, row, attempted_at)
    async with deps.engine.begin() as conn:
        outcome = await _record(conn, deps, row, lease_token, result, attempted_at)
        claims: list[tuple[uuid.UUID, uuid.UUID]] = []
        if outcome in (Outcome.SUCCEEDED, Outcome.RETRYING):
            claims = await repo.claim_due(
                conn,
                batch=deps.settings.endpoint_max_in_flight,
                max_in_flight=deps.settings.endpoint_max_in_flight,
                lease_s=deps.settings.lease_s,
                endpoint_id=row.endpoint_id,
            )
    return DeliveryReport(outcome, result, claims)


async def _attempt(deps: DeliveryDeps, row: Any, attempted_at: datetime) -> AttemptResult:
    cfg = deps.settings
    try:
        async with asyncio.timeout(cfg.connect_timeout_s):
            target = await resolve_target(
                row.url, allowed_networks=deps.allowed_networks, allow_http=cfg.allow_http, resolver=deps.resolver
            )
    except TimeoutError:
        return AttemptResult(False, int(cfg.connect_timeout_s * 1000), error="dns: resolution timed out")
    except (UnsafeUrl, UnresolvableHost, BlockedAddress) as exc:
        if isinstance(exc, BlockedAddress):  # the addresses go to the operator's log, not the merchant
            log.warning("webhook endpoint %s: delivery refused, address %s", row.endpoint_id, ", ".join(exc.addresses))
        kind = "blocked address" if isinstance(exc, BlockedAddress) else "bad url" if isinstance(exc, UnsafeUrl) else "dns"
        return AttemptResult(False, 0, error=f"{kind}: {exc}"[:500])
    headers = signed_headers(
        endpoint_cases.signing_secrets(deps.box, row, now=attempted_at),
        msg_id=webhook_id(row.id),
        timestamp_s=int(attempted_at.timestamp()),
        body=row.body,
    )
    return await post_event(
        deps.http,
        target,
        headers=headers,
        body=row.body,
        total_timeout_s=cfg.total_timeout_s,
        body_bytes=cfg.response_body_bytes,
    )


async def _record(
    conn: AsyncConnection,
    deps: DeliveryDeps,
    row: Any,
    lease_token: uuid.UUID,
    result: AttemptResult,
    attempted_at: datetime,
) -> Outcome:
    if result.succeeded:
        settled = await repo.record_success(
            conn,
            row.id,
            lease_token,
            attempted_at=attempted_at,
            latency_ms=result.latency_ms,
            status_code=result.status_code,
            response_body=result.response_body,
        )
        return Outcome.SUCCEEDED if settled else Outcome.STALE
    current = await repo.lock_delivery(conn, row.id)
    if current is None:  # the endpoint was deleted meanwhile
        return Outcome.MISSING
    await repo.insert_attempt(
        conn,
        {
            "delivery_id": row.id,
            "attempted_at": attempted_at,
            "latency_ms": result.latency_ms,
            "status_code": result.status_code,
            "error": result.error,
            "response_body": result.response_body,
            "succeeded": result.succeeded,
        },
    )
    if current.status != "pending" or current.lease_token != lease_token:
        return Outcome.STALE
    done = {
        "attempts": current.attempts + 1,
        "last_attempt_at": attempted_at,
        "last_status_code": result.status_code,
        "last_error": result.error,
        "lease_token": None,
        "lease_until": None,
    }
    endpoint = await repo.get_endpoint(conn, row.endpoint_id, for_update=True)
    dead = {**done, "status": "failed", "next_attempt_at": None}
    if endpoint is None or not endpoint.enabled:
        await repo.update_delivery(conn, row.id, {**dead, "last_error": "endpoint disabled"})
        return Outcome.DEAD
    if result.gone:
        await repo.update_delivery(conn, row.id, dead)
        await endpoint_cases.disable(conn, endpoint.id, reason="gone", announce=True)
        log.warning("webhook endpoint %s answered 410: disabled", endpoint.id)
        return Outcome.DEAD
    failing_since = endpoint.failing_since or attempted_at
    if endpoint.failing_since is None:
        await repo.update_endpoint(conn, endpoint.id, {"failing_since": attempted_at})
    cfg = deps.settings
    delay_s = next_delay_s(current.attempts + 1, cfg.retry_schedule_s, jitter=cfg.retry_jitter, rng=deps.rng)
    if delay_s is not None and result.retry_after_s is not None:
        delay_s = max(delay_s, result.retry_after_s)
    if delay_s is None:
        await repo.update_delivery(conn, row.id, dead)
        outcome = Outcome.DEAD
    else:
        await repo.update_delivery(
            conn, row.id, {**done, "next_attempt_at": func.now() + timedelta(seconds=delay_s)}
        )
        outcome = Outcome.RETRYING
    if (attempted_at - failing_since).total_seconds() >= cfg.disable_after_s:
        if outcome is Outcome.RETRYING:
            await repo.update_delivery(conn, row.id, {**dead, "last_error": result.error})
            outcome = Outcome.DEAD
        await endpoint_cases.disable(conn, endpoint.id, reason="failing", announce=True)
        log.warning("webhook endpoint %s failing since %s: disabled", endpoint.id, failing_since.isoformat())
    return outcome
