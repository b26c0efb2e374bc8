"""The webhook dispatcher: hand due deliveries to the ``webhooks`` queue.

The scheduler's ``webhook_dispatch`` job (``schedules/jobs.py``) enqueues one pass every
**second**, and the ``webhooks`` pool runs it (``workers/webhooks.py``), so the first attempt of
a new event starts within about a second. A pass only enqueues: it claims due
deliveries in PostgreSQL (``FOR UPDATE SKIP LOCKED``, at most ``WEBHOOK_ENDPOINT_MAX_IN_FLIGHT``
in flight per endpoint, each with a lease of ``WEBHOOK_LEASE_S``), commits, then sends one
Dramatiq message per claimed delivery. Safe to run in several scheduler copies at once: an
endpoint being claimed by one copy is skipped by the others. If sending fails, or a worker dies
mid-attempt, the lease runs out and a later pass claims the delivery again — nothing is lost.

The sender is a port (``DeliverySender``): ``jobs.sender.JobSender`` in the workers and the CLI.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from engine.db.webhooks import claim_due
from engine.settings import WebhookSettings

log = logging.getLogger(__name__)


class DeliverySender(Protocol):
    async def deliver_webhook(self, delivery_id: uuid.UUID, lease_token: uuid.UUID) -> str:
        """Queue one attempt of a claimed delivery; raises on a broker failure."""
        ...


#: The interval this job wants from the scheduler.
INTERVAL_S = 1.0
#: Passes per call while every pass fills a whole batch (drains a backlog within one tick).
MAX_PASSES = 10


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
        for delivery_id, token in claimed:
            try:
                await jobs.deliver_webhook(delivery_id, token)
            except Exception as exc:  # noqa: BLE001 - the lease brings the delivery back
                log.warning("enqueue of delivery %s failed (%s); retried after its lease", delivery_id, type(exc).__name__)
        total += len(claimed)
        if len(claimed) < settings.dispatch_batch:
            break
    return total


async def run_forever(
    *, engine: AsyncEngine, jobs: DeliverySender, settings: WebhookSettings, interval_s: float = INTERVAL_S,
    stop: asyncio.Event | None = None,
) -> None:
    """Dispatch every ``interval_s`` in this process (``easypay webhooks dispatch --loop``, tests), instead
    of on the scheduler's ticks through the ``webhooks`` pool."""
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
