"""``GET /metrics`` (Prometheus text format) and the HTTP metrics middleware.

The exposition has two parts:

* the process metrics of ``engine.metrics`` (requests, latency, payments accepted, cache,
  auth failures...). When ``PROMETHEUS_MULTIPROC_DIR`` is set (several API processes), they are
  summed over every process's files; otherwise this process's registry is served;
* gauges computed on each scrape, with short timeouts: dependency health (the readiness checks),
  the broker's queues, and the payments backlog from PostgreSQL (a routed read: the replica when
  it is current); with a read replica, its lag as last sampled (not measured per scrape). Each API instance reports the
  same values: aggregate them with ``max``, not ``sum``.

``/metrics`` needs no credentials (``opt={"permission": None}``, outside ``/v1``): protect it at
the network level (scrape from inside the cluster), like ``/health``.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

from litestar import Response, get
from litestar.di import NamedDependency
from litestar.types import HTTPScope
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from api.health import CHECKS
from api.openapi_strict import NO_CREDENTIALS
from api.state import AppState
from engine.db import payment_backlog
from engine.metrics import HTTP_IN_FLIGHT, HTTP_REQUEST_DURATION, HTTP_REQUESTS
from jobs.queue_metrics import queue_metric_families
from jobs.queues import QueueStats

log = logging.getLogger(__name__)

METRICS_PATH = "/metrics"
#: The classic text format every Prometheus version parses (Litestar appends the charset).
CONTENT_TYPE = "text/plain; version=0.0.4"
#: Each scrape-time read gives up after this long (the scrape itself times out at 10 s).
SCRAPE_CHECK_TIMEOUT_S = 2.0

class RequestMetrics:
    """The HTTP metrics of ``api.middleware.api_middleware``: every routed request counted by
    route *template* (``/v1/payments/{payment_id}``), never the raw path, so ids never become
    labels. ``/metrics`` itself is not counted (the middleware skips it); a long-poll (``?wait=``
    that actually waited) is counted but not timed, so it cannot fake a p99. The labelled
    children are looked up once per label set, not per request."""

    def __init__(self) -> None:
        #: (route, method, status) -> (its request counter, the route's duration histogram): one
        #: lookup per request. The histogram's series is made on the first timed request only.
        self._children: dict[tuple[str, str, int], list[Any]] = {}

    def begin(self) -> None:
        HTTP_IN_FLIGHT.inc()

    def end(self, scope: HTTPScope, status: int, elapsed_s: float) -> None:
        HTTP_IN_FLIGHT.dec()
        route = scope.get("path_template") or "unmatched"
        method = scope.get("method", "GET")
        children = self._children.get((route, method, status))
        if children is None:
            children = self._children[(route, method, status)] = [
                HTTP_REQUESTS.labels(route=route, method=method, status=str(status)), None
            ]
        if not scope["state"].get("long_poll"):
            if children[1] is None:
                children[1] = HTTP_REQUEST_DURATION.labels(route=route, method=method)
            children[1].observe(elapsed_s)
        children[0].inc()


class _Families(Collector):
    def __init__(self, families: list[Any]) -> None:
        self._families = families

    def collect(self) -> list[Any]:
        return self._families


def _replica_families(state: AppState) -> list[Any]:
    """The read replica as the last lag sample measured it (``engine.db.replica_lag``), if there is one."""
    lag = state.read_router.lag
    if lag is None:
        return []
    up = GaugeMetricFamily("easypay_db_replica_up", "1 if the last lag sample reached the read replica (in recovery).")
    up.add_metric([], 1 if lag.up else 0)
    families = [up]
    if lag.lag_s is not None:
        seconds = GaugeMetricFamily(
            "easypay_db_replica_lag_seconds",
            "How far the read replica's replay was behind the primary at the last sample (WAL positions compared).",
        )
        seconds.add_metric([], lag.lag_s)
        families.append(seconds)
    if lag.lag_bytes is not None:
        size = GaugeMetricFamily("easypay_db_replica_lag_bytes", "WAL bytes the read replica had not replayed at the last sample.")
        size.add_metric([], lag.lag_bytes)
        families.append(size)
    return families


async def _dependency_families(state: AppState) -> list[Any]:
    up = GaugeMetricFamily(
        "easypay_dependency_up", "1 if the readiness check of the dependency passes.", labels=["dependency"]
    )

    async def run(name: str) -> tuple[str, int]:
        try:
            await asyncio.wait_for(CHECKS[name](state), timeout=SCRAPE_CHECK_TIMEOUT_S)
            return name, 1
        except Exception:  # noqa: BLE001 - a failing check is the measurement
            return name, 0

    for name, value in await asyncio.gather(*(run(name) for name in CHECKS)):
        up.add_metric([name], value)
    return [up]


def known_queues(state: AppState) -> list[str]:
    queues: list[str] = []
    for pool in state.settings.pools.values():
        queues.extend(q for q in pool.queues if q not in queues)
    return queues or ["payments"]


async def _queue_families(state: AppState) -> list[Any]:
    try:
        stats: list[QueueStats] | None = await asyncio.wait_for(
            state.jobs.queue_stats(known_queues(state)), timeout=SCRAPE_CHECK_TIMEOUT_S
        )
    except Exception as exc:  # noqa: BLE001
        log.warning("queue stats unavailable: %s", type(exc).__name__)
        stats = None
    return queue_metric_families(stats)


async def _payment_families(state: AppState) -> list[Any]:
    async def read() -> Any:
        return await state.read_router.read(payment_backlog.backlog)

    try:
        row = await asyncio.wait_for(read(), timeout=SCRAPE_CHECK_TIMEOUT_S)
    except Exception as exc:  # noqa: BLE001 - easypay_dependency_up says why
        log.warning("payment backlog unavailable: %s", type(exc).__name__)
        return []
    backlog = GaugeMetricFamily(
        "easypay_reconciliation_backlog", "Payments whose processor outcome is unknown (needs_reconciliation)."
    )
    backlog.add_metric([], row.reconciliation_backlog)
    in_flight = GaugeMetricFamily("easypay_payments_in_flight", "Payments pending or processing.", labels=["status"])
    oldest = GaugeMetricFamily(
        "easypay_payments_oldest_in_flight_age_seconds",
        "Age of the oldest pending or processing payment; 0 when there is none.",
        labels=["status"],
    )
    for status in ("pending", "processing"):
        in_flight.add_metric([status], getattr(row, status))
        oldest.add_metric([status], float(getattr(row, f"{status}_age_s") or 0))
    return [backlog, in_flight, oldest]


@get(
    METRICS_PATH,
    tags=["operations"],
    summary="Prometheus metrics",
    description="Prometheus text exposition: API process metrics plus queue, dependency and backlog gauges. "
    "With `EASYPAY_OPS_TOKEN` set, it needs that token as a Bearer token.",
    media_type=CONTENT_TYPE,
    opt={"permission": None, "ops": True},
    security=NO_CREDENTIALS,
    include_in_schema=True,
)
async def metrics(easypay: NamedDependency[AppState]) -> Response[bytes]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        process = CollectorRegistry()
        MultiProcessCollector(process)
    else:
        process = REGISTRY
    families: list[Any] = _replica_families(easypay)
    for part in await asyncio.gather(_dependency_families(easypay), _queue_families(easypay), _payment_families(easypay)):
        families.extend(part)
    scraped = CollectorRegistry(auto_describe=False)
    scraped.register(_Families(families))
    body = generate_latest(process) + generate_latest(scraped)
    return Response(body, media_type=CONTENT_TYPE)


__all__ = ["METRICS_PATH", "RequestMetrics", "metrics"]
