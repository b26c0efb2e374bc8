"""Actors of the ``webhooks`` queue: wake this process's delivery runner, or hand it deliveries
leased elsewhere. The runner (``engine/webhooks/runner.py``) makes the attempts and records them
in batches; this module adds the pool's metrics and logs.

Retries are not Dramatiq's: the next attempt time lives in ``webhook_deliveries``, and a runner
claims what is due on each tick and after each batch it records. A message that fails (database
down, worker killed) is simply dropped: the deliveries' leases expire and they are claimed again.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from typing import Sequence

import dramatiq

from engine.outages import through_outages
from engine.metrics import WEBHOOK_DEAD_LETTERS, WEBHOOK_DELIVERIES, WEBHOOK_DELIVERY_DURATION
from engine.webhooks.recording import Finished, Outcome
from workers import runtime
from jobs.names import DELIVER_WEBHOOKS, DISPATCH_WEBHOOKS, WEBHOOKS_QUEUE

log = logging.getLogger(__name__)

#: Attempt outcomes as the ``easypay_webhook_deliveries_total`` metric names them (a lost lease or
#: a vanished delivery recorded nothing, so it is not counted).
_METRIC_OUTCOME = {Outcome.SUCCEEDED: "delivered", Outcome.RETRYING: "retrying", Outcome.DEAD: "dead"}


def _observe(batch: Sequence[tuple[Finished, Outcome]]) -> None:
    """Counters once per batch and outcome; a log line for each attempt that did not succeed."""
    counts = Counter(outcome for _, outcome in batch)
    for outcome, label in _METRIC_OUTCOME.items():
        if counts[outcome]:
            WEBHOOK_DELIVERIES.labels(outcome=label).inc(counts[outcome])
    if counts[Outcome.DEAD]:
        WEBHOOK_DEAD_LETTERS.inc(counts[Outcome.DEAD])
    for finished, outcome in batch:
        attempt = finished.result
        if outcome in _METRIC_OUTCOME:
            WEBHOOK_DELIVERY_DURATION.observe(attempt.latency_ms / 1000)
        if outcome is not Outcome.SUCCEEDED:
            log.info(
                "webhook delivery %s: %s (%s, %d ms)",
                finished.delivery_id, outcome.value, attempt.status_code or attempt.error, attempt.latency_ms,
            )
    log.debug("recorded %d webhook attempts: %s", len(batch), dict(counts))


@dramatiq.actor(actor_name=DISPATCH_WEBHOOKS, queue_name=WEBHOOKS_QUEUE, max_retries=0)
async def dispatch_webhook_deliveries() -> None:
    """The scheduler's ``webhook_dispatch`` tick: this process's runner claims due deliveries now
    (a database outage is waited out a little, then logged; the next tick tries again)."""
    runner = await runtime.webhook_runner(_observe)
    try:
        await through_outages(runner.claim_now, what=DISPATCH_WEBHOOKS)
    except Exception:  # noqa: BLE001 - a bug: logged with its traceback; the next tick tries again
        log.exception("webhook claim failed; the next tick tries again")


@dramatiq.actor(actor_name=DELIVER_WEBHOOKS, queue_name=WEBHOOKS_QUEUE, max_retries=0)
async def deliver_webhooks(claims: list[list[str]]) -> None:
    """Deliveries leased by ``easypay webhooks dispatch``: attempted by this process's runner."""
    runner = await runtime.webhook_runner(_observe)
    adopted = await runner.adopt([(uuid.UUID(d), uuid.UUID(t)) for d, t in claims])
    if adopted < len(claims):
        log.info("%d of %d dispatched deliveries were no longer theirs to attempt", len(claims) - adopted, len(claims))
