"""Delivering claimed deliveries: what an attempt needs (vetted target, signed headers), one
attempt, and ``deliver`` — one delivery end to end, the way the runner does many at once.

The database holds the schedule: a delivery is attempted only by whoever holds its lease, and
its outcome (success, next attempt time, or death) is recorded only if that lease still holds
(``engine.webhooks.recording``). ``engine.webhooks.runner`` keeps many attempts in flight and
records them in batches.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import aiohttp
from cachetools import TTLCache
from sqlalchemy.ext.asyncio import AsyncEngine

from engine.db import webhook_deliveries as repo
from engine.db.session import autocommit
from engine.sealing import SecretBox
from engine.settings import WebhookSettings
from engine.webhooks.addresses import (
    BlockedAddress,
    Resolver,
    Target,
    UnresolvableHost,
    UnsafeUrl,
    parse_networks,
    resolve_target,
    system_resolver,
)
from engine.webhooks.attempt import AttemptResult, post_event
from engine.webhooks.keyring import Keyring
from engine.webhooks.recording import Finished, Outcome, record
from engine.webhooks.signing import headers_for_keys
from engine.webhooks.views import webhook_id

log = logging.getLogger(__name__)

__all__ = ["DeliveryDeps", "DeliveryReport", "Outcome", "attempt", "deliver"]

#: A vetted target is reused this long for the same URL (the host is resolved and vetted again
#: after it); the request always goes to the vetted address itself, so no answer can move it.
TARGET_TTL_S = 5.0
CACHED_TARGETS = 10_000


@dataclass
class DeliveryDeps:
    engine: AsyncEngine
    http: aiohttp.ClientSession
    box: SecretBox
    settings: WebhookSettings
    resolver: Resolver = system_resolver
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        self.allowed_networks = parse_networks(self.settings.allowed_networks)
        self.keyring = Keyring(self.box)
        self._targets: TTLCache[str, Target] = TTLCache(maxsize=CACHED_TARGETS, ttl=TARGET_TTL_S)

    async def target(self, url: str) -> Target:
        """``url`` vetted (``resolve_target``); raises its refusals, which are never cached."""
        found = self._targets.get(url)
        if found is None:
            cfg = self.settings
            found = await resolve_target(
                url, allowed_networks=self.allowed_networks, allow_http=cfg.allow_http, resolver=self.resolver
            )
            self._targets[url] = found
        return found


@dataclass(frozen=True)
class DeliveryReport:
    outcome: Outcome
    attempt: AttemptResult | None = None


async def attempt(deps: DeliveryDeps, row: Any, attempted_at: datetime) -> AttemptResult:
    """One attempt of the delivery ``row`` (an attempt row: URL, sealed secrets, event bytes)."""
    cfg = deps.settings
    try:
        async with asyncio.timeout(cfg.connect_timeout_s):
            target = await deps.target(row.url)
    except TimeoutError:
        return AttemptResult(False, int(cfg.connect_timeout_s * 1000), error="dns: resolution timed out")
    except (UnsafeUrl, UnresolvableHost, BlockedAddress) as exc:
        if isinstance(exc, BlockedAddress):  # the addresses go to the operator's log, not the merchant
            log.warning("webhook endpoint %s: delivery refused, address %s", row.endpoint_id, ", ".join(exc.addresses))
        kind = "blocked address" if isinstance(exc, BlockedAddress) else "bad url" if isinstance(exc, UnsafeUrl) else "dns"
        return AttemptResult(False, 0, error=f"{kind}: {exc}"[:500])
    headers = headers_for_keys(
        deps.keyring.signing_keys(row, now=attempted_at),
        msg_id=webhook_id(row.id),
        timestamp_s=int(attempted_at.timestamp()),
        body=row.body,
    )
    return await post_event(
        deps.http, target, headers=headers, body=row.body, total_timeout_s=cfg.total_timeout_s,
        body_bytes=cfg.response_body_bytes,
    )


async def deliver(deps: DeliveryDeps, delivery_id: uuid.UUID, lease_token: uuid.UUID) -> DeliveryReport:
    """Make one attempt of a delivery this caller holds the lease of, and record it.

    Safe to run twice for the same lease: a lease token that no longer matches is a no-op.
    """
    async with autocommit(deps.engine).connect() as conn:
        row = await repo.load_for_attempt(conn, delivery_id)
    if row is None:
        return DeliveryReport(Outcome.MISSING)
    if row.status != "pending" or row.lease_token != lease_token or not row.enabled:
        return DeliveryReport(Outcome.STALE)
    attempted_at = datetime.now(timezone.utc)
    result = await attempt(deps, row, attempted_at)
    async with deps.engine.begin() as conn:
        [outcome] = await record(
            conn, [Finished(row.id, row.endpoint_id, lease_token, attempted_at, result)], settings=deps.settings, rng=deps.rng
        )
    return DeliveryReport(outcome, result)
