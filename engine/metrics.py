"""Every Prometheus metric the engine exports, defined once, with who increments it.

Rules
    * Labels are small closed sets (route templates, statuses, outcomes, operation names):
      never an id, a merchant name, an amount or a URL.
    * Labelled counters are created at import with every known label value, so a series exists
      (at 0) before the first event: ``rate()`` works from the start and the "every metric the
      dashboards use is exported" test sees them.
    * Multi-process: when ``PROMETHEUS_MULTIPROC_DIR`` is set *before this module is imported*,
      prometheus-client keeps values in per-process files in that directory and the exposition
      (``/metrics`` of the API, the worker pool's metrics port) sums them. ``easypay web
      --workers N`` and ``easypay worker`` set it for you (see ``engine.metrics_dirs``).

Metrics computed at scrape time from Redis and PostgreSQL (queue depth, dead letters,
reconciliation backlog, dependency health) are not here: they are built fresh on every scrape by
``api/metrics.py`` and ``jobs/queue_metrics.py``.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

# No ``*_created`` series: they double the series count and no dashboard uses them.
disable_created_metrics()  # type: ignore[no-untyped-call]  # prometheus_client leaves it unannotated

#: Seconds; covers a 2 ms cache hit to a 30 s long-poll.
HTTP_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
#: Seconds; processor answers take 0.1-3 s, the read timeout is 20 s.
PROCESSOR_BUCKETS_S = (0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0)
#: Seconds; webhook receivers should answer well under the delivery timeout.
WEBHOOK_BUCKETS_S = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

# ---------------------------------------------------------------------------------------------
# API (process ``web``): wired in api/metrics.py, api/payments.py, api/auth.py

HTTP_REQUESTS = Counter(
    "easypay_http_requests_total",
    "HTTP requests answered, by route template, method and status code.",
    ["route", "method", "status"],
)
"""Incremented by ``api.metrics.RequestMetrics`` once per answered request."""

HTTP_REQUEST_DURATION = Histogram(
    "easypay_http_request_duration_seconds",
    "Time from request start to the end of the response body, by route template and method.",
    ["route", "method"],
    buckets=HTTP_BUCKETS_S,
)
"""Observed by ``api.metrics.RequestMetrics``."""

HTTP_IN_FLIGHT = Gauge(
    "easypay_http_requests_in_flight",
    "HTTP requests being handled right now (summed over live API processes).",
    multiprocess_mode="livesum",
)
"""Incremented/decremented by ``api.metrics.RequestMetrics``."""

PAYMENTS_ACCEPTED = Counter(
    "easypay_payments_accepted_total",
    "Payments recorded and queued (202), by payment method type (card, opaque).",
    ["method"],
)
"""Incremented by ``api.payments.PaymentController.create_payment`` after its commit (not on replays)."""

AUTH_FAILURES = Counter(
    "easypay_auth_failures_total",
    "Requests refused for authentication or authorization, by reason.",
    ["reason"],
)
"""Incremented by ``api.auth``: ``missing_credentials``, ``invalid_credentials`` (API key),
``invalid_token`` (JWT) and ``invalid_ops_token`` (``EASYPAY_OPS_TOKEN`` routes) on a 401,
``forbidden`` on a 403 for a missing permission."""
AUTH_FAILURE_REASONS = ("missing_credentials", "invalid_credentials", "invalid_token", "invalid_ops_token", "forbidden")

RATE_LIMIT_REJECTIONS = Counter(
    "easypay_rate_limit_rejections_total",
    "Requests refused with 429 by a rate limit, by the limit's scope.",
    ["scope"],
)
"""Incremented by ``api.auth`` right before answering 429, with the limited identity's kind."""
RATE_LIMIT_SCOPES = ("api_key", "user", "ip", "key_failures", "login_email", "login")

CACHE_REQUESTS = Counter(
    "easypay_cache_requests_total",
    "Payment snapshot cache operations, by operation and result.",
    ["operation", "result"],
)
"""Incremented by ``engine.cache.PaymentCache``: get → hit|miss|error, put → stored|stale|error.
Hit ratio = hit / (hit + miss)."""
CACHE_RESULTS = {"get": ("hit", "miss", "error"), "put": ("stored", "stale", "error")}

DB_READS = Counter(
    "easypay_db_reads_total",
    "Routed API reads (lists, objects, events, audit, gauges) by the server that answered and why.",
    ["target", "reason"],
)
"""Incremented by ``engine.db.read_routing.ReadRouter``: ``replica``/``fresh`` (the replica was
current enough), or ``primary`` with ``no_replica``, ``replica_down``, ``lagging``,
``recent_write`` (read-your-writes), ``not_found`` (the replica lacked the object: asked again)
or ``replica_error`` (the replica failed the read: asked again). Replica lag itself is the
scrape-time gauge ``easypay_db_replica_lag_seconds``."""
DB_READ_REASONS = {
    "replica": ("fresh",),
    "primary": ("no_replica", "replica_down", "lagging", "recent_write", "not_found", "replica_error"),
}

# ---------------------------------------------------------------------------------------------
# Workers (pool ``payments``): wired in engine/outcomes.py, engine/processor/client.py

PAYMENT_OUTCOMES = Counter(
    "easypay_payment_outcomes_total",
    "Payments reaching an outcome status, by status.",
    ["status"],
)
"""Incremented through ``record_payment_status`` after the commit of each outcome: the charge
(``engine.outcomes.finish``: authorized/captured/declined/failed), capture and void
(``engine.operations``), refunds (partially_refunded/refunded, or voided before settlement) and
expiry (``engine.sweeps``)."""
OUTCOME_STATUSES = (
    "authorized",
    "captured",
    "declined",
    "failed",
    "voided",
    "expired",
    "partially_refunded",
    "refunded",
)

PAYMENTS_OUTCOME_UNKNOWN = Counter(
    "easypay_payments_outcome_unknown_total",
    "Payments left in processing for reconciliation because the processor's answer was lost.",
)
"""Incremented by ``engine.outcomes.mark_charge_unknown``."""

PAYMENT_METHODS_LOST = Counter(
    "easypay_payment_methods_lost_total",
    "Payments failed with payment_method_lost: the sealed card was gone from Redis before its TTL "
    "(Redis flushed or restarted without persistence); nothing was charged.",
)
"""Incremented by ``engine.outcomes.finish_failed`` after the commit of each ``payment_method_lost``
failure (the pending sweep, or a retried dead letter whose stash copy is gone). The alert
"payment methods lost" fires on any increase."""

PROCESSOR_REQUESTS = Counter(
    "easypay_processor_requests_total",
    "Authorize.net API calls, by operation (transaction type) and outcome.",
    ["operation", "outcome"],
)
"""Incremented by ``engine.processor.client.ProcessorClient._exchange`` for every call.
``outcome`` is the TransactionResult outcome, or ``ok`` for a readable reporting answer."""
PROCESSOR_OPERATIONS = (
    "authCaptureTransaction",
    "authOnlyTransaction",
    "priorAuthCaptureTransaction",
    "voidTransaction",
    "refundTransaction",
    "getTransactionDetails",
    "getUnsettledTransactionList",
)
PROCESSOR_OUTCOMES = ("approved", "declined", "error", "held_for_review", "duplicate", "unknown", "not_sent", "ok")

PROCESSOR_DURATION = Histogram(
    "easypay_processor_request_duration_seconds",
    "Authorize.net call latency including connect retries, by operation.",
    ["operation"],
    buckets=PROCESSOR_BUCKETS_S,
)
"""Observed by ``engine.processor.client.ProcessorClient._exchange``."""

WORKER_THREADS = Gauge(
    "easypay_worker_threads",
    "Worker threads of live worker processes, by pool (0 or absent: the pool is down).",
    ["pool"],
    multiprocess_mode="livesum",
)
"""Set by ``workers.pool_metrics.PoolMetrics`` when a worker process boots; the alert
"worker pool absent" fires when the series disappears. A non-Dramatiq process (the scheduler)
calls ``workers.observability.start_process_metrics_server("scheduler")`` at start."""

# ---------------------------------------------------------------------------------------------
# Webhooks (pool ``webhooks``): wired in workers/webhooks.py

WEBHOOK_DELIVERIES = Counter(
    "easypay_webhook_deliveries_total",
    "Webhook delivery attempts, by outcome.",
    ["outcome"],
)
"""Incremented by the ``webhooks`` pool (``workers/webhooks.py``) once per recorded attempt, by batch: ``delivered`` (2xx),
``retrying`` (failed; another attempt is scheduled) or ``dead`` (no attempts left, ``410 Gone``,
or the endpoint was disabled)."""
WEBHOOK_OUTCOMES = ("delivered", "retrying", "dead")

WEBHOOK_DELIVERY_DURATION = Histogram(
    "easypay_webhook_delivery_duration_seconds",
    "Time of one webhook HTTP attempt (request sent to response read or failure).",
    buckets=WEBHOOK_BUCKETS_S,
)
"""Observed by the ``webhooks`` pool with each recorded attempt's latency."""

WEBHOOK_DEAD_LETTERS = Counter(
    "easypay_webhook_dead_letters_total",
    "Webhook deliveries given up after their last retry (dead-lettered).",
)
"""Incremented by the ``webhooks`` pool when a delivery is marked failed (dead). The alert
"webhook dead letters rising" uses it."""

# ---------------------------------------------------------------------------------------------
# Reconciler (runs in the recovery pool on the scheduler's ticks)

RECONCILIATIONS = Counter(
    "easypay_reconciliations_total",
    "Payments the reconciler looked at, by result.",
    ["result"],
)
"""Incremented by ``engine.reconcile.reconcile_due`` once per payment or refund it looked at, with
the reconciler's verdict: ``resolved`` (the truth found and recorded), ``resent`` (handed to a new
charge inside the duplicate window), ``later`` (still unknown: looked at again with backoff),
``given_up`` (the never-resolving policy applied), ``in_flight`` (a worker may still be sending, or
the broker still holds the charge's message), ``ignored``/``nothing`` (nothing to do) or ``error``.
The backlog itself is the scrape-time gauge ``easypay_reconciliation_backlog``."""
RECONCILIATION_RESULTS = ("resolved", "resent", "later", "given_up", "in_flight", "ignored", "nothing", "error")

def record_payment_status(status: str) -> None:
    """Count a payment that reached ``status`` (call after the commit that recorded it)."""
    if status in OUTCOME_STATUSES:
        PAYMENT_OUTCOMES.labels(status=status).inc()


def _initialise() -> None:
    for reason in AUTH_FAILURE_REASONS:
        AUTH_FAILURES.labels(reason=reason)
    for scope in RATE_LIMIT_SCOPES:
        RATE_LIMIT_REJECTIONS.labels(scope=scope)
    for operation, results in CACHE_RESULTS.items():
        for result in results:
            CACHE_REQUESTS.labels(operation=operation, result=result)
    for target, reasons in DB_READ_REASONS.items():
        for reason in reasons:
            DB_READS.labels(target=target, reason=reason)
    for method in ("card", "opaque"):
        PAYMENTS_ACCEPTED.labels(method=method)
    for status in OUTCOME_STATUSES:
        PAYMENT_OUTCOMES.labels(status=status)
    for operation in PROCESSOR_OPERATIONS:
        PROCESSOR_DURATION.labels(operation=operation)
        for outcome in PROCESSOR_OUTCOMES:
            PROCESSOR_REQUESTS.labels(operation=operation, outcome=outcome)
    for outcome in WEBHOOK_OUTCOMES:
        WEBHOOK_DELIVERIES.labels(outcome=outcome)
    for result in RECONCILIATION_RESULTS:
        RECONCILIATIONS.labels(result=result)


_initialise()
