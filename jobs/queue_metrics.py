"""Prometheus gauges of the broker's queues, built at scrape time (API and pool endpoints)."""

from __future__ import annotations

import logging
from typing import Any, Iterable

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from jobs.queues import QueueStats, queue_stats

log = logging.getLogger(__name__)


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




__all__ = ["QueueCollector", "queue_metric_families"]
