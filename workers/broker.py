"""The Dramatiq broker, built once per process from settings with an explicit middleware list."""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import (
    AgeLimit,
    AsyncIO,
    Callbacks,
    CurrentMessage,
    Pipelines,
    Retries,
    ShutdownNotifications,
    TimeLimit,
)

from engine.settings import PoolSettings, Settings
from workers.observability import LogContext

NAMESPACE = "easypay"
PAYMENTS_QUEUE = "payments"
PROCESS_PAYMENT = "process_payment"
WEBHOOKS_QUEUE = "webhooks"
DELIVER_WEBHOOK = "deliver_webhook"
#: One pass of the webhook dispatcher (due deliveries → ``deliver_webhook`` messages), every second.
DISPATCH_WEBHOOKS = "dispatch_webhook_deliveries"
#: A delivery message older than this is dropped: its lease has long expired and the dispatcher
#: has claimed the delivery again.
WEBHOOK_MESSAGE_MAX_AGE_MS = 3600 * 1000
CAPTURE_PAYMENT = "capture_payment"
VOID_PAYMENT = "void_payment"
PROCESS_REFUND = "process_refund"
RECONCILE_PAYMENT = "reconcile_payment"
#: Reconciliation and the sweeps: their own queue and pool, so a backlog of charges never delays
#: them and they never take the charges' workers.
RECOVERY_QUEUE = "recovery"
#: Batch jobs, one message per scheduler tick (``schedules/``), on ``recovery``.
RECONCILE_DUE = "reconcile_due"
SYNC_SETTLEMENT = "sync_settlement"
EXPIRE_AUTHORIZATIONS = "expire_authorizations"
SWEEP_PENDING = "sweep_pending"
#: A batch-job message older than this is dropped: the next tick sends a fresh one.
JOB_MESSAGE_MAX_AGE_MS = 15 * 60 * 1000
#: A payment message older than this is not processed (the pending sweep re-enqueues the payment).
PAYMENT_MESSAGE_MAX_AGE_MS = 24 * 3600 * 1000


def build_broker(settings: Settings, *, worker: bool, pool: PoolSettings | None = None) -> RedisBroker:
    """A Redis broker; ``worker=True`` adds the AsyncIO and CurrentMessage middleware actors need.

    With a ``pool`` whose ``metrics_port`` is set, Dramatiq's Prometheus middleware (our
    ``PoolMetrics``) is added: the pool then serves metrics on that port.
    """
    middleware: list[dramatiq.Middleware] = []
    if worker and pool is not None and pool.metrics_port:
        from workers.pool_metrics import PoolMetrics  # Dramatiq's Prometheus module creates a directory at import

        middleware.append(PoolMetrics(pool.name, pool.threads))
    middleware += [
        AgeLimit(),
        TimeLimit(time_limit=300_000),
        ShutdownNotifications(),
        Callbacks(),
        Pipelines(),
        Retries(max_retries=10, min_backoff=1000, max_backoff=60_000),
    ]
    # LogContext binds the ids in the worker thread before the actor runs; an async actor's
    # coroutine, scheduled on the AsyncIO loop from that thread, copies that context.
    middleware.append(LogContext())
    if worker:
        middleware += [AsyncIO(), CurrentMessage()]
    broker = RedisBroker(
        url=settings.redis.broker_url,
        namespace=NAMESPACE,
        middleware=middleware,
        heartbeat_timeout=settings.workers.heartbeat_timeout_ms,
        # Return dead workers' messages promptly instead of once per ~1000 commands.
        maintenance_chance=10_000,
    )
    broker.declare_queue(PAYMENTS_QUEUE)
    broker.declare_queue(WEBHOOKS_QUEUE)
    broker.declare_queue(RECOVERY_QUEUE)
    return broker
