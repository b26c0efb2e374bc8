"""Worker-side observability: Dramatiq's Prometheus middleware per pool, our queue gauges, and
the log context that travels with every message.

* ``PoolMetrics`` is Dramatiq's opt-in ``Prometheus`` middleware (multi-process) whose exposition
  process also reports the pool's queues (depth, age, in-flight, delayed, dead letters) read from
  the broker's Redis at scrape time, and the pool's live worker threads.
* ``LogContext`` copies the correlation ids bound when a message is enqueued (request, merchant,
  payment) into ``options["log_context"]``, and binds them, plus the message id, while the
  message is processed: a log line in the worker carries the request id of the API call behind it,
  and a message sent from a worker (a webhook delivery) inherits them.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any, Iterable

import dramatiq
from dramatiq.middleware.prometheus import Prometheus
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from engine.logcontext import current_context, restore_context, set_context
from workers.queues import QueueStats, queue_stats

log = logging.getLogger(__name__)

#: Environment set by ``easypay worker`` for the pool's processes (and its exposition process).
POOL_ENV = "EASYPAY_POOL"
POOL_QUEUES_ENV = "EASYPAY_POOL_QUEUES"
#: Timeout of the Redis reads done at scrape time.
SCRAPE_REDIS_TIMEOUT_S = 2.0


def queue_metric_families(stats: list[QueueStats] | None) -> list[GaugeMetricFamily]:
    """Gauges for the queues; ``None`` (the broker did not answer) gives only ``easypay_broker_up 0``."""
    up = GaugeMetricFamily("easypay_broker_up", "1 if the broker's Redis answered this scrape.")
    up.add_metric([], 0 if stats is None else 1)
    if stats is None:
        return [up]
    families = {
        "depth": GaugeMetricFamily(
            "easypay_queue_depth", "Messages waiting in the queue (scale workers on this).", labels=["queue"]
        ),
        "in_progress": GaugeMetricFamily(
            "easypay_queue_in_progress", "Messages fetched by workers, not yet acknowledged.", labels=["queue"]
        ),
        "delayed": GaugeMetricFamily(
            "easypay_queue_delayed", "Messages waiting for a retry backoff or an ETA.", labels=["queue"]
        ),
        "dead_letters": GaugeMetricFamily(
            "easypay_queue_dead_letters", "Dead-lettered messages kept by the broker (7 days).", labels=["queue"]
        ),
        "oldest_age_s": GaugeMetricFamily(
            "easypay_queue_oldest_message_age_seconds",
            "Age of the oldest waiting message (since enqueue or last retry); 0 when empty.",
            labels=["queue"],
        ),
    }
    for item in stats:
        for field, family in families.items():
            family.add_metric([item.queue], getattr(item, field))
    return [up, *families.values()]


class QueueCollector(Collector):
    """Reads the queues from Redis on every scrape (sync client; for the exposition process)."""

    def __init__(self, redis: Any, namespace: str, queues: Iterable[str]) -> None:
        self._redis = redis
        self._namespace = namespace
        self._queues = list(queues)

    def collect(self) -> Iterable[GaugeMetricFamily]:
        try:
            stats: list[QueueStats] | None = queue_stats(self._redis, self._namespace, self._queues)
        except Exception as exc:  # noqa: BLE001 - a scrape must answer even when Redis does not
            log.warning("queue stats unavailable: %s", type(exc).__name__)
            stats = None
        return queue_metric_families(stats)


def serve_pool_metrics() -> int:
    """Fork process of a worker pool: serves the pool's metrics on ``dramatiq_prom_host:port``.

    Runs in its own process (Dramatiq's ``forks``), so it builds everything from the environment
    that ``easypay worker`` prepared.
    """
    import redis
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    from engine.settings import load_settings
    from workers.broker import NAMESPACE

    settings = load_settings()
    queues = [q for q in os.environ.get(POOL_QUEUES_ENV, "").split(",") if q]
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=os.environ["PROMETHEUS_MULTIPROC_DIR"])
    client = redis.Redis.from_url(
        settings.redis.broker_url, socket_timeout=SCRAPE_REDIS_TIMEOUT_S, socket_connect_timeout=SCRAPE_REDIS_TIMEOUT_S
    )
    registry.register(QueueCollector(client, NAMESPACE, queues))
    host = os.environ.get("dramatiq_prom_host", "0.0.0.0")
    port = int(os.environ.get("dramatiq_prom_port", "9191"))
    try:
        start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        log.error("pool metrics endpoint could not listen on %s:%d: %s", host, port, exc)
        return 1
    log.info("pool %s metrics on http://%s:%d/metrics", os.environ.get(POOL_ENV), host, port)
    while True:
        time.sleep(3600)


class PoolMetrics(Prometheus):
    """Dramatiq's Prometheus middleware, served with our queue gauges and pool size."""

    def __init__(self, pool: str, threads: int) -> None:
        super().__init__()
        self.pool = pool
        self.threads = threads

    @property
    def forks(self) -> list[Any]:
        return [serve_pool_metrics]

    def after_process_boot(self, broker: dramatiq.Broker) -> None:
        super().after_process_boot(broker)
        from engine.metrics import WORKER_THREADS

        WORKER_THREADS.labels(pool=self.pool).set(self.threads)


class LogContext(dramatiq.Middleware):
    """Carries the correlation ids in ``message.options["log_context"]`` and binds them while a
    message is processed (and its message id); must come before ``AsyncIO`` so that async actors
    run in the bound context."""

    OPTION = "log_context"

    def __init__(self) -> None:
        self._local = threading.local()

    def before_enqueue(self, broker: dramatiq.Broker, message: dramatiq.Message, delay: int | None) -> None:
        if self.OPTION not in message.options:
            context = {k: v for k, v in current_context().items() if k != "message_id"}
            if context:
                message.options[self.OPTION] = context

    def before_process_message(self, broker: dramatiq.Broker, message: dramatiq.Message) -> None:
        carried = message.options.get(self.OPTION) or {}
        self._local.previous = current_context()
        set_context(**{k: str(v) for k, v in carried.items() if isinstance(k, str)}, message_id=message.message_id)

    def after_process_message(
        self, broker: dramatiq.Broker, message: dramatiq.Message, *, result: Any = None, exception: Any = None
    ) -> None:
        previous = getattr(self._local, "previous", None)
        if previous is not None:
            restore_context(previous)
            self._local.previous = None

    after_skip_message = after_process_message
