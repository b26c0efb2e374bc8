"""Refused requests move the API's metrics: authentication failures by reason, rate-limit
rejections by scope (scraped from the real ``/metrics`` before and after)."""

from __future__ import annotations

import pytest

from tests.access.world import bearer, make_key, make_shop
from tests.helpers import card_payment
from tests.ops.metrics_text import value


@pytest.fixture(scope="module")
async def shop(settings, database, redis_clean):
    return await make_shop(settings, "Access metrics shop")


async def _scrape(api) -> str:
    response = await api.get("/metrics")
    assert response.status_code == 200
    return response.text


async def test_each_refusal_is_counted_by_its_reason(api, settings, shop):
    _, limited = await make_key(settings, shop.id, "viewer", rate_limits={"minute": 1})
    before = await _scrape(api)

    assert (await api.get("/v1/payments")).status_code == 401
    assert (await api.get("/v1/payments", headers=bearer("ak_nope:sk_nope"))).status_code == 401
    assert (await api.get("/v1/payments", headers=bearer("a.b.c"))).status_code == 401  # a (bad) JWT
    assert (await api.post("/v1/payments", json=card_payment(), headers=bearer(shop.keys["viewer"]))).status_code == 403
    assert [(await api.get("/v1/payments", headers=bearer(limited))).status_code for _ in range(3)] == [200, 429, 429]

    after = await _scrape(api)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("easypay_auth_failures_total", reason="missing_credentials") == 1
    assert moved("easypay_auth_failures_total", reason="invalid_credentials") == 1
    assert moved("easypay_auth_failures_total", reason="invalid_token") == 1
    assert moved("easypay_auth_failures_total", reason="forbidden") == 1
    assert moved("easypay_rate_limit_rejections_total", scope="api_key") == 2
