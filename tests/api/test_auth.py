"""API-key authentication: every /v1 route needs a key of the merchant it acts for."""

from __future__ import annotations

import asyncio

import pytest

from engine.auth import KeyRecords, derive_record_key
from engine.revocation import revoke_key
from tests.conftest import make_merchant
from tests.helpers import card_payment

ROUTES = [("GET", "/v1/payments"), ("POST", "/v1/payments"), ("GET", "/v1/payments/00000000-0000-0000-0000-000000000000")]


@pytest.mark.parametrize("method,path", ROUTES)
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer nonsense"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer ak_0123456789abcdef:sk_" + "x" * 43},
        {"X-API-Key": "ak_0123456789abcdef:sk_" + "y" * 43},
    ],
    ids=["none", "garbage", "basic", "unknown-key", "unknown-x-api-key"],
)
async def test_missing_or_bad_credentials_are_401(api, method, path, headers):
    response = await api.request(method, path, headers=headers, json=card_payment() if method == "POST" else None)
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_x_api_key_header_works(api, merchant):
    response = await api.get("/v1/payments", headers={"X-API-Key": merchant.key})
    assert response.status_code == 200


async def test_wrong_secret_for_a_real_key_id_is_401(api, merchant):
    forged = merchant.key.split(":sk_")[0] + ":sk_" + "z" * 43
    response = await api.get("/v1/payments", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401


async def test_revoked_key_stops_working_within_a_second(api, settings, db):
    from redis.asyncio import Redis

    shop = await make_merchant(settings, "Revoking shop")
    assert (await api.get("/v1/payments", headers=shop.headers)).status_code == 200
    redis = Redis.from_url(settings.redis.cache_url)
    async with db.begin() as conn:
        records = KeyRecords(redis, prefix=settings.redis.key_prefix, mac_key=derive_record_key(settings.secret_key))
        assert await revoke_key(conn, records, key_id=shop.key_id)
    await redis.aclose()
    await asyncio.sleep(1.1)
    assert (await api.get("/v1/payments", headers=shop.headers)).status_code == 401


async def test_secret_is_stored_only_as_a_keyed_hash(merchant, db):
    from sqlalchemy import text

    secret = merchant.key.split(":sk_")[1]
    async with db.connect() as conn:
        row = (await conn.execute(text("SELECT * FROM api_keys WHERE id = :id"), {"id": merchant.key_id})).one()
    assert secret.encode() not in bytes(row.secret_hash)
    assert secret not in str(tuple(row))
    assert len(row.secret_hash) == 32
