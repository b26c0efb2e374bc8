"""Prometheus gauges of the broker's queues, built at scrape time (API and pool endpoints)."""

from __future__ import annotations

import logging
from typing import Callable, Iterable

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from engine.settings import is_rabbitmq_url
from jobs.names import NAMESPACE
from jobs.queues import QueueStats, queue_stats

log = logging.getLogger(__name__)


def queue_metric_families(stats: list[QueueStats] | None) -> list[GaugeMetricFamily]:
    """Gauges for the queues; ``None`` (the broker did not answer) gives only ``easypay_broker_up 0``."""
    up = GaugeMetricFamily("easypay_broker_up", "1 if the broker answered this scrape.")
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
            value = getattr(item, field)
            if value is not None:  # a broker that cannot tell gives no sample rather than a wrong one
                family.add_metric([item.queue], value)
    return [up, *families.values()]


class QueueCollector(Collector):
    """Reads the queues from the broker on every scrape (blocking; for the exposition process).

    ``read_stats`` is ``jobs.queues.queue_stats`` bound to a Redis client, or
    ``jobs.rabbitmq.queue_stats_blocking`` bound to a URL.
    """

    def __init__(self, read_stats: Callable[[list[str]], list[QueueStats]], queues: Iterable[str]) -> None:
        self._read_stats = read_stats
        self._queues = list(queues)

    def collect(self) -> Iterable[GaugeMetricFamily]:
        try:
            stats: list[QueueStats] | None = self._read_stats(self._queues)
        except Exception as exc:  # noqa: BLE001 - a scrape must answer even when the broker does not
            log.warning("queue stats unavailable: %s", type(exc).__name__)
            stats = None
        return queue_metric_families(stats)




def blocking_stats_reader(broker_url: str, *, timeout_s: float) -> Callable[[list[str]], list[QueueStats]]:
    """The blocking ``read_stats`` for the broker ``broker_url`` names (``redis://`` or ``amqp://``)."""
    if is_rabbitmq_url(broker_url):
        from jobs.rabbitmq import queue_stats_blocking

        return lambda queues: queue_stats_blocking(broker_url, queues, timeout_s=timeout_s)
    import redis

    client = redis.Redis.from_url(broker_url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
    return lambda queues: queue_stats(client, NAMESPACE, queues)


__all__ = ["QueueCollector", "blocking_stats_reader", "queue_metric_families"]
