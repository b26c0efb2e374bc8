"""The processor latency picture from real charges: payments made through the API, charged by a
worker pool on the processor emulator (one of them answered 300 ms late), timed in
``payments.processor_ms`` and drawn per hour as p50 and p95 for the caller's merchant only."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import text

from tests.access.world import make_user
from tests.conftest import make_merchant
from tests.dashboard.helpers import agent, signed_in
from tests.helpers import card_payment, wait_final

pytestmark = pytest.mark.usefixtures("worker")

SLOW_MS = 300


async def test_charges_through_the_emulator_draw_a_latency_series(api, settings, sandbox, db):
    shop, other = await make_merchant(settings, "Latency shop"), await make_merchant(settings, "Latency other")
    sandbox.add_fault("latency", delay_ms=SLOW_MS, count=1, match={"amount": "77.77"})
    ids = []
    for amount in ("12.50", "13.50", "77.77"):
        created = await api.post("/v1/payments", json=card_payment(amount), headers=shop.headers)
        assert created.status_code == 202, created.text
        ids.append(created.json()["id"])
    for payment_id in ids:
        assert (await wait_final(api, shop.headers, payment_id))["status"] == "captured"
    async with db.connect() as conn:
        timed = dict((await conn.execute(
            text("SELECT amount_minor, processor_ms FROM payments WHERE merchant_id = :m"), {"m": shop.id}
        )).all())
    assert set(timed) == {1250, 1350, 7777} and all(ms is not None and ms >= 0 for ms in timed.values())
    assert timed[7777] >= SLOW_MS, "the late answer is timed"
    _, email = await make_user(settings, shop.id, "viewer")
    _, other_email = await make_user(settings, other.id, "viewer")
    async with agent(api) as client:
        await signed_in(client, email)
        page = (await client.get("/dashboard/payments")).text
    assert 'data-testid="latency-charges">3<' in page
    p50 = int(re.search(r'data-testid="latency-p50">(\d+) ms<', page).group(1))  # type: ignore[union-attr]
    p95 = int(re.search(r'data-testid="latency-p95">(\d+) ms<', page).group(1))  # type: ignore[union-attr]
    assert p50 < SLOW_MS <= timed[7777] and p95 >= 0.8 * SLOW_MS
    chart = page.split('data-testid="latency-chart"')[1].split("</svg>")[0]
    assert len(re.findall(r'data-series="p50"', chart)) >= 1 and len(re.findall(r'data-series="p95"', chart)) >= 1
    assert "<polyline" in chart
    async with agent(api) as client:
        await signed_in(client, other_email)
        page = (await client.get("/dashboard/payments")).text
    assert 'data-testid="latency-charges">0<' in page and 'data-series="p50"' not in page, "another merchant's charges are not shown"
