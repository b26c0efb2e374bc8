"""Disabling a user or changing its role holds without Redis; keys a disabled user minted stop.

A real ``easypay web`` process runs against a private ``redis-server`` (its own port, no
persistence, like production), which these tests stop and restart empty. The shared Redis is
never touched.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any, Iterator

import httpx
import jwt
import pytest

from engine.auth import derive_pepper, key_record_name
from engine.db.accounts import CreatorDisabled, create_api_key, update_user
from tests.access.world import PASSWORD, bearer, make_shop, make_user
from tests.conftest import ROOT, free_port, stop, wait_for_http
from tests.private_redis import PrivateRedis

#: The in-process memory of a user's token version lasts 1 s (engine.token_versions).
CACHE_S = 1.1


def _start_web(env: dict[str, str], log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    log = open(log_path, "ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "easypay.cli", "web", "--port", str(port)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{base}/health/live", proc=proc)
    except Exception:
        stop(proc)
        raise
    return proc, base


@pytest.fixture(scope="module")
def private_redis(log_dir: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(free_port(), log_dir / "private-redis.log")
    server.start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _redis_running(private_redis: PrivateRedis) -> Iterator[None]:
    """Every test starts with the private Redis up, whatever the previous one did to it."""
    if not private_redis.running:
        private_redis.start()
    yield
    if not private_redis.running:
        private_redis.start()


@pytest.fixture(scope="module")
def web(test_env: dict[str, str], database: str, redis_clean: None, private_redis: PrivateRedis, log_dir: Path) -> Iterator[str]:
    """``easypay web`` whose cache, rate limits and key records live in the private Redis."""
    proc, base = _start_web({**test_env, "REDIS_URL": private_redis.url}, log_dir / "web-user-revocation.log")
    yield base
    stop(proc)


@pytest.fixture
async def http(web: str) -> Any:
    async with httpx.AsyncClient(base_url=web, timeout=15) as client:
        yield client


@pytest.fixture(scope="module")
async def shop(settings, database, redis_clean):
    return await make_shop(settings, "User revocation shop")


async def _token(http: httpx.AsyncClient, email: str) -> str:
    response = await http.post("/v1/auth/token", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


async def _patch_user(http: httpx.AsyncClient, shop: Any, user_id: str, **changes: Any) -> httpx.Response:
    return await http.patch(f"/v1/users/{user_id}", json=changes, headers=bearer(shop.keys["admin"]))


async def _disabled_users_token(settings: Any, http: httpx.AsyncClient, shop: Any) -> tuple[str, str]:
    """A token of a user disabled a moment ago, already refused (with Redis up); and the email."""
    user_id, email = await make_user(settings, shop.id, "developer")
    token = await _token(http, email)
    assert (await http.get("/v1/payments", headers=bearer(token))).status_code == 200
    assert (await _patch_user(http, shop, user_id, disabled=True)).status_code == 200
    await asyncio.sleep(CACHE_S)
    assert (await http.get("/v1/payments", headers=bearer(token))).status_code == 401
    return token, email


async def test_disabled_users_token_is_refused_with_redis_stopped(settings, http, shop, private_redis):
    token, _ = await _disabled_users_token(settings, http, shop)
    private_redis.stop()
    await asyncio.sleep(CACHE_S)
    assert (await http.get("/v1/payments", headers=bearer(token))).status_code == 401


async def test_disabled_users_token_is_refused_after_redis_restarts_empty(settings, http, shop, private_redis):
    token, email = await _disabled_users_token(settings, http, shop)
    private_redis.stop()
    private_redis.start()  # no persistence: whatever Redis held is gone
    assert private_redis.size() == 0
    await asyncio.sleep(CACHE_S)
    assert (await http.get("/v1/payments", headers=bearer(token))).status_code == 401
    assert (await http.post("/v1/auth/token", json={"email": email, "password": PASSWORD})).status_code == 401


async def test_disabling_a_user_while_redis_is_down_takes_effect(settings, http, shop, private_redis):
    user_id, email = await make_user(settings, shop.id, "developer")
    token = await _token(http, email)
    private_redis.stop()
    # A valid token still works with Redis down: the check is against PostgreSQL, not Redis.
    assert (await http.get("/v1/payments", headers=bearer(token))).status_code == 200
    disabled = await _patch_user(http, shop, user_id, disabled=True)
    assert disabled.status_code == 200, disabled.text
    await asyncio.sleep(CACHE_S)
    assert (await http.get("/v1/payments", headers=bearer(token))).status_code == 401


async def test_a_role_change_takes_effect_with_redis_down(settings, http, shop, private_redis):
    user_id, email = await make_user(settings, shop.id, "developer")
    old = await _token(http, email)
    assert (await http.post("/v1/payments", json={}, headers=bearer(old))).status_code == 422  # may write
    private_redis.stop()
    changed = await _patch_user(http, shop, user_id, role="viewer")
    assert changed.status_code == 200, changed.text
    await asyncio.sleep(CACHE_S)
    assert (await http.post("/v1/payments", json={}, headers=bearer(old))).status_code == 401
    assert (await http.get("/v1/payments", headers=bearer(old))).status_code == 401
    new = await _token(http, email)
    assert jwt.decode(new, options={"verify_signature": False})["role"] == "viewer"
    assert (await http.get("/v1/payments", headers=bearer(new))).status_code == 200
    assert (await http.post("/v1/payments", json={}, headers=bearer(new))).status_code == 403


async def test_keys_minted_by_a_disabled_user_are_revoked_and_others_are_not(settings, http, shop, private_redis):
    user_id, email = await make_user(settings, shop.id, "merchant")
    token = await _token(http, email)
    minted = await http.post("/v1/api-keys", json={"role": "developer", "name": "by a user"}, headers=bearer(token))
    assert minted.status_code == 201, minted.text
    user_key_id, user_key = minted.json()["id"], minted.json()["key"]
    # The same merchant's key minted by an admin API key (another path): not the user's to lose.
    by_admin = await http.post("/v1/api-keys", json={"role": "developer", "merchant_id": str(shop.id)},
                               headers=bearer(shop.keys["admin"]))
    assert by_admin.status_code == 201, by_admin.text
    admin_key = by_admin.json()["key"]
    for key in (user_key, admin_key):  # both cached in-process and in Redis as valid
        assert (await http.get("/v1/payments", headers=bearer(key))).status_code == 200

    assert (await _patch_user(http, shop, user_id, disabled=True)).status_code == 200
    await asyncio.sleep(CACHE_S)
    assert (await http.get("/v1/payments", headers=bearer(user_key))).status_code == 401
    assert b'"revoked":true' in private_redis.raw(key_record_name(settings.redis.key_prefix, user_key_id))
    viewed = await http.get(f"/v1/api-keys/{user_key_id}", headers=bearer(shop.keys["admin"]))
    assert viewed.json()["revoked_at"] is not None
    assert (await http.get("/v1/payments", headers=bearer(admin_key))).status_code == 200

    # Revoked, not suspended: re-enabling the user does not bring the key back.
    assert (await _patch_user(http, shop, user_id, disabled=False)).status_code == 200
    await asyncio.sleep(CACHE_S)
    assert (await http.get("/v1/payments", headers=bearer(user_key))).status_code == 401
    assert (await http.get("/v1/payments", headers=bearer(await _token(http, email)))).status_code == 200


async def test_database_unreachable_means_503_with_retry_after_not_200(settings, test_env, http, shop, private_redis, log_dir):
    _, email = await make_user(settings, None, "admin")
    token = await _token(http, email)
    # The payment's snapshot is now in the private Redis: a read needs no database after auth.
    assert (await http.get(f"/v1/payments/{shop.payment_id}", headers=bearer(token))).status_code == 200
    closed = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/nowhere"
    env = {**test_env, "REDIS_URL": private_redis.url, "DATABASE_URL": closed}
    proc, base = _start_web(env, log_dir / "web-no-database.log")
    try:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            response = await client.get(f"/v1/payments/{shop.payment_id}", headers=bearer(token))
    finally:
        stop(proc)
    assert response.status_code == 503, response.text
    assert response.json()["code"] == "service_unavailable"
    assert int(response.headers["retry-after"]) >= 1


async def test_a_disabled_user_cannot_mint_a_key_even_while_its_token_is_remembered(settings, db, http, shop):
    """The minting transaction reads the user FOR SHARE: a disable committed first is seen."""
    user_id, email = await make_user(settings, shop.id, "merchant")
    token = await _token(http, email)
    assert (await http.get("/v1/api-keys", headers=bearer(token))).status_code == 200  # version now remembered
    async with db.begin() as conn:  # disabled behind the API process's back: its memory lasts 1 s
        await update_user(conn, uuid.UUID(user_id), disabled=True)
    minted = await http.post("/v1/api-keys", json={"role": "viewer"}, headers=bearer(token))
    assert minted.status_code == 401
    with pytest.raises(CreatorDisabled):
        async with db.begin() as conn:
            await create_api_key(conn, merchant_id=shop.id, role="viewer", pepper=derive_pepper(settings.secret_key),
                                 created_by_user_id=uuid.UUID(user_id))
