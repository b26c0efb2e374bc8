"""A Dramatiq no-op actor on its own Redis database: the broker's own drain rate, the ceiling the
payments pool is compared with at 0 ms processor latency (``dramatiq bench.noop_actor``)."""

from __future__ import annotations

import os

import dramatiq
from dramatiq.brokers.redis import RedisBroker

from bench.common import NOOP_BROKER_DB, REDIS_HOST, REDIS_PORT

NAMESPACE, QUEUE = "bench-noop", "noop"
broker = RedisBroker(url=os.environ.get("BENCH_NOOP_BROKER_URL", f"redis://{REDIS_HOST}:{REDIS_PORT}/{NOOP_BROKER_DB}"),
                     namespace=NAMESPACE)
dramatiq.set_broker(broker)


@dramatiq.actor(queue_name=QUEUE, max_retries=0)
def noop(n: int) -> None:
    return None
