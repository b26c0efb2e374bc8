"""Security headers on every response, CORS from configuration, body size / nesting / string
limits, and rate limits (429 with Retry-After and RateLimit-* headers)."""

from __future__ import annotations

import asyncio
import json

import pytest

from api.hardening import SECURITY_HEADERS
from tests.access.world import bearer, make_key, make_shop
from tests.helpers import card_payment


@pytest.fixture(scope="module")
async def shop(settings, database, redis_clean):
    return await make_shop(settings, "Hardening shop")


@pytest.mark.parametrize(
    "method,path,auth",
    [("GET", "/v1/payments", True), ("GET", "/v1/payments", False), ("GET", "/health/live", False),
     ("GET", "/no/such/route", False), ("DELETE", "/health/live", False), ("GET", "/schema/openapi.json", False),
     ("POST", "/v1/payments", True)],
)
async def test_security_headers_on_every_response(api, shop, method, path, auth):
    response = await api.request(method, path, headers=bearer(shop.keys["merchant"]) if auth else {},
                                 json={} if method == "POST" else None)
    for name, value in SECURITY_HEADERS.items():
        if name == "Content-Security-Policy" and path.startswith("/schema"):
            assert response.headers[name].startswith("default-src 'self'")
        else:
            assert response.headers[name] == value, (name, response.status_code)


async def test_hsts_covers_subdomains(api):
    """Written out, not read from SECURITY_HEADERS, so weakening the policy fails here."""
    response = await api.get("/health/live")
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


def test_cors_is_off_by_default_and_configurable(settings):
    from dataclasses import replace

    from litestar import Litestar, get
    from litestar.testing import TestClient

    from api.hardening import cors_config

    assert cors_config(settings.access) is None
    config = cors_config(replace(settings.access, cors_origins=("https://shop.example",)))

    @get("/v1/thing", opt={"permission": "public"})
    async def thing() -> dict[str, str]:
        return {}

    with TestClient(Litestar([thing], cors_config=config)) as client:
        preflight = client.options("/v1/thing", headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "POST",
                                                        "Access-Control-Request-Headers": "Authorization, Idempotency-Key"})
        assert preflight.status_code in (200, 204)
        assert preflight.headers["access-control-allow-origin"] == "https://shop.example"
        assert "idempotency-key" in preflight.headers["access-control-allow-headers"].lower()
        stranger = client.get("/v1/thing", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in stranger.headers


async def test_cors_env_is_read(settings):
    from engine.settings_from_env import load_settings

    loaded = load_settings({"EASYPAY_CORS_ORIGINS": "https://a.example, https://b.example"})
    assert loaded.access.cors_origins == ("https://a.example", "https://b.example")


async def test_body_over_64_kib_is_413(api, shop):
    body = json.dumps(card_payment(description="x" * 70_000))
    response = await api.post("/v1/payments", content=body, headers={**bearer(shop.keys["merchant"]), "Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"


async def test_deeply_nested_json_is_400_naming_the_problem(api, shop):
    nested: object = "leaf"
    for _ in range(40):
        nested = {"a": nested}
    response = await api.post("/v1/payments", json=card_payment(extra=nested), headers=bearer(shop.keys["merchant"]))
    assert response.status_code == 400
    assert response.json()["code"] == "json_too_deep"
    assert response.json()["errors"][0]["field"] == "body"


async def test_nesting_within_the_limit_reaches_validation(api, shop):
    response = await api.post("/v1/payments", json=card_payment(extra={"a": {"b": [1]}}), headers=bearer(shop.keys["merchant"]))
    assert response.status_code == 422 and response.json()["code"] == "validation_error"  # unknown field, not depth


async def test_overlong_string_is_422_naming_the_problem(api, shop):
    response = await api.post("/v1/payments", json=card_payment(metadata={"k": "v" * 9000}), headers=bearer(shop.keys["merchant"]))
    assert response.status_code == 422
    assert response.json()["code"] == "json_string_too_long"


async def test_structure_limits_leave_nothing_behind(api, shop, db):
    from sqlalchemy import text

    nested: object = 1
    for _ in range(40):
        nested = [nested]
    await api.post("/v1/payments", json=card_payment(customer_id="deep", extra=nested), headers=bearer(shop.keys["merchant"]))
    async with db.connect() as conn:
        count = (await conn.execute(text("SELECT count(*) FROM payments WHERE customer_id = 'deep'"))).scalar_one()
    assert count == 0


def test_depth_scanner_ignores_brackets_inside_strings():
    from engine.jsonlimits import nesting_depth, too_deep

    assert nesting_depth(b'{"a": "[[[[{{{{", "b": [1, {"c": "\\"]]]"}]}') == 3
    assert not too_deep(b'{"a": "' + b"[" * 100 + b'"}', 16)
    assert too_deep(b"[" * 17 + b"]" * 17, 16)


async def test_rate_limit_answers_429_with_headers(api, settings, shop):
    _, token = await make_key(settings, shop.id, "viewer", rate_limits={"minute": 3})
    statuses = []
    for _ in range(5):
        response = await api.get("/v1/payments", headers=bearer(token))
        statuses.append(response.status_code)
        if response.status_code == 200:
            ok = response
    assert statuses == [200, 200, 200, 429, 429]
    assert ok.headers["ratelimit-limit"] == "3" and ok.headers["ratelimit-remaining"] == "0"
    assert "3;w=60" in ok.headers["ratelimit-policy"]
    assert response.json()["code"] == "rate_limited"
    assert 1 <= int(response.headers["retry-after"]) <= 60
    assert response.headers["ratelimit-reset"] == response.headers["retry-after"]
    assert response.headers["ratelimit-remaining"] == "0" and response.headers["ratelimit-limit"] == "3"


async def test_limits_are_per_key(api, settings, shop):
    _, first = await make_key(settings, shop.id, "viewer", rate_limits={"minute": 1})
    _, second = await make_key(settings, shop.id, "viewer", rate_limits={"minute": 1})
    assert (await api.get("/v1/payments", headers=bearer(first))).status_code == 200
    assert (await api.get("/v1/payments", headers=bearer(first))).status_code == 429
    assert (await api.get("/v1/payments", headers=bearer(second))).status_code == 200


async def test_hour_window_applies_too(api, settings, shop):
    _, token = await make_key(settings, shop.id, "viewer", rate_limits={"minute": 100, "hour": 2})
    statuses = [(await api.get("/v1/payments", headers=bearer(token))).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]


def test_default_limits_are_the_seed_values():
    from engine.settings_from_env import load_settings

    assert load_settings({}).access.default_rate_limits == {"minute": 100, "hour": 1000, "day": 10_000}
    assert load_settings({"RATE_LIMIT_PER_MINUTE": "0"}).access.default_rate_limits["minute"] == 0


async def test_refused_requests_use_up_no_window(api, settings, shop):
    from limits import RateLimitItemPerHour, RateLimitItemPerMinute
    from limits.aio.storage import RedisStorage
    from limits.aio.strategies import FixedWindowRateLimiter

    key_id, token = await make_key(settings, shop.id, "viewer", rate_limits={"minute": 2, "hour": 5})
    statuses = [(await api.get("/v1/payments", headers=bearer(token))).status_code for _ in range(4)]
    assert statuses == [200, 200, 429, 429]
    storage = RedisStorage(f"async+{settings.redis.cache_url}", implementation="redispy",
                           key_prefix=f"{settings.redis.key_prefix}:ratelimit")
    limiter = FixedWindowRateLimiter(storage)
    assert (await limiter.get_window_stats(RateLimitItemPerHour(5), f"api_key:{key_id}")).remaining == 3
    assert (await limiter.get_window_stats(RateLimitItemPerMinute(2), f"api_key:{key_id}")).remaining == 0


async def test_a_concurrent_burst_on_one_key_is_counted_exactly(api, settings, shop):
    """Hits that reach Redis together (one increment by n) still count one by one."""
    from limits import RateLimitItemPerHour
    from limits.aio.storage import RedisStorage
    from limits.aio.strategies import FixedWindowRateLimiter

    key_id, token = await make_key(settings, shop.id, "viewer", rate_limits={"minute": 7, "hour": 50})
    responses = await asyncio.gather(*(api.get("/v1/payments?limit=1", headers=bearer(token)) for _ in range(20)))
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == 7 and statuses.count(429) == 13
    # Each accepted request was told its own place in the window.
    assert sorted(int(r.headers["ratelimit-remaining"]) for r in responses if r.status_code == 200) == list(range(7))
    assert all(1 <= int(r.headers["retry-after"]) <= 60 for r in responses if r.status_code == 429)
    storage = RedisStorage(f"async+{settings.redis.cache_url}", implementation="redispy",
                           key_prefix=f"{settings.redis.key_prefix}:ratelimit")
    assert (await FixedWindowRateLimiter(storage).get_window_stats(RateLimitItemPerHour(50), f"api_key:{key_id}")).remaining == 43
