"""What an anonymous caller can make the API do is bounded: failed API-key checks per client
address, logins per e-mail and for all e-mails together, and password hashes at once per process;
and a merchant sees the failed checks against its own keys on the key object."""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
import subprocess
import sys
import time
import uuid
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import AsyncIterator

import httpx
import pytest

from engine.db.accounts import create_user
from engine.db.session import make_engine
from tests.access.world import PASSWORD, bearer
from tests.conftest import ROOT, free_port, stop, wait_for_http


@pytest.fixture(scope="module")
def web(test_env, database, redis_clean, log_dir) -> AsyncIterator[str]:
    """A real ``easypay web`` process: 3 failed key checks per address a minute, 1 hash at a time."""
    port = free_port()
    env = {**test_env, "EASYPAY_KEY_FAILURES_PER_MINUTE": "3", "EASYPAY_PASSWORD_HASH_CONCURRENCY": "1",
           "EASYPAY_PASSWORD_HASH_WAIT_MS": "0"}
    with open(log_dir / "web-abuse-limits.log", "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "easypay.cli", "web", "--port", str(port)],
                                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{base}/health/live", proc=proc)
        yield base
    finally:
        stop(proc, timeout_s=15)


@asynccontextmanager
async def api_with(settings, **access) -> AsyncIterator[httpx.AsyncClient]:
    """The app in-process, as the ``api`` fixture, with some access settings changed."""
    from litestar.testing import AsyncTestClient

    from api.app import create_app

    app = create_app(replace(settings, access=replace(settings.access, **access)), configure_logs=False)
    async with AsyncTestClient(app=app, timeout=40) as client:
        yield client


def fresh_minute() -> None:
    """Limits count in fixed minute windows: start a test's hits well inside one."""
    if time.time() % 60 > 45:
        time.sleep(61 - time.time() % 60)


def random_key(key_id: str | None = None) -> str:
    return f"ak_{key_id or secrets.token_hex(8)}:sk_{secrets.token_urlsafe(32)}"


async def make_user(settings) -> str:
    email = f"{uuid.uuid4().hex[:12]}@example.com"
    engine = make_engine(settings.database)
    try:
        async with engine.begin() as conn:
            await create_user(conn, email=email, password=PASSWORD, role="admin", merchant_id=None)
    finally:
        await engine.dispose()
    return email


def assert_rate_limited(response) -> None:
    assert response.status_code == 429, (response.status_code, response.text)
    assert response.json()["code"] == "rate_limited"
    assert int(response.headers["Retry-After"]) >= 1


async def test_failed_key_checks_are_limited_per_address(web, merchant):
    fresh_minute()
    async with httpx.AsyncClient(base_url=web, timeout=20) as api:
        for _ in range(3):
            assert (await api.get("/v1/payments", headers=bearer(random_key()))).status_code == 401
        assert_rate_limited(await api.get("/v1/payments", headers=bearer(random_key())))
        assert_rate_limited(await api.get("/v1/payments", headers={"X-API-Key": random_key(merchant.key_id)}))
        # Only failures are limited: a valid key from the same address still works.
        assert (await api.get("/v1/payments", headers=merchant.headers)).status_code == 200


async def test_failed_checks_against_a_real_key_are_shown_on_it(api, merchant):
    before = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)
    wrong = random_key(merchant.key_id)
    for token in (wrong, wrong, f"ak_{merchant.key_id}:sk_short", random_key()):
        assert (await api.get("/v1/payments", headers=bearer(token))).status_code == 401
    listed = (await api.get("/v1/api-keys", headers=merchant.headers)).json()["data"]
    mine = next(k for k in listed if k["id"] == merchant.key_id)
    # Two wrong secrets (the same one twice: each attempt counts) and one malformed; the unknown
    # key id belongs to nobody and counts nowhere.
    assert mine["failed_attempts"] == 3
    assert dt.datetime.fromisoformat(mine["last_failed_attempt_at"]) >= before
    one = (await api.get(f"/v1/api-keys/{merchant.key_id}", headers=merchant.headers)).json()
    assert one["failed_attempts"] == 3
    created = (await api.post("/v1/api-keys", json={"role": "viewer"}, headers=merchant.headers)).json()
    assert created["failed_attempts"] == 0 and created["last_failed_attempt_at"] is None


async def test_logins_are_limited_per_email(settings, database, redis_clean):
    fresh_minute()
    email, other = await make_user(settings), await make_user(settings)
    async with api_with(settings, login_per_minute_per_email=3) as api:
        for _ in range(3):
            response = await api.post("/v1/auth/token", json={"email": email, "password": "wrong password!"})
            assert response.status_code == 401
        assert_rate_limited(await api.post("/v1/auth/token", json={"email": email.upper(), "password": PASSWORD}))
        # Another e-mail from the same address is not affected.
        assert (await api.post("/v1/auth/token", json={"email": other, "password": PASSWORD})).status_code == 200


async def test_logins_are_limited_for_all_emails_together(settings, database, redis_clean):
    fresh_minute()
    async with api_with(settings, login_per_minute=4) as api:
        for _ in range(4):
            body = {"email": f"{uuid.uuid4().hex[:12]}@example.com", "password": "wrong password!"}
            assert (await api.post("/v1/auth/token", json=body)).status_code == 401
        body = {"email": f"{uuid.uuid4().hex[:12]}@example.com", "password": "wrong password!"}
        assert_rate_limited(await api.post("/v1/auth/token", json=body))


async def test_password_hashing_is_capped_per_process(web, settings):
    email = await make_user(settings)
    body = {"email": email, "password": PASSWORD}
    async with httpx.AsyncClient(base_url=web, timeout=20) as api:
        responses = await asyncio.gather(*(api.post("/v1/auth/token", json=body) for _ in range(4)))
        statuses = sorted(r.status_code for r in responses)
        assert 200 in statuses and 503 in statuses, statuses
        busy = next(r for r in responses if r.status_code == 503)
        assert busy.json()["code"] == "busy" and busy.headers["Retry-After"] == "1"
        # Once the hash is done the slot is free again.
        assert (await api.post("/v1/auth/token", json=body)).status_code == 200


async def test_failed_attempts_are_null_not_zero_while_redis_is_away(settings, database, merchant):
    from litestar.testing import AsyncTestClient

    from api.app import create_app
    from tests.conftest import free_port

    broken = replace(settings, redis=replace(settings.redis, cache_url=f"redis://127.0.0.1:{free_port()}/0"))
    async with AsyncTestClient(app=create_app(broken, configure_logs=False), timeout=40) as api:
        response = await api.get(f"/v1/api-keys/{merchant.key_id}", headers=merchant.headers)
    assert response.status_code == 200, response.text
    assert response.json()["failed_attempts"] is None
