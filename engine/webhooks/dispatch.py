"""The webhook dispatcher: lease due deliveries and hand them to a ``webhooks`` pool in batches.

Each ``webhooks`` worker process claims for itself (``engine.webhooks.runner``): on the
scheduler's ``webhook_dispatch`` tick (every **second**) and every time it records finished
attempts. This module is the other way in, for a process that does not deliver:
``easypay webhooks dispatch [--loop]`` claims due deliveries in PostgreSQL (``FOR UPDATE SKIP
LOCKED``, at most ``WEBHOOK_ENDPOINT_MAX_IN_FLIGHT`` in flight per endpoint, each with a lease of
``WEBHOOK_LEASE_S``), commits, then sends them to the ``webhooks`` queue in messages of up to
``MESSAGE_CLAIMS`` claims, which the pool's runners adopt. Safe to run next to the pools and in
several copies: an endpoint being claimed by one claimer is skipped by the others. If sending
fails, or a worker dies mid-attempt, the lease runs out and a later claim takes the delivery
again — nothing is lost.

The sender is a port (``DeliverySender``): ``jobs.sender.JobSender`` in the CLI.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Protocol, Sequence

from sqlalchemy.ext.asyncio import AsyncEngine

from engine.db.webhook_outbox import claim_due
from engine.settings import WebhookSettings

log = logging.getLogger(__name__)


class DeliverySender(Protocol):
    async def deliver_webhooks(self, claims: Sequence[tuple[uuid.UUID, uuid.UUID]]) -> str:
        """Queue claimed deliveries (``(delivery_id, lease_token)``) in one message; raises on a broker failure."""
        ...


#: The interval the scheduler's tick wants.
INTERVAL_S = 1.0
#: Passes per call while every pass fills a whole batch (drains a backlog within one tick).
MAX_PASSES = 10
#: Claims per message: one message feeds one runner.
MESSAGE_CLAIMS = 100


async def dispatch_due_deliveries(*, engine: AsyncEngine, jobs: DeliverySender, settings: WebhookSettings) -> int:
    """Claim and enqueue every due delivery (up to ``MAX_PASSES`` batches); returns how many."""
    total = 0
    for _ in range(MAX_PASSES):
        async with engine.begin() as conn:
            claimed = await claim_due(
                conn,
                batch=settings.dispatch_batch,
                max_in_flight=settings.endpoint_max_in_flight,
                lease_s=settings.lease_s,
            )
        for start in range(0, len(claimed), MESSAGE_CLAIMS):
            chunk = claimed[start : start + MESSAGE_CLAIMS]
            try:
                await jobs.deliver_webhooks(chunk)
            except Exception as exc:  # noqa: BLE001 - the leases bring the deliveries back
                log.warning("enqueue of %d deliveries failed (%s); retried after their lease", len(chunk), type(exc).__name__)
        total += len(claimed)
        if len(claimed) < settings.dispatch_batch:
            break
    return total


async def run_forever(
    *, engine: AsyncEngine, jobs: DeliverySender, settings: WebhookSettings, interval_s: float = INTERVAL_S,
    stop: asyncio.Event | None = None,
) -> None:
    """Dispatch every ``interval_s`` in this process (``easypay webhooks dispatch --loop``, tests)."""
    stop = stop or asyncio.Event()
    while not stop.is_set():
        try:
            await dispatch_due_deliveries(engine=engine, jobs=jobs, settings=settings)
        except Exception:  # noqa: BLE001 - keep the loop alive through database/broker outages
            log.exception("webhook dispatch pass failed")
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval_s)
        except asyncio.TimeoutError:
            pass
