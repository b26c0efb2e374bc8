"""Rotating the root key (``EASYPAY_SECRET_KEY`` A → B) with real ``easypay web`` processes: a user
token and an API key made under A keep working on an API holding B with A as a previous key, and
are refused by one holding B alone; the API key's first use on the rotated API re-hashes it with
B's pepper, after which B alone accepts it. An idempotent request made under A (its fingerprint
and its sealed answer) still replays."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from typing import Any, Iterator

import httpx
import pytest
from sqlalchemy import text

from engine.auth import derive_pepper, hash_secret, parse_key
from tests.access.world import PASSWORD, bearer, make_user
from tests.conftest import TEST_SECRET, make_merchant, start_web, stop

NEW_KEY = secrets.token_urlsafe(32)
#: The in-process memory of an API key check lasts 1 s (``engine.auth``).
LOCAL_CACHE_S = 1.1


@pytest.fixture(scope="module")
def webs(test_env: dict[str, str], database: str, redis_clean: None, log_dir: Any) -> Iterator[dict[str, str]]:
    """Base URLs of three API processes: ``old`` (A), ``new_only`` (B), ``rotated`` (B, previous A)."""
    envs = {
        "old": test_env,
        "new_only": {**test_env, "EASYPAY_SECRET_KEY": NEW_KEY},
        "rotated": {**test_env, "EASYPAY_SECRET_KEY": NEW_KEY, "EASYPAY_PREVIOUS_SECRET_KEYS": TEST_SECRET},
    }
    started: dict[str, Any] = {}
    try:
        for name, env in envs.items():
            started[name] = start_web(env, log_dir / f"web-root-key-{name}.log")
        yield {name: base for name, (base, _) in started.items()}
    finally:
        for _, proc in started.values():
            stop(proc)


async def _status(http: httpx.AsyncClient, base: str, headers: dict[str, str]) -> int:
    return (await http.get(f"{base}/v1/payments", headers=headers)).status_code


async def _stored_hash(db: Any, key_id: str) -> bytes:
    async with db.connect() as conn:
        return bytes((await conn.execute(text("SELECT secret_hash FROM api_keys WHERE id = :k"), {"k": key_id})).scalar_one())


async def test_tokens_and_keys_of_the_previous_root_key_work_only_where_it_is_still_held(webs, settings, db):
    merchant = await make_merchant(settings, "Root key rotation shop")  # its key hashed with A's pepper
    _, email = await make_user(settings, merchant.id, "merchant")
    _, secret = parse_key(merchant.key)  # type: ignore[misc]
    async with httpx.AsyncClient(timeout=30) as http:
        issued = await http.post(f"{webs['old']}/v1/auth/token", json={"email": email, "password": PASSWORD})
        assert issued.status_code == 200, issued.text
        token = issued.json()["access_token"]
        assert await _status(http, webs["old"], bearer(token)) == 200
        assert await _status(http, webs["old"], merchant.headers) == 200

        # B alone: nothing made under A verifies.
        assert await _status(http, webs["new_only"], bearer(token)) == 401
        assert await _status(http, webs["new_only"], merchant.headers) == 401
        assert await _stored_hash(db, merchant.key_id) == hash_secret(derive_pepper(TEST_SECRET.encode()), secret)

        # B with A as a previous key: both work; the key is re-hashed with B's pepper on this use.
        assert await _status(http, webs["rotated"], bearer(token)) == 200
        assert await _status(http, webs["rotated"], merchant.headers) == 200
        assert await _stored_hash(db, merchant.key_id) == hash_secret(derive_pepper(NEW_KEY.encode()), secret)

        # Now B alone takes the key (its refusal above is remembered for at most 1 s), not the
        # A-signed token; a token the rotated API issues is signed with B.
        await asyncio.sleep(LOCAL_CACHE_S)
        assert await _status(http, webs["new_only"], merchant.headers) == 200
        assert await _status(http, webs["rotated"], merchant.headers) == 200
        assert await _status(http, webs["new_only"], bearer(token)) == 401
        fresh = await http.post(f"{webs['rotated']}/v1/auth/token", json={"email": email, "password": PASSWORD})
        assert fresh.status_code == 200, fresh.text
        assert await _status(http, webs["new_only"], bearer(fresh.json()["access_token"])) == 200


async def test_an_idempotent_request_made_under_the_previous_key_still_replays(webs, settings):
    merchant = await make_merchant(settings, "Root key idempotency shop")
    body = {"url": "http://127.0.0.1:9/hooks/rotation", "events": ["*"]}
    headers = {**merchant.headers, "Idempotency-Key": uuid.uuid4().hex}
    async with httpx.AsyncClient(timeout=30) as http:
        first = await http.post(f"{webs['old']}/v1/webhook-endpoints", json=body, headers=headers)
        assert first.status_code == 201, first.text
        # Its fingerprint was made with A's pepper and its answer (it holds the endpoint's
        # secret) sealed with A: the rotated API recognises the request and opens the answer.
        again = await http.post(f"{webs['rotated']}/v1/webhook-endpoints", json=body, headers=headers)
        assert again.status_code == 201, again.text
        assert again.headers.get("idempotent-replayed") == "true" and again.content == first.content
        other = await http.post(f"{webs['rotated']}/v1/webhook-endpoints", json={**body, "events": ["payment.captured"]}, headers=headers)
        assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
