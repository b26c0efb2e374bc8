"""The audit log: every mutating request, key and user change and failed authentication, with
no secret or card data in it; GET /v1/audit-logs filters, scoping and keyset pagination."""

from __future__ import annotations

import dataclasses
import uuid

import pytest
from sqlalchemy import text

from tests.access.world import PASSWORD, bearer, make_key, make_shop
from tests.helpers import VISA, card_payment


@pytest.fixture(scope="module")
async def shops(settings, database, redis_clean):
    return await make_shop(settings, "Audit shop"), await make_shop(settings, "Other audit shop")


async def _entries(api, shop, **params):
    response = await api.get("/v1/audit-logs", params={"limit": 100, **params}, headers=bearer(shop.keys["admin"]))
    assert response.status_code == 200, response.text
    return response.json()["data"]


async def test_every_mutating_action_is_audited_without_secrets_or_card_data(api, settings, shops, db):
    shop, _ = shops
    merchant = bearer(shop.keys["merchant"])
    admin = bearer(shop.keys["admin"])
    payment = await api.post("/v1/payments", json=card_payment(), headers={**merchant, "X-Request-ID": "req-audit-1"})
    assert payment.status_code == 202
    key = await api.post("/v1/api-keys", json={"role": "viewer"}, headers=merchant)
    revoked = await api.delete(f"/v1/api-keys/{key.json()['id']}", headers=merchant)
    user = await api.post("/v1/users", json={"email": "audited@example.com", "password": PASSWORD, "role": "viewer",
                                             "merchant_id": str(shop.id)}, headers=admin)
    patched = await api.patch(f"/v1/users/{user.json()['id']}", json={"password": "another long password"}, headers=admin)
    token = await api.post("/v1/auth/token", json={"email": "audited@example.com", "password": "another long password"})
    bad_login = await api.post("/v1/auth/token", json={"email": "audited@example.com", "password": "guessing password"})
    invalid = await api.post("/v1/payments", json={"amount": "x"}, headers=merchant)
    forbidden = await api.post("/v1/api-keys", json={"role": "viewer"}, headers=bearer(shop.keys["viewer"]))
    no_key = await api.get("/v1/payments", headers={"Authorization": f"Bearer ak_{shop.key_ids['viewer']}:sk_{'x' * 43}"})
    statuses = [r.status_code for r in (payment, key, revoked, user, patched, token, bad_login, invalid, forbidden, no_key)]
    assert statuses == [202, 201, 200, 201, 200, 200, 401, 422, 403, 401]

    entries = await _entries(api, shop)
    by_action = {}
    for e in entries:
        by_action.setdefault(e["action"], []).append(e)
    created = next(e for e in by_action["create_payment"] if e["status_code"] == 202)
    assert created["object_type"] == "payment" and created["object_id"] == payment.json()["id"]
    assert created["actor_type"] == "api_key" and created["actor_id"] == shop.key_ids["merchant"]
    assert created["request_id"] == "req-audit-1" and created["outcome"] == "success" and created["status_code"] == 202
    assert created["merchant_id"] == str(shop.id) and created["remote_addr"]
    assert key.json()["id"] in [e["object_id"] for e in by_action["create_api_key"]]
    assert by_action["revoke_api_key"][0]["object_id"] == key.json()["id"]
    assert by_action["create_user"][0]["object_id"] == user.json()["id"]
    assert by_action["update_user"][0]["object_id"] == user.json()["id"]
    assert {e["outcome"] for e in by_action["create_payment"]} >= {"success", "failure"}
    failed = by_action["authentication_failed"]
    assert {(e["actor_type"], e["actor_id"]) for e in failed} >= {("user", "audited@example.com"), ("api_key", shop.key_ids["viewer"])}
    assert any(e["outcome"] == "denied" and e["status_code"] == 403 for e in by_action["create_api_key"])
    assert by_action["issue_token"][0]["actor_id"] == user.json()["id"]

    # Nothing secret anywhere in the table: no key secret, password, token or card number.
    async with db.connect() as conn:
        dump = str((await conn.execute(text("SELECT * FROM audit_logs"))).all())
    for secret in (key.json()["key"].split(":sk_")[1], shop.keys["merchant"].split(":sk_")[1], PASSWORD,
                   "another long password", token.json()["access_token"], VISA, "guessing password"):
        assert secret not in dump


async def test_reads_are_not_audited_but_denials_are(api, shops):
    shop, _ = shops
    await api.get("/v1/api-keys", headers=bearer(shop.keys["merchant"]))
    denied = await api.get("/v1/audit-logs", headers=bearer(shop.keys["viewer"]))
    assert denied.status_code == 403
    entries = await _entries(api, shop, actor_id=shop.key_ids["viewer"])
    assert any(e["action"] == "list_audit_logs" and e["outcome"] == "denied" for e in entries)
    mine = await _entries(api, shop, actor_id=shop.key_ids["merchant"])
    assert [e for e in mine if e["route"] == "/v1/api-keys" and e["method"] == "GET"] == []


async def test_reads_of_payments_and_refunds_are_audited(api, shops):
    """Cardholder-data routes: who read which payment (and refund), and who listed them."""
    shop, _ = shops
    viewer = bearer(shop.keys["viewer"])
    for path in (f"/v1/payments/{shop.payment_id}", f"/v1/refunds/{shop.refund_id}", "/v1/payments"):
        assert (await api.get(path, headers=viewer)).status_code == 200, path
    entries = await _entries(api, shop, actor_id=shop.key_ids["viewer"])
    reads = [e for e in entries if e["method"] == "GET" and e["outcome"] == "success"]
    assert {("payment", shop.payment_id), ("refund", shop.refund_id), ("payment", None)} <= {
        (e["object_type"], e["object_id"]) for e in reads}
    assert {e["merchant_id"] for e in reads} == {str(shop.id)}


async def test_a_cross_tenant_probe_is_audited_for_the_owner_and_a_plain_404_is_not(api, shops):
    shop, other = shops
    prober = bearer(shop.keys["merchant"])
    missing = "00000000-0000-4000-8000-000000000000"
    for path in (f"/v1/payments/{other.payment_id}", f"/v1/webhook-endpoints/{other.endpoint_id}", f"/v1/payments/{missing}"):
        assert (await api.get(path, headers=prober)).status_code == 404, path
    probes = await _entries(api, shop, action="cross_tenant_probe", actor_id=shop.key_ids["merchant"])
    assert {(e["object_type"], e["object_id"]) for e in probes} == {
        ("payment", other.payment_id), ("webhook_endpoint", other.endpoint_id)}
    assert {e["merchant_id"] for e in probes} == {str(other.id)} and {e["outcome"] for e in probes} == {"denied"}
    # The merchant probed sees who looked for its objects.
    theirs = (await api.get("/v1/audit-logs", params={"action": "cross_tenant_probe"},
                            headers=bearer(other.keys["merchant"]))).json()["data"]
    assert {e["object_id"] for e in theirs} >= {other.payment_id, other.endpoint_id}


async def test_every_429_is_audited(api, settings, shops):
    shop, _ = shops
    key_id, token = await make_key(settings, shop.id, "viewer", rate_limits={"minute": 2})
    statuses = [(await api.get("/v1/payments", headers=bearer(token))).status_code for _ in range(4)]
    assert statuses == [200, 200, 429, 429]
    limited = await _entries(api, shop, actor_id=key_id, action="rate_limited")
    assert len(limited) == 2 and {e["status_code"] for e in limited} == {429}
    assert {e["outcome"] for e in limited} == {"failure"}


async def test_a_flood_that_fills_the_buffer_loses_no_security_event(settings, shops):
    """A 5-entry buffer, never flushed by time: ordinary entries overflow it, security events all arrive."""
    from litestar.testing import AsyncTestClient

    from api.app import create_app

    shop, _ = shops
    small = dataclasses.replace(settings, access=dataclasses.replace(
        settings.access, audit_buffer_max=5, audit_flush_interval_ms=60_000))
    viewer_id, viewer = await make_key(settings, shop.id, "viewer")
    merchant = bearer(shop.keys["merchant"])
    async with AsyncTestClient(app=create_app(small, configure_logs=False), timeout=40) as api:
        security_ids = []
        for i in range(12):
            request_id = f"flood-denied-{uuid.uuid4().hex[:8]}-{i}"
            security_ids.append(request_id)
            denied = await api.post("/v1/api-keys", json={"role": "viewer"},
                                    headers={**bearer(viewer), "X-Request-ID": request_id})
            assert denied.status_code == 403
            for _ in range(3):  # ordinary entries in between, enough to overflow the buffer
                assert (await api.post("/v1/api-keys", json={"role": "nope"}, headers=merchant)).status_code == 422
        entries = await _entries(api, shop, actor_id=viewer_id)
    assert sorted(e["request_id"] for e in entries if e["status_code"] == 403) == sorted(security_ids)


async def test_merchants_see_only_their_own_entries(api, shops):
    shop, other = shops
    await api.post("/v1/api-keys", json={"role": "viewer"}, headers=bearer(other.keys["merchant"]))
    mine = (await api.get("/v1/audit-logs?limit=100", headers=bearer(shop.keys["merchant"]))).json()["data"]
    assert mine and {e["merchant_id"] for e in mine} == {str(shop.id)}
    assert (await api.get(f"/v1/audit-logs?merchant_id={other.id}", headers=bearer(shop.keys["merchant"]))).status_code == 404
    theirs = await _entries(api, shop, merchant_id=str(other.id))
    assert theirs and {e["merchant_id"] for e in theirs} == {str(other.id)}


async def test_filters_and_keyset_pagination(api, shops):
    shop, _ = shops
    for _ in range(5):
        assert (await api.post("/v1/api-keys", json={"role": "viewer"}, headers=bearer(shop.keys["merchant"]))).status_code == 201
    everything = await _entries(api, shop, action="create_api_key", merchant_id=str(shop.id))
    assert len(everything) >= 5 and all(e["action"] == "create_api_key" for e in everything)
    seen: list[int] = []
    after = None
    while True:
        params = {"limit": 2, "action": "create_api_key", "merchant_id": str(shop.id), **({"starting_after": after} if after else {})}
        page = (await api.get("/v1/audit-logs", params=params, headers=bearer(shop.keys["admin"]))).json()
        seen += [e["id"] for e in page["data"]]
        if not page["has_more"]:
            break
        after = page["data"][-1]["id"]
    assert seen == sorted(seen, reverse=True) == [e["id"] for e in everything]
    one = everything[0]
    assert [e["id"] for e in await _entries(api, shop, object_id=one["object_id"])] == [one["id"]]
    assert all(e["outcome"] == "denied" for e in await _entries(api, shop, outcome="denied"))
    bad = await api.get("/v1/audit-logs?outcome=maybe", headers=bearer(shop.keys["admin"]))
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "outcome"


async def test_audit_log_is_append_only(db):
    from sqlalchemy.exc import DBAPIError

    for statement in ("UPDATE audit_logs SET action = 'x'", "DELETE FROM audit_logs"):
        with pytest.raises(DBAPIError, match="append-only"):
            async with db.begin() as conn:
                await conn.execute(text(statement))


async def test_cli_key_and_user_changes_are_audited(settings, test_env, shops, db):
    import json
    import subprocess
    import sys

    from tests.conftest import ROOT

    shop, _ = shops
    env = {**test_env, "EASYPAY_USER_PASSWORD": PASSWORD}

    def cli(*args: str) -> dict:
        done = subprocess.run([sys.executable, "-m", "easypay.cli", *args, "--json"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    key = cli("keys", "create", "--merchant", str(shop.id), "--role", "viewer", "--rate-limit", "minute=7")
    cli("keys", "revoke", key["id"])
    user = cli("users", "create", "--email", "cli-user@example.com", "--role", "viewer", "--merchant", str(shop.id))
    listed = cli("keys", "list", "--merchant", str(shop.id))
    assert {"id": key["id"], "rate_limits": {"minute": 7}}.items() <= next(k for k in listed["data"] if k["id"] == key["id"]).items()
    assert key["key"].split(":sk_")[1] not in json.dumps(listed)
    async with db.connect() as conn:
        rows = (await conn.execute(text("SELECT action, object_id, actor_type FROM audit_logs WHERE actor_type = 'cli'"))).all()
    assert {("create_api_key", key["id"]), ("revoke_api_key", key["id"]), ("create_user", user["id"])} <= {(r.action, r.object_id) for r in rows}
