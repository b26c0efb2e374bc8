"""Worker-side observability: the log context that travels with every message, and a metrics
endpoint for a pool that is a plain process (Dramatiq pools use ``workers.pool_metrics``).

* ``LogContext`` copies the correlation ids bound when a message is enqueued (request, merchant,
  payment) into ``options["log_context"]``, and binds them, plus the message id, while the
  message is processed: a log line in the worker carries the request id of the API call behind it,
  and a message sent from a worker (a webhook delivery) inherits them.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Iterable

import dramatiq

from engine.logcontext import current_context, restore_context, set_context
from jobs.queue_metrics import QueueCollector, blocking_stats_reader

log = logging.getLogger(__name__)

#: Environment set by ``easypay worker`` for the pool's processes (and its exposition process).
POOL_ENV = "EASYPAY_POOL"
POOL_QUEUES_ENV = "EASYPAY_POOL_QUEUES"
#: Timeout of the broker reads done at scrape time.
SCRAPE_BROKER_TIMEOUT_S = 2.0


def start_process_metrics_server(pool: str, *, threads: int = 1) -> int:
    """Metrics endpoint for a pool that is one plain process, not a Dramatiq pool (e.g. a
    scheduler loop): this process's metrics, the pool's queue gauges and
    ``easypay_worker_threads{pool}``, on the pool's ``<PREFIX>_METRICS_PORT`` (a daemon thread).
    Returns the port (0: disabled)."""
    from prometheus_client import REGISTRY, CollectorRegistry, start_http_server

    from engine.metrics import WORKER_THREADS
    from engine.settings_from_env import load_settings

    settings = load_settings()
    cfg = settings.pools[pool]
    if not cfg.metrics_port:
        return 0
    WORKER_THREADS.labels(pool=pool).set(threads)
    read_stats = blocking_stats_reader(settings.redis.broker_url, timeout_s=SCRAPE_BROKER_TIMEOUT_S)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Both(REGISTRY, QueueCollector(read_stats, cfg.queues)))
    start_http_server(cfg.metrics_port, addr=settings.metrics_host, registry=registry)
    return cfg.metrics_port


class _Both:
    def __init__(self, registry: Any, queues: QueueCollector) -> None:
        self._registry = registry
        self._queues = queues

    def collect(self) -> Iterable[Any]:
        yield from self._registry.collect()
        yield from self._queues.collect()


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

    def before_process_message(self, broker: dramatiq.Broker, message: dramatiq.MessageProxy) -> None:
        carried = message.options.get(self.OPTION) or {}
        self._local.previous = current_context()
        set_context(**{k: str(v) for k, v in carried.items() if isinstance(k, str)}, message_id=message.message_id)

    def after_process_message(
        self, broker: dramatiq.Broker, message: dramatiq.MessageProxy, *, result: Any = None, exception: Any = None
    ) -> None:
        previous = getattr(self._local, "previous", None)
        if previous is not None:
            restore_context(previous)
            self._local.previous = None

    after_skip_message = after_process_message
