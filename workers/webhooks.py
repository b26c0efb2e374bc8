"""Actor of the ``webhooks`` queue: one delivery attempt, its outcome recorded in PostgreSQL.

Retries are not Dramatiq's: the next attempt time lives in ``webhook_deliveries`` and the
dispatcher (``engine/webhooks/dispatch.py``) enqueues what is due, so no long-delayed message waits in
worker memory. A message that fails (database down, worker killed) is simply dropped: the
delivery's lease expires and the dispatcher claims it again.
"""

from __future__ import annotations

import logging
import uuid

import dramatiq

from engine.logcontext import bind_context
from engine.metrics import WEBHOOK_DEAD_LETTERS, WEBHOOK_DELIVERIES, WEBHOOK_DELIVERY_DURATION
from engine.outages import through_outages
from engine.webhooks.dispatch import dispatch_due_deliveries
from engine.webhooks.service import Outcome, deliver
from workers import runtime
from jobs.names import DELIVER_WEBHOOK, DISPATCH_WEBHOOKS, WEBHOOKS_QUEUE

log = logging.getLogger(__name__)

#: Attempt outcomes as the ``easypay_webhook_deliveries_total`` metric names them (a lost lease or
#: a vanished delivery recorded nothing, so it is not counted).
_METRIC_OUTCOME = {Outcome.SUCCEEDED: "delivered", Outcome.RETRYING: "retrying", Outcome.DEAD: "dead"}


def _observe(report) -> None:  # type: ignore[no-untyped-def]
    label = _METRIC_OUTCOME.get(report.outcome)
    if label is None:
        return
    WEBHOOK_DELIVERIES.labels(outcome=label).inc()
    if report.outcome is Outcome.DEAD:
        WEBHOOK_DEAD_LETTERS.inc()
    if report.attempt is not None:
        WEBHOOK_DELIVERY_DURATION.observe(report.attempt.latency_ms / 1000)


@dramatiq.actor(actor_name=DELIVER_WEBHOOK, queue_name=WEBHOOKS_QUEUE, max_retries=0)
async def deliver_webhook(delivery_id: str, lease_token: str) -> None:
    with bind_context(message_id=delivery_id):
        deps = await runtime.webhook_deps()
        report = await deliver(deps.delivery, uuid.UUID(delivery_id), uuid.UUID(lease_token))
        _observe(report)
        attempt = report.attempt
        log.info(
            "webhook delivery %s: %s%s",
            delivery_id,
            report.outcome.value,
            f" ({attempt.status_code or attempt.error}, {attempt.latency_ms} ms)" if attempt else "",
        )
        for next_id, token in report.next_claims:
            try:
                await deps.jobs.deliver_webhook(next_id, token)
            except Exception as exc:  # noqa: BLE001 - the lease brings it back; never fail the recorded attempt
                log.warning("could not enqueue delivery %s (%s); it returns when its lease ends", next_id, type(exc).__name__)


@dramatiq.actor(actor_name=DISPATCH_WEBHOOKS, queue_name=WEBHOOKS_QUEUE, max_retries=0)
async def dispatch_webhook_deliveries() -> None:
    """The scheduler's ``webhook_dispatch`` job: claim due deliveries and queue one attempt each."""
    async def once() -> int:
        deps = await runtime.webhook_deps()
        return await dispatch_due_deliveries(engine=deps.delivery.engine, jobs=deps.jobs, settings=deps.delivery.settings)

    try:
        _, claimed = await through_outages(once, what=DISPATCH_WEBHOOKS)
    except Exception:  # noqa: BLE001 - a bug: logged with its traceback; the next tick tries again
        log.exception("webhook dispatch failed; the next tick tries again")
        return
    if claimed:
        log.info("dispatched %d webhook deliveries", claimed)
