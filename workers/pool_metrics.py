"""Dramatiq's opt-in Prometheus middleware for a worker pool, served with our queue gauges.

``PoolMetrics`` (added by ``workers.broker.build_broker`` when the pool has a metrics port) keeps
Dramatiq's metrics (multi-process files in ``PROMETHEUS_MULTIPROC_DIR``, prepared by
``easypay worker``); instead of its exposition process, the pool's supervisor serves them with
``start_pool_metrics_server``, which also reports the pool's queues read from the broker at
scrape time. Each worker process sets ``easypay_worker_threads{pool}``.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import dramatiq
from dramatiq.middleware.prometheus import Prometheus

from workers.observability import POOL_ENV, POOL_QUEUES_ENV, SCRAPE_BROKER_TIMEOUT_S
from jobs.queue_metrics import QueueCollector, blocking_stats_reader

log = logging.getLogger(__name__)


def start_pool_metrics_server() -> bool:
    """Serve the pool's metrics on ``dramatiq_prom_host:port`` from a thread of this process (the
    pool's supervisor, ``easypay.pool_supervisor``), built from the environment ``easypay worker``
    prepared; False (logged) when the port cannot be bound."""
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    from engine.settings_from_env import load_settings

    settings = load_settings()
    queues = [q for q in os.environ.get(POOL_QUEUES_ENV, "").split(",") if q]
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=os.environ["PROMETHEUS_MULTIPROC_DIR"])
    read_stats = blocking_stats_reader(settings.redis.broker_url, timeout_s=SCRAPE_BROKER_TIMEOUT_S)
    registry.register(QueueCollector(read_stats, queues))
    host = os.environ.get("dramatiq_prom_host", "0.0.0.0")
    port = int(os.environ.get("dramatiq_prom_port", "9191"))
    try:
        start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        log.error("pool metrics endpoint could not listen on %s:%d: %s", host, port, exc)
        return False
    log.info("pool %s metrics on http://%s:%d/metrics", os.environ.get(POOL_ENV), host, port)
    return True


class PoolMetrics(Prometheus):
    """Dramatiq's Prometheus middleware, served with our queue gauges and pool size."""

    def __init__(self, pool: str, threads: int) -> None:
        super().__init__()
        self.pool = pool
        self.threads = threads

    @property
    def forks(self) -> list[Any]:
        return []  # the pool's supervisor serves the endpoint (start_pool_metrics_server)

    def after_process_boot(self, broker: dramatiq.Broker) -> None:
        super().after_process_boot(broker)
        from engine.metrics import WORKER_THREADS

        WORKER_THREADS.labels(pool=self.pool).set(self.threads)
