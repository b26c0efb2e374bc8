"""Users and JWTs: POST /v1/auth/token, and every kind of forged or stale token is a 401."""

from __future__ import annotations

import asyncio
import base64
import json
import time

import jwt
import pytest

from engine.tokens import AUDIENCE, ISSUER, derive_jwt_key
from tests.access.world import PASSWORD, bearer, make_shop, make_user


@pytest.fixture(scope="module")
async def shop(settings, database, redis_clean):
    return await make_shop(settings, "Token shop")


@pytest.fixture(scope="module")
async def user(settings, shop):
    user_id, email = await make_user(settings, shop.id, "merchant")
    return {"id": user_id, "email": email}


async def _token(api, email, password=PASSWORD):
    return await api.post("/v1/auth/token", json={"email": email, "password": password})


def _claims(user, shop, **changes):
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": user["id"], "merchant": str(shop.id), "role": "merchant",
              "ver": 0, "iat": now, "nbf": now, "exp": now + 600}
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def test_token_is_issued_for_the_right_password_and_works(api, user, shop):
    response = await _token(api, user["email"].upper())  # emails are case-insensitive
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    assert response.headers["cache-control"] == "no-store"
    header = jwt.get_unverified_header(body["access_token"])
    assert header["alg"] == "HS256"
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert {"exp", "iat", "nbf", "sub"} <= set(claims)
    assert claims["sub"] == user["id"] and claims["merchant"] == str(shop.id) and claims["role"] == "merchant"
    listed = await api.get("/v1/payments", headers=bearer(body["access_token"]))
    assert listed.status_code == 200
    assert shop.payment_id in [p["id"] for p in listed.json()["data"]]


@pytest.mark.parametrize("email,password", [("nobody@example.com", PASSWORD), (None, "wrong password!!")])
async def test_wrong_email_or_password_is_401(api, user, email, password):
    response = await _token(api, email or user["email"], password)
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"


async def test_signing_key_is_not_the_key_hash_pepper(settings):
    from engine.auth import derive_pepper

    assert derive_jwt_key(settings.secret_key) != derive_pepper(settings.secret_key)
    assert derive_jwt_key(settings.secret_key) != settings.secret_key


@pytest.mark.parametrize(
    "attack",
    ["alg_none", "alg_none_upper", "wrong_key", "hs512", "tampered_payload", "tampered_role", "expired", "future_nbf",
     "missing_exp", "missing_nbf", "missing_version", "stale_version", "wrong_audience", "garbage", "bad_signature_bytes"],
)
@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
async def test_forged_or_stale_tokens_are_401(api, settings, user, shop, attack):
    key = derive_jwt_key(settings.secret_key)
    now = int(time.time())
    good = jwt.encode(_claims(user, shop), key, algorithm="HS256")
    head, payload, signature = good.split(".")
    token = {
        "alg_none": lambda: f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims(user, shop))}.",
        "alg_none_upper": lambda: f"{_b64({'alg': 'None', 'typ': 'JWT'})}.{_b64(_claims(user, shop))}.",
        "wrong_key": lambda: jwt.encode(_claims(user, shop), b"x" * 32, algorithm="HS256"),
        "hs512": lambda: jwt.encode(_claims(user, shop), key, algorithm="HS512"),
        "tampered_payload": lambda: f"{head}.{_b64(_claims(user, shop, merchant=None, role='admin'))}.{signature}",
        "tampered_role": lambda: f"{head}.{_b64(_claims(user, shop, role='admin'))}.{signature}",
        "expired": lambda: jwt.encode(_claims(user, shop, iat=now - 1000, nbf=now - 1000, exp=now - 10), key, algorithm="HS256"),
        "future_nbf": lambda: jwt.encode(_claims(user, shop, nbf=now + 300), key, algorithm="HS256"),
        "missing_exp": lambda: jwt.encode(_claims(user, shop, exp=None), key, algorithm="HS256"),
        "missing_nbf": lambda: jwt.encode(_claims(user, shop, nbf=None), key, algorithm="HS256"),
        "missing_version": lambda: jwt.encode(_claims(user, shop, ver=None), key, algorithm="HS256"),
        "stale_version": lambda: jwt.encode(_claims(user, shop, ver=1), key, algorithm="HS256"),
        "wrong_audience": lambda: jwt.encode(_claims(user, shop, aud="someone-else"), key, algorithm="HS256"),
        "garbage": lambda: "a.b.c",
        "bad_signature_bytes": lambda: f"{head}.{payload}.{signature[:-4]}AAAA",
    }[attack]()
    # The untampered token is accepted, so each 401 below is the attack's doing.
    assert (await api.get("/v1/payments", headers=bearer(good))).status_code == 200
    response = await api.get("/v1/payments", headers=bearer(token))
    assert response.status_code == 401, attack


async def test_disabling_a_user_voids_its_tokens_and_refuses_new_ones(api, settings, shop):
    user_id, email = await make_user(settings, shop.id, "developer")
    token = (await _token(api, email)).json()["access_token"]
    assert (await api.get("/v1/payments", headers=bearer(token))).status_code == 200
    patched = await api.patch(f"/v1/users/{user_id}", json={"disabled": True}, headers=bearer(shop.keys["admin"]))
    assert patched.status_code == 200 and patched.json()["disabled_at"]
    await asyncio.sleep(1.1)  # the in-process memory of the user's status lasts one second
    assert (await api.get("/v1/payments", headers=bearer(token))).status_code == 401
    assert (await _token(api, email)).status_code == 401


async def test_a_role_change_voids_old_tokens_and_new_tokens_carry_the_new_role(api, settings, shop):
    user_id, email = await make_user(settings, shop.id, "developer")
    old = (await _token(api, email)).json()["access_token"]
    assert (await api.post("/v1/payments", json={}, headers=bearer(old))).status_code == 422  # may write
    assert (await api.patch(f"/v1/users/{user_id}", json={"role": "viewer"}, headers=bearer(shop.keys["admin"]))).status_code == 200
    await asyncio.sleep(1.1)
    assert (await api.get("/v1/payments", headers=bearer(old))).status_code == 401
    new = (await _token(api, email)).json()["access_token"]
    assert jwt.decode(new, options={"verify_signature": False})["role"] == "viewer"
    assert (await api.get("/v1/payments", headers=bearer(new))).status_code == 200
    assert (await api.post("/v1/payments", json={}, headers=bearer(new))).status_code == 403


async def test_admin_user_without_merchant_acts_across_merchants(api, settings, shop):
    _, email = await make_user(settings, None, "admin")
    token = (await _token(api, email)).json()["access_token"]
    response = await api.get(f"/v1/payments/{shop.payment_id}", headers=bearer(token))
    assert response.status_code == 200
    missing = await api.post("/v1/payments", json={"amount": "1.00", "currency": "USD", "payment_method": {"type": "card"}},
                             headers=bearer(token))
    assert missing.status_code == 422


async def test_user_management_validates_and_hides_password_hashes(api, shop):
    admin = bearer(shop.keys["admin"])
    weak = await api.post("/v1/users", json={"email": "weak@example.com", "password": "short", "role": "viewer",
                                             "merchant_id": str(shop.id)}, headers=admin)
    assert weak.status_code == 422 and weak.json()["errors"][0]["field"] == "password"
    no_merchant = await api.post("/v1/users", json={"email": "nm@example.com", "password": "long enough pass", "role": "viewer"},
                                 headers=admin)
    assert no_merchant.status_code == 422 and no_merchant.json()["errors"][0]["field"] == "merchant_id"
    created = await api.post("/v1/users", json={"email": "dup@example.com", "password": "long enough pass", "role": "viewer",
                                                "merchant_id": str(shop.id)}, headers=admin)
    assert created.status_code == 201
    assert "password" not in created.text and "argon2" not in created.text
    dup = await api.post("/v1/users", json={"email": "DUP@example.com", "password": "long enough pass", "role": "viewer",
                                            "merchant_id": str(shop.id)}, headers=admin)
    assert dup.status_code == 409
    listed = await api.get("/v1/users", headers=admin)
    assert "argon2" not in listed.text


async def test_passwords_are_stored_as_argon2id_hashes(db, user):
    from sqlalchemy import text

    async with db.connect() as conn:
        stored = (await conn.execute(text("SELECT password_hash FROM users WHERE id = :id"), {"id": user["id"]})).scalar_one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
