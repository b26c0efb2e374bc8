"""API keys through the API: the secret once, scoping, no privilege escalation, revocation,
validation from Redis without PostgreSQL, and last_used_at without a write per request."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

import json

from engine.auth import ApiKeyAuthenticator, KeyRecords, derive_pepper, derive_record_key, hash_secret
from tests.access.world import bearer, make_key, make_shop


@pytest.fixture(scope="module")
async def shops(settings, database, redis_clean):
    return await make_shop(settings, "Keys shop"), await make_shop(settings, "Other keys shop")


async def test_create_shows_the_secret_once_and_the_key_works(api, shops, db):
    shop, _ = shops
    created = await api.post("/v1/api-keys", json={"role": "developer", "name": "ci"}, headers=bearer(shop.keys["merchant"]))
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["key"].startswith(f"ak_{body['id']}:sk_") and body["role"] == "developer"
    assert body["merchant_id"] == str(shop.id)
    assert created.headers["location"] == f"/v1/api-keys/{body['id']}"
    secret = body["key"].split(":sk_")[1]
    fetched = await api.get(f"/v1/api-keys/{body['id']}", headers=bearer(shop.keys["merchant"]))
    listed = await api.get("/v1/api-keys?limit=100", headers=bearer(shop.keys["merchant"]))
    for response in (fetched, listed):
        assert response.status_code == 200
        assert secret not in response.text and '"key"' not in response.text
    assert (await api.get("/v1/payments", headers=bearer(body["key"]))).status_code == 200
    async with db.connect() as conn:
        row = (await conn.execute(text("SELECT * FROM api_keys WHERE id = :id"), {"id": body["id"]})).one()
    assert secret not in str(tuple(row))


@pytest.mark.parametrize("role,status", [("admin", 403), ("merchant", 201), ("viewer", 201)])
async def test_a_merchant_key_cannot_create_keys_above_its_role(api, shops, role, status):
    shop, _ = shops
    response = await api.post("/v1/api-keys", json={"role": role}, headers=bearer(shop.keys["merchant"]))
    assert response.status_code == status


async def test_admin_creates_keys_for_any_merchant(api, shops):
    shop, other = shops
    response = await api.post("/v1/api-keys", json={"role": "merchant", "merchant_id": str(other.id)}, headers=bearer(shop.keys["admin"]))
    assert response.status_code == 201 and response.json()["merchant_id"] == str(other.id)


@pytest.mark.parametrize(
    "body,field",
    [
        ({"role": "owner"}, "role"),
        ({"role": "viewer", "rate_limits": {"week": 5}}, "rate_limits.week"),
        ({"role": "viewer", "rate_limits": {"minute": -1}}, "rate_limits.minute"),
        ({"role": "viewer", "expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
        ({"role": "viewer", "merchant_id": "nope"}, "merchant_id"),
    ],
)
async def test_bad_key_requests_name_the_field(api, shops, body, field):
    shop, _ = shops
    response = await api.post("/v1/api-keys", json=body, headers=bearer(shop.keys["merchant"]))
    assert response.status_code == 422
    assert field in [e["field"] for e in response.json()["errors"]]


@pytest.mark.parametrize(
    "overrides,field",
    [
        ({"minute": 0}, "rate_limits.minute"),  # 0 is "no limit on this window"
        ({"hour": 10**9}, "rate_limits.hour"),
        ({"minute": 5, "day": -3}, "rate_limits.day"),
    ],
)
async def test_a_merchant_key_cannot_mint_a_key_with_limits_above_the_defaults(api, settings, shops, overrides, field):
    shop, _ = shops
    defaults = settings.access.default_rate_limits
    response = await api.post("/v1/api-keys", json={"role": "viewer", "rate_limits": overrides}, headers=bearer(shop.keys["merchant"]))
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == [field]
    above = {w: n + 1 for w, n in defaults.items()}
    response = await api.post("/v1/api-keys", json={"role": "viewer", "rate_limits": above}, headers=bearer(shop.keys["merchant"]))
    assert response.status_code == 422
    assert sorted(e["field"] for e in response.json()["errors"]) == ["rate_limits.day", "rate_limits.hour", "rate_limits.minute"]
    assert "only admins" in response.json()["errors"][0]["message"]


async def test_a_merchant_key_may_lower_its_keys_limits(api, settings, shops):
    shop, _ = shops
    lowered = {"minute": 5, "hour": settings.access.default_rate_limits["hour"]}  # down to 1, or equal to the default
    response = await api.post("/v1/api-keys", json={"role": "viewer", "rate_limits": lowered}, headers=bearer(shop.keys["merchant"]))
    assert response.status_code == 201, response.text
    assert response.json()["rate_limits"] == lowered


async def test_only_an_admin_may_raise_limits_or_lift_one(api, shops):
    shop, _ = shops
    body = {"role": "viewer", "rate_limits": {"minute": 0, "hour": 10**9}, "merchant_id": str(shop.id)}
    response = await api.post("/v1/api-keys", json=body, headers=bearer(shop.keys["admin"]))
    assert response.status_code == 201, response.text
    assert response.json()["rate_limits"] == {"minute": 0, "hour": 10**9}
    response = await api.post("/v1/api-keys", json={**body, "rate_limits": {"minute": 10**9 + 1}}, headers=bearer(shop.keys["admin"]))
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "rate_limits.minute"


async def test_merchants_never_see_admin_keys_or_other_merchants_keys(api, shops):
    shop, other = shops
    listed = (await api.get("/v1/api-keys?limit=100", headers=bearer(shop.keys["merchant"]))).json()["data"]
    assert {k["merchant_id"] for k in listed} == {str(shop.id)}
    assert "admin" not in {k["role"] for k in listed}
    assert (await api.get(f"/v1/api-keys/{shop.key_ids['admin']}", headers=bearer(shop.keys["merchant"]))).status_code == 404
    assert (await api.delete(f"/v1/api-keys/{shop.key_ids['admin']}", headers=bearer(shop.keys["merchant"]))).status_code == 404
    assert (await api.get(f"/v1/api-keys/{other.key_id}", headers=bearer(shop.keys["merchant"]))).status_code == 404


async def test_key_list_is_keyset_paginated(api, settings, shops):
    shop, _ = shops
    for _ in range(3):
        await make_key(settings, shop.id)
    seen: list[str] = []
    after = None
    while True:
        url = "/v1/api-keys?limit=2" + (f"&starting_after={after}" if after else "")
        page = (await api.get(url, headers=bearer(shop.keys["merchant"]))).json()
        seen += [k["id"] for k in page["data"]]
        if not page["has_more"]:
            break
        after = page["data"][-1]["id"]
    assert len(seen) == len(set(seen)) >= 5


async def test_revoke_through_the_api_is_effective_within_a_second(api, settings, shops):
    shop, _ = shops
    key_id, token = await make_key(settings, shop.id, "viewer")
    assert (await api.get("/v1/payments", headers=bearer(token))).status_code == 200
    revoked = await api.delete(f"/v1/api-keys/{key_id}", headers=bearer(shop.keys["merchant"]))
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    await asyncio.sleep(1.05)
    assert (await api.get("/v1/payments", headers=bearer(token))).status_code == 401
    assert (await api.delete(f"/v1/api-keys/{key_id}", headers=bearer(shop.keys["merchant"]))).status_code == 404


async def test_validation_is_served_from_redis_without_postgresql(settings, shops):
    """A second process (fresh in-process cache) validates a key with PostgreSQL unreachable."""
    shop, _ = shops
    _, token = await make_key(settings, shop.id, "viewer")
    redis = Redis.from_url(settings.redis.cache_url)
    good_db = create_async_engine(settings.database.url)
    dead_db = create_async_engine("postgresql+asyncpg://postgres@127.0.0.1:1/nowhere")
    pepper = derive_pepper(settings.secret_key)
    records = _records(settings, redis)
    try:
        first = ApiKeyAuthenticator(good_db, pepper, records=records)
        assert (await first.authenticate(token)) is not None  # fills Redis
        second = ApiKeyAuthenticator(dead_db, pepper, records=records)
        principal = await second.authenticate(token)
        assert principal is not None and principal.merchant_id == shop.id and principal.role == "viewer"
        forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
        assert await second.authenticate(forged) is None  # the hash in Redis is still compared
    finally:
        await redis.aclose()
        await good_db.dispose()
        await dead_db.dispose()


def _records(settings, redis) -> KeyRecords:
    return KeyRecords(redis, prefix=settings.redis.key_prefix, mac_key=derive_record_key(settings.secret_key))


def _forgeries(settings, key_id: str, token: str, **fields) -> list[bytes]:
    """Records an attacker with write access to Redis (but not EASYPAY_SECRET_KEY) could plant."""
    record = {"hash": hash_secret(derive_pepper(settings.secret_key), token.split(":sk_")[1]).hex(),
              "expires_at": None, "rate_limits": None, **fields}
    body = json.dumps({**record, "exp": 4_000_000_000}).encode()
    return [json.dumps(record).encode(), b"v1." + b"00" * 32 + b"." + body, b"v1.zz." + body]


async def test_a_forged_redis_record_does_not_revive_a_revoked_key(api, settings, shops):
    shop, _ = shops
    key_id, token = await make_key(settings, shop.id, "merchant")
    assert (await api.get("/v1/payments", headers=bearer(token))).status_code == 200
    assert (await api.delete(f"/v1/api-keys/{key_id}", headers=bearer(shop.keys["merchant"]))).status_code == 200
    redis = Redis.from_url(settings.redis.cache_url)
    try:
        for forged in _forgeries(settings, key_id, token, merchant_id=str(shop.id), role="merchant"):
            await redis.set(_records(settings, redis).name(key_id), forged, ex=60)
            await asyncio.sleep(1.1)  # past the in-process cache
            assert (await api.get("/v1/payments", headers=bearer(token))).status_code == 401, forged
    finally:
        await redis.aclose()


async def test_a_forged_redis_record_cannot_change_a_keys_merchant_or_role(api, settings, shops):
    """A viewer's key, given another merchant and the admin role in Redis, stays a viewer of its own shop."""
    shop, other = shops
    key_id, token = await make_key(settings, shop.id, "viewer")
    victim_id, victim = await make_key(settings, other.id, "developer")
    redis = Redis.from_url(settings.redis.cache_url)
    records = _records(settings, redis)
    try:
        for key in (token, victim):
            assert (await api.get("/v1/payments", headers=bearer(key))).status_code == 200
        genuine = await redis.get(records.name(victim_id))  # a signed record, moved to another key id
        assert genuine is not None and records.open(victim_id, genuine) is not None
        for forged in [genuine, *_forgeries(settings, key_id, token, merchant_id=str(other.id), role="admin")]:
            await redis.set(records.name(key_id), forged, ex=60)
            await asyncio.sleep(1.1)
            revoked = await api.delete(f"/v1/api-keys/{victim_id}", headers=bearer(token))
            assert revoked.status_code == 403, (forged, revoked.text)
        assert (await api.get("/v1/payments", headers=bearer(victim))).status_code == 200
        assert (await api.get("/v1/payments", headers=bearer(token))).status_code == 200  # its real record, from PostgreSQL
    finally:
        await redis.aclose()


async def test_expired_key_is_refused(api, settings, shops):
    shop, _ = shops
    soon = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1)
    _, token = await make_key(settings, shop.id, "viewer", expires_at=soon)
    assert (await api.get("/v1/payments", headers=bearer(token))).status_code == 200
    await asyncio.sleep(2.1)
    assert (await api.get("/v1/payments", headers=bearer(token))).status_code == 401


async def test_last_used_at_is_written_in_batches_not_per_request(api, settings, shops, db):
    shop, _ = shops
    key_id, token = await make_key(settings, shop.id, "viewer")
    for _ in range(5):
        assert (await api.get("/v1/payments", headers=bearer(token))).status_code == 200
    async with db.connect() as conn:
        before = (await conn.execute(text("SELECT last_used_at FROM api_keys WHERE id = :id"), {"id": key_id})).scalar_one()
    assert before is None  # nothing written on the request path
    # What the background task does every interval (run on the app's own event loop).
    await asyncio.to_thread(api.blocking_portal.call, api.app.state.easypay.key_usage.flush)
    async with db.connect() as conn:
        after = (await conn.execute(text("SELECT last_used_at FROM api_keys WHERE id = :id"), {"id": key_id})).scalar_one()
    assert after is not None
    listed = await api.get(f"/v1/api-keys/{key_id}", headers=bearer(shop.keys["merchant"]))
    assert listed.json()["last_used_at"] is not None
