"""Dashboard sign-in, sessions and sign-out over HTTP, on the app with real PostgreSQL and Redis:
CSRF refusals, cookie flags, a new session id per sign-in, the API's login limits and audit."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace

import redis.asyncio as aioredis
from litestar.testing import AsyncTestClient

from api.app import create_app
from api.dashboard.sessions import SESSION_COOKIE, SessionStore
from engine.db.accounts import update_user
from engine.settings_from_env import load_settings
from tests.access.test_abuse_limits import api_with, fresh_minute
from tests.access.world import PASSWORD, make_user
from tests.conftest import make_merchant
from tests.dashboard.helpers import agent, csrf_of, set_cookie_headers, sign_in, signed_in


async def _user(settings, role: str = "merchant") -> str:
    shop = await make_merchant(settings, "Dashboard shop")
    _, email = await make_user(settings, shop.id, role)
    return email


async def _audit(settings, client, action: str, actor_id: str) -> list[dict]:
    """Entries through ``GET /v1/audit-logs`` (which writes the app's buffered entries first)."""
    admin = await make_merchant(settings, "Auditor", role="admin")
    answer = await client.get("/v1/audit-logs", params={"action": action, "actor_id": actor_id}, headers=admin.headers)
    assert answer.status_code == 200, answer.text
    return list(answer.json()["data"])


async def test_the_sign_in_form_carries_a_csrf_token_in_form_and_cookie(api):
    async with agent(api) as client:
        page = await client.get("/dashboard/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        [cookie] = set_cookie_headers(page, "easypay_signin_csrf")
        assert csrf_of(page.text) in cookie
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/dashboard" in cookie
        assert page.headers["cache-control"] == "no-store"
        assert page.headers["content-security-policy"] == "default-src 'self'"


async def test_sign_in_without_the_forms_csrf_token_is_refused(api, settings):
    email = await _user(settings)
    async with agent(api) as client:
        await client.get("/dashboard/")
        for token in (None, "forged-token"):
            data = {"email": email, "password": PASSWORD, **({"csrf_token": token} if token else {})}
            answer = await client.post("/dashboard/sign-in", data=data, follow_redirects=False)
            assert answer.status_code == 403
            assert not set_cookie_headers(answer, SESSION_COOKIE)
        # A token from the form but not the cookie the form came with (another browser's) is refused too.
        other = csrf_of((await client.get("/dashboard/")).text)
        client.cookies.clear()
        answer = await client.post("/dashboard/sign-in", data={"email": email, "password": PASSWORD, "csrf_token": other},
                                   follow_redirects=False)
        assert answer.status_code == 403


async def test_a_session_cookie_is_httponly_samesite_lax_with_an_expiry_and_not_secure_outside_production(api, settings):
    email = await _user(settings)
    async with agent(api) as client:
        answer = await sign_in(client, email)
        assert answer.status_code == 303 and answer.headers["location"] == "/dashboard/payments"
        [cookie] = set_cookie_headers(answer, SESSION_COOKIE)
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/dashboard" in cookie
        assert f"Max-Age={8 * 3600}" in cookie  # EASYPAY_DASHBOARD_SESSION_TTL_S's default: a working day
        assert "Secure" not in cookie
        session_id = client.cookies[SESSION_COOKIE]
        assert 8 * 3600 - 60 < await _session_ttl_s(settings, session_id) <= 8 * 3600
        redis = aioredis.Redis.from_url(settings.redis.cache_url)
        try:
            assert session_id not in str(await redis.keys(f"{settings.redis.key_prefix}:dashboard-session:*"))
        finally:
            await redis.aclose()


async def _session_ttl_s(settings, session_id: str) -> int:
    """The TTL Redis holds for a session's record."""
    redis = aioredis.Redis.from_url(settings.redis.cache_url)
    try:
        return int(await redis.ttl(SessionStore(redis, prefix=settings.redis.key_prefix, ttl_s=1)._key(session_id)))
    finally:
        await redis.aclose()


async def test_the_session_lifetime_comes_from_easypay_dashboard_session_ttl_s(test_env, settings, database, redis_clean):
    short = load_settings({**test_env, "EASYPAY_DASHBOARD_SESSION_TTL_S": "120"})
    assert short.access.dashboard_session_ttl_s == 120
    email = await _user(settings)
    async with AsyncTestClient(app=create_app(short, configure_logs=False), timeout=40) as client:
        answer = await sign_in(client, email)
        assert answer.status_code == 303, answer.text
        [cookie] = set_cookie_headers(answer, SESSION_COOKIE)
        assert "Max-Age=120;" in f"{cookie};"
        assert 60 < await _session_ttl_s(settings, client.cookies[SESSION_COOKIE]) <= 120
        assert (await client.get("/dashboard/payments")).status_code == 200


async def test_cookies_are_secure_in_production(settings, database, redis_clean):
    production = replace(settings, environment="production", access=replace(settings.access, ops_token="ops-token-for-tests"))
    email = await _user(settings)
    async with AsyncTestClient(app=create_app(production, configure_logs=False), timeout=40) as client:
        form = await client.get("/dashboard/")
        [csrf_cookie] = set_cookie_headers(form, "easypay_signin_csrf")
        assert "Secure" in csrf_cookie
        client.cookies.set("easypay_signin_csrf", csrf_of(form.text), path="/dashboard")
        answer = await client.post("/dashboard/sign-in", data={"email": email, "password": PASSWORD, "csrf_token": csrf_of(form.text)},
                                   follow_redirects=False)
        assert answer.status_code == 303, answer.text
        [cookie] = set_cookie_headers(answer, SESSION_COOKIE)
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie


async def test_every_sign_in_makes_a_new_session_id_and_ends_the_old_one(api, settings):
    email = await _user(settings)
    async with agent(api) as client:
        await signed_in(client, email)
        first = client.cookies[SESSION_COOKIE]
        # Signing in again while holding that session (or one planted by someone else) gives a new id.
        assert (await client.get("/dashboard/", follow_redirects=False)).headers["location"] == "/dashboard/payments"
        await signed_in(client, email)
        second = client.cookies[SESSION_COOKIE]
        assert first != second
        client.cookies.clear()
        client.cookies.set(SESSION_COOKIE, first, path="/dashboard")
        answer = await client.get("/dashboard/payments", follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == "/dashboard/"


async def test_pages_need_a_session_and_htmx_requests_are_told_where_to_sign_in(api):
    async with agent(api) as client:
        answer = await client.get("/dashboard/payments", follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == "/dashboard/"
        client.cookies.set(SESSION_COOKIE, "made-up-session-id", path="/dashboard")
        answer = await client.get("/dashboard/payments", headers={"HX-Request": "true"}, follow_redirects=False)
        assert answer.status_code == 401 and answer.headers["hx-redirect"] == "/dashboard/"


async def test_a_wrong_password_is_401_and_audited_like_an_api_login(api, settings):
    email = await _user(settings)
    async with agent(api) as client:
        answer = await sign_in(client, email, "not the password at all")
        assert answer.status_code == 401
        assert "Wrong e-mail or password." in answer.text
        assert not set_cookie_headers(answer, SESSION_COOKIE)
        [entry] = await _audit(settings, client, "authentication_failed", email)
        assert entry["actor_type"] == "user" and entry["outcome"] == "denied"
        assert entry["route"] == "/dashboard/sign-in" and entry["status_code"] == 401
        assert (await sign_in(client, email)).status_code == 303


async def test_dashboard_and_api_sign_ins_share_the_per_email_limit(settings, database, redis_clean):
    fresh_minute()
    email = await _user(settings)
    async with api_with(settings, login_per_minute_per_email=3) as client:
        client.cookies.clear()
        for _ in range(2):
            assert (await client.post("/v1/auth/token", json={"email": email, "password": "wrong password!"})).status_code == 401
        assert (await sign_in(client, email, "wrong password!")).status_code == 401
        answer = await sign_in(client, email)  # the right password, over the limit
        assert answer.status_code == 429
        assert int(answer.headers["retry-after"]) >= 1
        assert not set_cookie_headers(answer, SESSION_COOKIE)
        [entry] = await _audit(settings, client, "rate_limited", email)
        assert entry["route"] == "/dashboard/sign-in" and entry["status_code"] == 429


async def test_sign_out_needs_the_csrf_token_then_ends_the_session(api, settings):
    email = await _user(settings)
    async with agent(api) as client:
        csrf = await signed_in(client, email)
        session_id = client.cookies[SESSION_COOKIE]
        refused = await client.post("/dashboard/sign-out", data={}, follow_redirects=False)
        assert refused.status_code == 403
        assert (await client.get("/dashboard/payments", follow_redirects=False)).status_code == 200
        answer = await client.post("/dashboard/sign-out", data={"csrf_token": csrf}, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == "/dashboard/"
        [cleared] = set_cookie_headers(answer, SESSION_COOKIE)
        assert "Max-Age=0" in cleared
        client.cookies.set(SESSION_COOKIE, session_id, path="/dashboard")  # the old cookie, replayed
        assert (await client.get("/dashboard/payments", follow_redirects=False)).headers["location"] == "/dashboard/"


async def test_disabling_the_user_ends_its_sessions_within_a_second(api, settings, db):
    shop = await make_merchant(settings, "Disabled user's shop")
    user_id, email = await make_user(settings, shop.id, "merchant")
    async with agent(api) as client:
        await signed_in(client, email)
        async with db.begin() as conn:
            await update_user(conn, uuid.UUID(user_id), disabled=True)
        await asyncio.sleep(1.1)
        answer = await client.get("/dashboard/payments", follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == "/dashboard/"


async def test_sessions_expire_with_their_redis_record(api, settings):
    email = await _user(settings)
    async with agent(api) as client:
        await signed_in(client, email)
        redis = aioredis.Redis.from_url(settings.redis.cache_url)
        try:
            assert await redis.pexpire(SessionStore(redis, prefix=settings.redis.key_prefix, ttl_s=1)._key(client.cookies[SESSION_COOKIE]), 1)
        finally:
            await redis.aclose()
        await asyncio.sleep(0.05)
        assert (await client.get("/dashboard/payments", follow_redirects=False)).status_code == 303
