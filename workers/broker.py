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

from engine.settings import Settings

NAMESPACE = "easypay"
PAYMENTS_QUEUE = "payments"
PROCESS_PAYMENT = "process_payment"
CAPTURE_PAYMENT = "capture_payment"
VOID_PAYMENT = "void_payment"
PROCESS_REFUND = "process_refund"
RECONCILE_PAYMENT = "reconcile_payment"
#: Batch jobs, one message per scheduler tick (``schedules/``).
RECONCILE_DUE = "reconcile_due"
SYNC_SETTLEMENT = "sync_settlement"
EXPIRE_AUTHORIZATIONS = "expire_authorizations"
SWEEP_PENDING = "sweep_pending"
#: A batch-job message older than this is dropped: the next tick sends a fresh one.
JOB_MESSAGE_MAX_AGE_MS = 15 * 60 * 1000
#: A payment message older than this is not processed (the sweep of a later issue re-enqueues).
PAYMENT_MESSAGE_MAX_AGE_MS = 24 * 3600 * 1000


def build_broker(settings: Settings, *, worker: bool) -> RedisBroker:
    """A Redis broker; ``worker=True`` adds the AsyncIO and CurrentMessage middleware actors need."""
    middleware: list[dramatiq.Middleware] = [
        AgeLimit(),
        TimeLimit(time_limit=300_000),
        ShutdownNotifications(),
        Callbacks(),
        Pipelines(),
        Retries(max_retries=10, min_backoff=1000, max_backoff=60_000),
    ]
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
    return broker
