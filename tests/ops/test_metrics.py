"""Each metric moves with real traffic: scrape /metrics and the worker pool's endpoint before and after.

Real API (in-process), real PostgreSQL and Redis, a real Dramatiq pool, the emulator.
"""

from __future__ import annotations

import dataclasses
import uuid

import pytest
from litestar.testing import AsyncTestClient

from tests.conftest import free_port, start_worker, stop, wait_for_http
from tests.helpers import card_payment, wait_final
from tests.ops.metrics_text import samples, scrape_until, value

pytestmark = pytest.mark.usefixtures("worker")

PAYMENT_ROUTE = "/v1/payments/{payment_id}"


@pytest.fixture
def worker_metrics_url(worker_metrics_port: int) -> str:
    return f"http://127.0.0.1:{worker_metrics_port}/metrics"


async def _scrape(api) -> str:
    response = await api.get("/metrics")
    assert response.status_code == 200, response.text
    return response.text


async def test_metrics_is_public_prometheus_text_with_dependency_and_queue_gauges(api, sandbox):
    # When: no credentials at all
    response = await api.get("/metrics")
    # Then: Prometheus text, and the scrape-time gauges say every dependency answers
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = response.text
    for dependency in ("database", "cache", "broker", "processor"):
        assert value(text, "easypay_dependency_up", dependency=dependency) == 1
    assert value(text, "easypay_broker_up") == 1
    assert ("easypay_queue_depth", (("queue", "payments"),)) in samples(text)
    assert ("easypay_reconciliation_backlog", ()) in samples(text)


async def test_request_metrics_use_the_route_template_never_the_id(api, merchant):
    before = await _scrape(api)
    unknown = str(uuid.uuid4())
    # When: one 404 on a payment route, one 200 on health
    assert (await api.get(f"/v1/payments/{unknown}", headers=merchant.headers)).status_code == 404
    assert (await api.get("/health/live")).status_code == 200
    after = await _scrape(api)
    # Then
    labels = {"route": PAYMENT_ROUTE, "method": "GET", "status": "404"}
    assert value(after, "easypay_http_requests_total", **labels) == value(before, "easypay_http_requests_total", **labels) + 1
    timed = {"route": PAYMENT_ROUTE, "method": "GET"}
    assert value(after, "easypay_http_request_duration_seconds_count", **timed) == (
        value(before, "easypay_http_request_duration_seconds_count", **timed) + 1
    )
    live = {"route": "/health/live", "method": "GET", "status": "200"}
    assert value(after, "easypay_http_requests_total", **live) == value(before, "easypay_http_requests_total", **live) + 1
    assert unknown not in after
    # /metrics does not count itself, and no request is in flight between scrapes
    assert value(after, "easypay_http_requests_total", route="/metrics") == 0
    assert value(after, "easypay_http_requests_in_flight") == 0


async def test_auth_failures_are_counted_by_reason(api):
    before = await _scrape(api)
    assert (await api.get("/v1/payments")).status_code == 401
    bad = {"Authorization": "Bearer ak_0123456789abcdef:sk_" + "x" * 40}
    assert (await api.get("/v1/payments", headers=bad)).status_code == 401
    after = await _scrape(api)
    for reason in ("missing_credentials", "invalid_credentials"):
        assert value(after, "easypay_auth_failures_total", reason=reason) == (
            value(before, "easypay_auth_failures_total", reason=reason) + 1
        )


async def test_payments_move_business_cache_processor_and_worker_metrics(api, merchant, sandbox, worker_metrics_url):
    # Given: both endpoints scraped (the worker pool has booted and reports its threads)
    before_api = await _scrape(api)
    before_worker = scrape_until(worker_metrics_url, lambda t: value(t, "easypay_worker_threads", pool="payments") > 0)
    # When: one approved and one declined payment, each read once more after its outcome
    approved = await api.post("/v1/payments", json=card_payment("31.00"), headers=merchant.headers)
    declined = await api.post(
        "/v1/payments", json=card_payment("32.00", billing={"postal_code": "46282"}), headers=merchant.headers
    )
    assert approved.status_code == declined.status_code == 202
    assert (await wait_final(api, merchant.headers, approved.json()["id"]))["status"] == "captured"
    assert (await wait_final(api, merchant.headers, declined.json()["id"]))["status"] == "declined"
    assert (await api.get(f"/v1/payments/{approved.json()['id']}", headers=merchant.headers)).status_code == 200
    after_api = await _scrape(api)

    def moved(text: str) -> bool:
        return value(text, "dramatiq_messages_total", actor_name="process_payment") >= (
            value(before_worker, "dramatiq_messages_total", actor_name="process_payment") + 2
        )

    after_worker = scrape_until(worker_metrics_url, moved)

    # Then, API: accepted payments and cache hits
    assert value(after_api, "easypay_payments_accepted_total", method="card") == (
        value(before_api, "easypay_payments_accepted_total", method="card") + 2
    )
    assert value(after_api, "easypay_cache_requests_total", operation="get", result="hit") >= (
        value(before_api, "easypay_cache_requests_total", operation="get", result="hit") + 1
    )
    assert value(after_api, "easypay_http_requests_total", route="/v1/payments", method="POST", status="202") == (
        value(before_api, "easypay_http_requests_total", route="/v1/payments", method="POST", status="202") + 2
    )
    # Then, worker: one outcome per status, two processor calls with their outcomes and latency
    for status in ("captured", "declined"):
        assert value(after_worker, "easypay_payment_outcomes_total", status=status) == (
            value(before_worker, "easypay_payment_outcomes_total", status=status) + 1
        )
    for outcome in ("approved", "declined"):
        labels = {"operation": "authCaptureTransaction", "outcome": outcome}
        assert value(after_worker, "easypay_processor_requests_total", **labels) == (
            value(before_worker, "easypay_processor_requests_total", **labels) + 1
        )
    duration = {"operation": "authCaptureTransaction"}
    assert value(after_worker, "easypay_processor_request_duration_seconds_count", **duration) == (
        value(before_worker, "easypay_processor_request_duration_seconds_count", **duration) + 2
    )
    # ... the workers' cache writes, Dramatiq's own histogram, the pool size and queue gauges
    assert value(after_worker, "easypay_cache_requests_total", operation="put", result="stored") > value(
        before_worker, "easypay_cache_requests_total", operation="put", result="stored"
    )
    assert value(after_worker, "dramatiq_message_duration_milliseconds_count", actor_name="process_payment") >= (
        value(before_worker, "dramatiq_message_duration_milliseconds_count", actor_name="process_payment") + 2
    )
    assert value(after_worker, "easypay_worker_threads", pool="payments") == 8
    assert value(after_worker, "easypay_broker_up") == 1
    assert ("easypay_queue_depth", (("queue", "payments"),)) in samples(after_worker)


async def test_a_retry_moves_dramatiq_retry_and_error_counters(api, merchant, sandbox, worker_metrics_url):
    # Given: the pool is consuming (one payment through), then the processor refuses connections
    # for longer than the client's connect retries take (nothing sent: the job is retried)
    warm = await api.post("/v1/payments", json=card_payment("33.50"), headers=merchant.headers)
    assert (await wait_final(api, merchant.headers, warm.json()["id"]))["status"] == "captured"
    before = scrape_until(worker_metrics_url, lambda t: value(t, "easypay_worker_threads", pool="payments") > 0)
    sandbox.add_fault("refuse_connections", duration_ms=4000)
    response = await api.post("/v1/payments", json=card_payment("33.00"), headers=merchant.headers)
    assert response.status_code == 202
    # Then: it is captured in the end, after at least one Dramatiq retry
    assert (await wait_final(api, merchant.headers, response.json()["id"]))["status"] == "captured"

    def retried(text: str) -> bool:
        return value(text, "dramatiq_message_retries_total", actor_name="process_payment") > value(
            before, "dramatiq_message_retries_total", actor_name="process_payment"
        )

    after = scrape_until(worker_metrics_url, retried)
    assert value(after, "dramatiq_message_errors_total", actor_name="process_payment") > value(
        before, "dramatiq_message_errors_total", actor_name="process_payment"
    )
    not_sent = {"operation": "authCaptureTransaction", "outcome": "not_sent"}
    assert value(after, "easypay_processor_requests_total", **not_sent) > value(
        before, "easypay_processor_requests_total", **not_sent
    )


async def test_queue_gauges_see_a_backlog_its_age_and_dead_letters(settings, database, redis_clean):
    """A queue nobody consumes: one waiting message, one dead letter (dead-lettered with
    Dramatiq's own Lua ``nack``), as the API's scrape-time gauges report them."""
    from api.app import create_app
    from tests.ops.broker_tools import dead_letter_one, enqueue_noop

    queue = f"obs-{uuid.uuid4().hex[:8]}"
    pools = {**settings.pools, "scheduler": dataclasses.replace(settings.pools["scheduler"], queues=(queue,))}
    app = create_app(dataclasses.replace(settings, pools=pools), configure_logs=False)
    async with AsyncTestClient(app=app) as client:
        before = (await client.get("/metrics")).text
        enqueue_noop(settings, queue, age_ms=5000)
        dead_letter_one(settings, queue)
        after = (await client.get("/metrics")).text
    assert value(before, "easypay_queue_depth", queue=queue) == 0
    assert value(after, "easypay_queue_depth", queue=queue) == 1
    assert value(after, "easypay_queue_oldest_message_age_seconds", queue=queue) >= 5
    assert value(after, "easypay_queue_dead_letters", queue=queue) == 1
    assert value(after, "easypay_queue_in_progress", queue=queue) == 0


async def test_a_failing_dependency_reads_zero(settings, database):
    from api.app import create_app

    broken = dataclasses.replace(
        settings, redis=dataclasses.replace(settings.redis, cache_url=f"redis://127.0.0.1:{free_port()}/0")
    )
    async with AsyncTestClient(app=create_app(broken, configure_logs=False)) as client:
        text = (await client.get("/metrics")).text
    assert value(text, "easypay_dependency_up", dependency="cache") == 0
    assert value(text, "easypay_dependency_up", dependency="database") == 1


def test_each_pool_is_sized_by_its_own_environment(test_env, database, log_dir):
    """`easypay worker --pool webhooks` reads WEBHOOKS_* (processes × threads) and serves its metrics."""
    port = free_port()
    proc = start_worker(
        test_env,
        log_dir / "webhooks-pool.log",
        WEBHOOKS_PROCESSES="2",
        WEBHOOKS_THREADS="3",
        WEBHOOKS_METRICS_PORT=str(port),
        cli_args=("--pool", "webhooks"),
    )
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        wait_for_http(url, proc=proc)
        text = scrape_until(url, lambda t: value(t, "easypay_worker_threads", pool="webhooks") == 6)
        assert ("easypay_queue_depth", (("queue", "webhooks"),)) in samples(text)
        assert value(text, "easypay_worker_threads", pool="payments") == 0
    finally:
        stop(proc, timeout_s=15)


def test_a_plain_process_pool_serves_its_metrics(test_env, database, log_dir):
    """A pool that is one process, not Dramatiq (the scheduler), gets the same endpoint."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    port = free_port()
    code = (
        "import time\n"
        "from workers.observability import start_process_metrics_server\n"
        "start_process_metrics_server('scheduler', threads=1)\n"
        "time.sleep(120)\n"
    )
    env = {**test_env, "SCHEDULER_METRICS_PORT": str(port), "SCHEDULER_QUEUES": "obs-scheduler"}
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        wait_for_http(url, proc=proc)
        text = scrape_until(url, lambda t: value(t, "easypay_worker_threads", pool="scheduler") == 1)
        assert ("easypay_queue_depth", (("queue", "obs-scheduler"),)) in samples(text)
        assert value(text, "easypay_broker_up") == 1
    finally:
        stop(proc)


async def test_a_long_poll_is_counted_but_not_timed(api, merchant, db):
    from engine.payments import NewPayment, accept_payment

    async with db.begin() as conn:  # pending, never queued: a ?wait= on it waits
        row = await accept_payment(
            conn, NewPayment(merchant_id=merchant.id, amount_minor=900, currency="USD", capture=True, payment_method_type="card")
        )
    before = await _scrape(api)
    assert (await api.get(f"/v1/payments/{row.id}", params={"wait": 1}, headers=merchant.headers)).json()["status"] == "pending"
    assert (await api.get(f"/v1/payments/{row.id}", headers=merchant.headers)).status_code == 200
    after = await _scrape(api)
    labels = {"route": PAYMENT_ROUTE, "method": "GET"}
    assert value(after, "easypay_http_requests_total", status="200", **labels) == (
        value(before, "easypay_http_requests_total", status="200", **labels) + 2
    )
    assert value(after, "easypay_http_request_duration_seconds_count", **labels) == (
        value(before, "easypay_http_request_duration_seconds_count", **labels) + 1
    )


async def test_capture_void_and_refund_outcomes_are_counted_by_the_worker(api, merchant, sandbox, worker_metrics_url):
    from tests.lifecycle_helpers import wait_for

    before = scrape_until(worker_metrics_url, lambda t: value(t, "easypay_worker_threads", pool="payments") > 0)
    # An authorization captured in part, another voided, and a sale refunded in full before
    # settlement (which voids the capture).
    to_capture = await wait_final(api, merchant.headers, (await api.post("/v1/payments", json=card_payment("41.00", capture=False), headers=merchant.headers)).json()["id"])
    to_void = await wait_final(api, merchant.headers, (await api.post("/v1/payments", json=card_payment("42.00", capture=False), headers=merchant.headers)).json()["id"])
    sale = await wait_final(api, merchant.headers, (await api.post("/v1/payments", json=card_payment("43.00"), headers=merchant.headers)).json()["id"])
    assert (await api.post(f"/v1/payments/{to_capture['id']}/capture", json={"amount": "40.00"}, headers=merchant.headers)).status_code == 202
    assert (await api.post(f"/v1/payments/{to_void['id']}/void", headers=merchant.headers)).status_code == 202
    assert (await api.post(f"/v1/payments/{sale['id']}/refunds", headers=merchant.headers)).status_code == 202
    for payment_id, status in ((to_capture["id"], "captured"), (to_void["id"], "voided"), (sale["id"], "voided")):
        await wait_for(api, merchant.headers, f"/v1/payments/{payment_id}", lambda p, s=status: p["status"] == s)

    after = scrape_until(
        worker_metrics_url,
        lambda t: value(t, "easypay_payment_outcomes_total", status="voided")
        >= value(before, "easypay_payment_outcomes_total", status="voided") + 2,
    )

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("easypay_payment_outcomes_total", status="authorized") == 2
    assert moved("easypay_payment_outcomes_total", status="captured") == 2  # the sale, then the capture
    assert moved("easypay_payment_outcomes_total", status="voided") == 2
    assert moved("easypay_processor_requests_total", operation="priorAuthCaptureTransaction", outcome="approved") == 1
    assert moved("easypay_processor_requests_total", operation="voidTransaction", outcome="approved") == 2
