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
from jobs.names import NAMESPACE, PAYMENTS_QUEUE, RECOVERY_QUEUE, RETRY, WEBHOOKS_QUEUE
from workers.dead_letters import ScrubSealedArguments
from workers.observability import LogContext
from workers.runtime import StopWebhookRunner


def build_broker(settings: Settings, *, worker: bool, pool: PoolSettings | None = None) -> dramatiq.Broker:
    """The broker ``BROKER_URL`` names (Redis, or RabbitMQ: ``workers.rabbitmq``); ``worker=True``
    adds the AsyncIO and CurrentMessage middleware actors need.

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
        Retries(**RETRY.options()),
    ]
    rabbitmq = settings.redis.broker_is_rabbitmq
    if not rabbitmq:  # on RabbitMQ the consumer dead-letters a copy without it (workers.rabbitmq)
        # Before the broker moves a failed message to its dead letters: drop the sealed card.
        middleware.append(ScrubSealedArguments())
    # LogContext binds the ids in the worker thread before the actor runs; an async actor's
    # coroutine, scheduled on the AsyncIO loop from that thread, copies that context.
    middleware.append(LogContext())
    if worker:
        # The webhooks pool's delivery runner drains before the AsyncIO loop stops (a no-op elsewhere).
        stop_s = min(settings.webhooks.total_timeout_s, float(pool.shutdown_timeout_s if pool else 30))
        middleware += [AsyncIO(), CurrentMessage(), StopWebhookRunner(stop_s)]
    broker: dramatiq.Broker
    if rabbitmq:
        from workers.rabbitmq import EasypayRabbitmqBroker, HeldMessages

        middleware.append(HeldMessages(cache_url=settings.redis.cache_url, key_prefix=settings.redis.key_prefix))
        broker = EasypayRabbitmqBroker(
            url=settings.redis.broker_url, queue_type=settings.redis.broker_queue_type, middleware=middleware
        )
    else:
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
