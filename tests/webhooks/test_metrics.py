"""The webhooks pool's own metrics move with real deliveries (scraped from the pool's endpoint)."""

from __future__ import annotations


import httpx
import pytest
from sqlalchemy import text

from tests.conftest import free_port, wait_for_http
from tests.ops.metrics_text import scrape_until, value
from tests.webhooks.conftest import create_endpoint, emit_event
from tests.webhooks.receiver import unique_path, wait_until

METRICS_PORT = free_port()
WEBHOOK_ENV = {"WEBHOOKS_METRICS_PORT": str(METRICS_PORT)}
URL = f"http://127.0.0.1:{METRICS_PORT}/metrics"

pytestmark = pytest.mark.usefixtures("webhook_worker", "dispatcher")


def _scrape() -> str:
    wait_for_http(URL)
    return scrape_until(URL, lambda t: value(t, "easypay_worker_threads", pool="webhooks") > 0)


async def test_delivered_retried_and_dead_attempts_are_counted_and_timed(api, merchant, db, receiver):
    # Deliveries left pending by earlier test modules (whose endpoints are gone) would be
    # attempted by this pool too and counted with the three below.
    async with db.begin() as conn:
        await conn.execute(text("UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = NULL WHERE status = 'pending'"))
    before = _scrape()
    ok, gone = unique_path("hook"), unique_path("hook")
    # Only the payment event: the 410 below disables the other endpoint, and the resulting
    # webhook_endpoint.disabled event must not add a fourth attempt here.
    healthy = await create_endpoint(api, merchant, receiver.url(ok), events=["payment.captured"])
    receiver.behave(ok, statuses=[500], default=200, secrets=[healthy["secret"]])
    await create_endpoint(api, merchant, receiver.url(gone))
    receiver.behave(gone, statuses=[410])

    await emit_event(db, merchant.id)

    async def both_done() -> bool:
        return len(receiver.requests(ok)) == 2 and len(receiver.requests(gone)) == 1

    await wait_until(both_done, timeout_s=30, what="three attempts")
    after = scrape_until(
        URL, lambda t: value(t, "easypay_webhook_deliveries_total") - value(before, "easypay_webhook_deliveries_total") >= 3
    )

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("easypay_webhook_deliveries_total", outcome="retrying") == 1
    assert moved("easypay_webhook_deliveries_total", outcome="delivered") == 1
    assert moved("easypay_webhook_deliveries_total", outcome="dead") == 1  # 410: disabled at once
    assert moved("easypay_webhook_dead_letters_total") == 1
    assert moved("easypay_webhook_delivery_duration_seconds_count") == 3
    assert httpx.get(URL).status_code == 200
