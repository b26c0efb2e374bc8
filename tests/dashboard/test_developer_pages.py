"""The webhooks and developers pages over HTTP: each merchant sees its own endpoints, deliveries,
events and keys; revoking a key is the API's revocation, for ``keys:manage`` only, CSRF-checked."""

from __future__ import annotations

import asyncio
import re
import uuid

from sqlalchemy import text

from tests.access.world import bearer, make_shop, make_user
from tests.dashboard.helpers import agent, key_form_of, signed_in


async def test_endpoints_and_deliveries_are_shown_to_their_merchant_only(api, settings):
    mine, theirs = await make_shop(settings, "Hooks mine"), await make_shop(settings, "Hooks theirs")
    _, email = await make_user(settings, mine.id, "developer")
    async with agent(api) as client:
        await signed_in(client, email)
        page = await client.get("/dashboard/webhooks")
        assert page.status_code == 200
        assert mine.endpoint_id in page.text and theirs.endpoint_id not in page.text
        detail = await client.get(f"/dashboard/webhooks/{mine.endpoint_id}")
        assert detail.status_code == 200 and "https://hooks.example.com/matrix" in detail.text
        assert 'data-testid="deliveries"' in detail.text
        assert (await client.get(f"/dashboard/webhooks/{theirs.endpoint_id}")).status_code == 404


async def test_merchants_enable_and_disable_endpoints_developers_may_not(api, settings, db):
    mine, theirs = await make_shop(settings, "Switch mine"), await make_shop(settings, "Switch theirs")
    _, merchant_email = await make_user(settings, mine.id, "merchant")
    _, developer_email = await make_user(settings, mine.id, "developer")

    async def enabled(endpoint_id: str) -> bool:
        async with db.connect() as conn:
            return bool(await conn.scalar(text("SELECT enabled FROM webhook_endpoints WHERE id = :id"), {"id": endpoint_id}))

    async with agent(api) as client:
        csrf = await signed_in(client, developer_email)
        page = await client.get(f"/dashboard/webhooks/{mine.endpoint_id}")
        assert 'data-testid="disable"' not in page.text
        answer = await client.post(f"/dashboard/webhooks/{mine.endpoint_id}/enabled", data={"csrf_token": csrf, "enabled": "false"},
                                   follow_redirects=False)
        assert answer.status_code == 403 and await enabled(mine.endpoint_id)
    async with agent(api) as client:
        csrf = await signed_in(client, merchant_email)
        assert 'data-testid="disable"' in (await client.get(f"/dashboard/webhooks/{mine.endpoint_id}")).text
        path = f"/dashboard/webhooks/{mine.endpoint_id}/enabled"
        assert (await client.post(path, data={"enabled": "false"}, follow_redirects=False)).status_code == 403
        answer = await client.post(path, data={"csrf_token": csrf, "enabled": "false"}, follow_redirects=False)
        assert answer.status_code == 303 and not await enabled(mine.endpoint_id)
        page = await client.get(answer.headers["location"])
        assert "Endpoint disabled." in page.text and 'data-testid="enable"' in page.text
        view = await api.get(f"/v1/webhook-endpoints/{mine.endpoint_id}", headers=bearer(mine.keys["merchant"]))
        assert view.json()["status"] == "disabled" and view.json()["disabled_reason"] == "manual"
        answer = await client.post(path, data={"csrf_token": csrf, "enabled": "true"}, follow_redirects=False)
        assert answer.status_code == 303 and await enabled(mine.endpoint_id)
        other = f"/dashboard/webhooks/{theirs.endpoint_id}/enabled"
        assert (await client.post(other, data={"csrf_token": csrf, "enabled": "false"}, follow_redirects=False)).status_code == 404
        assert await enabled(theirs.endpoint_id)


async def test_viewers_have_no_webhooks_page(api, settings):
    shop = await make_shop(settings, "Hooks viewer")
    _, email = await make_user(settings, shop.id, "viewer")
    async with agent(api) as client:
        await signed_in(client, email)
        assert 'href="/dashboard/webhooks"' not in (await client.get("/dashboard/payments")).text
        assert (await client.get("/dashboard/webhooks")).status_code == 403
        assert (await client.get(f"/dashboard/webhooks/{shop.endpoint_id}")).status_code == 403


async def test_events_and_keys_are_the_merchants_own(api, settings):
    mine, theirs = await make_shop(settings, "Keys mine"), await make_shop(settings, "Keys theirs")
    _, email = await make_user(settings, mine.id, "merchant")
    their_user, their_email = await make_user(settings, theirs.id, "merchant")
    async with agent(api) as client:
        await signed_in(client, their_email)
    async with agent(api) as client:
        await signed_in(client, email)
        page = await client.get("/dashboard/developers")
        assert page.status_code == 200
        assert mine.event_id in page.text and theirs.event_id not in page.text
        assert mine.key_id in page.text and theirs.key_id not in page.text
        assert mine.key_ids["admin"] not in page.text  # a merchant never sees admin keys (as in the API)
        # The audit log, once and in the page's body (not in its <title>): this merchant's entries
        # (its sign-in, just now), not another merchant's.
        assert "<title>Developers · EasyPay dashboard</title>" in page.text
        assert page.text.count('data-testid="audit"') == 1
        audit = page.text.split('data-testid="audit"')[1]
        assert "dashboard_sign_in" in audit and "/dashboard/sign-in" in audit
        assert their_user not in audit


async def test_revoking_a_key_is_the_apis_revocation(api, settings, db):
    mine, theirs = await make_shop(settings, "Revoke mine"), await make_shop(settings, "Revoke theirs")
    _, email = await make_user(settings, mine.id, "merchant")
    target = mine.key_ids["developer"]
    assert (await api.get("/v1/payments", headers=bearer(mine.keys["developer"]))).status_code == 200
    async with agent(api) as client:
        csrf = await signed_in(client, email)
        assert (await client.post(f"/dashboard/developers/keys/{target}/revoke", data={}, follow_redirects=False)).status_code == 403
        answer = await client.post(f"/dashboard/developers/keys/{target}/revoke", data={"csrf_token": csrf}, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == "/dashboard/developers?done=revoked"
        page = await client.get("/dashboard/developers?done=revoked")
        assert "Key revoked." in page.text
        other = theirs.key_ids["developer"]
        answer = await client.post(f"/dashboard/developers/keys/{other}/revoke", data={"csrf_token": csrf}, follow_redirects=False)
        assert answer.status_code == 404
        admin_key = mine.key_ids["admin"]
        answer = await client.post(f"/dashboard/developers/keys/{admin_key}/revoke", data={"csrf_token": csrf}, follow_redirects=False)
        assert answer.status_code == 404
    await asyncio.sleep(1.1)
    assert (await api.get("/v1/payments", headers=bearer(mine.keys["developer"]))).status_code == 401
    async with db.connect() as conn:
        revoked = dict((await conn.execute(
            text("SELECT id, revoked_at IS NOT NULL FROM api_keys WHERE id = ANY(:ids)"), {"ids": [target, other, admin_key]}
        )).all())
    assert revoked == {target: True, other: False, admin_key: False}


async def test_only_keys_manage_sees_and_revokes_keys(api, settings, db):
    shop = await make_shop(settings, "Developer keys")
    _, email = await make_user(settings, shop.id, "developer")
    async with agent(api) as client:
        csrf = await signed_in(client, email)
        page = await client.get("/dashboard/developers")
        assert page.status_code == 200 and 'data-testid="keys"' not in page.text and shop.event_id in page.text
        assert 'data-testid="audit"' not in page.text  # no audit:read
        target = shop.key_ids["viewer"]
        answer = await client.post(f"/dashboard/developers/keys/{target}/revoke", data={"csrf_token": csrf}, follow_redirects=False)
        assert answer.status_code == 403
    async with db.connect() as conn:
        assert await conn.scalar(text("SELECT revoked_at FROM api_keys WHERE id = :id"), {"id": target}) is None


async def test_a_created_key_is_shown_once_and_works(api, settings):
    shop = await make_shop(settings, "New keys")
    _, email = await make_user(settings, shop.id, "merchant")
    async with agent(api) as client:
        csrf = await signed_in(client, email)
        form = await client.get("/dashboard/developers")
        assert '<option value="admin"' not in form.text  # a merchant hands out no role above its own
        answer = await client.post("/dashboard/developers/keys", data={**key_form_of(form.text), "role": "developer", "name": "ci"},
                                   follow_redirects=False)
        assert answer.status_code == 201 and answer.headers["cache-control"] == "no-store"
        token = answer.text.split('data-testid="new-key">')[1].split("<")[0]
        assert token.startswith("ak_") and ":sk_" in token
        assert (await api.get("/v1/payments", headers=bearer(token))).status_code == 200
        key_id = token.split(":")[0]
        listed = await api.get("/v1/api-keys", params={"limit": "100"}, headers=bearer(shop.keys["merchant"]))
        [view] = [k for k in listed.json()["data"] if k["id"] == key_id.removeprefix("ak_") or k["id"] == key_id]
        assert view["role"] == "developer" and view["name"] == "ci"
        page = await client.get("/dashboard/developers")
        assert token.split(":sk_")[1] not in page.text  # never shown again
        refused = await client.post("/dashboard/developers/keys", data={**key_form_of(page.text), "role": "admin"}, follow_redirects=False)
        assert refused.status_code == 403 and "may not create admin keys" in refused.text
        assert (await client.post("/dashboard/developers/keys", data={"role": "viewer"}, follow_redirects=False)).status_code == 403
        card = await client.post("/dashboard/developers/keys", data={**key_form_of(page.text), "role": "viewer", "name": "4111111111111111"},
                                 follow_redirects=False)
        assert card.status_code == 422 and "4111111111111111" not in card.text and "name:" in card.text
    _, developer = await make_user(settings, shop.id, "developer")
    async with agent(api) as client:
        csrf = await signed_in(client, developer)
        answer = await client.post("/dashboard/developers/keys", data={"csrf_token": csrf, "role": "viewer"}, follow_redirects=False)
        assert answer.status_code == 403


async def _subscribed_endpoint(settings, db, merchant_id) -> str:
    from engine.webhooks import endpoints as webhook_endpoints
    from engine.sealing import SecretBox

    async with db.begin() as conn:
        row, _secret = await webhook_endpoints.create_endpoint(
            conn, SecretBox(settings.secret_key), merchant_id=merchant_id, url="https://hooks.example.com/all",
            event_types=["*"], description="everything",
        )
    return str(row.id)


async def test_an_event_is_sent_again_by_roles_with_webhooks_resend(api, settings, db):
    mine, theirs = await make_shop(settings, "Resend mine"), await make_shop(settings, "Resend theirs")
    endpoint_id = await _subscribed_endpoint(settings, db, mine.id)
    _, developer = await make_user(settings, mine.id, "developer")
    _, viewer = await make_user(settings, mine.id, "viewer")

    async def deliveries() -> list:
        async with db.connect() as conn:
            return list((await conn.execute(
                text("SELECT endpoint_id::text, status FROM webhook_deliveries WHERE event_id = :id"), {"id": mine.event_id}
            )).all())

    assert await deliveries() == []
    async with agent(api) as client:
        csrf = await signed_in(client, viewer)
        assert f'data-testid="resend-{mine.event_id}"' not in (await client.get("/dashboard/developers")).text
        form = {"csrf_token": csrf, "idempotency_key": "viewer-resend-1"}
        assert (await client.post(f"/dashboard/developers/events/{mine.event_id}/resend", data=form, follow_redirects=False)).status_code == 403
    async with agent(api) as client:
        csrf = await signed_in(client, developer)
        page = await client.get("/dashboard/developers")
        assert f'data-testid="resend-{mine.event_id}"' in page.text
        path = f"/dashboard/developers/events/{mine.event_id}/resend"
        assert (await client.post(path, data={"idempotency_key": "no-csrf-123"}, follow_redirects=False)).status_code == 403
        form = {"csrf_token": csrf, "idempotency_key": "dev-resend-123"}
        for _ in range(2):  # the same form twice: one round
            answer = await client.post(path, data=form, follow_redirects=False)
            assert answer.status_code == 303 and answer.headers["location"] == "/dashboard/developers?resent=1"
        assert "Event sent again: 1 delivery queued." in (await client.get(answer.headers["location"])).text
        assert await deliveries() == [(endpoint_id, "pending")]
        other = f"/dashboard/developers/events/{theirs.event_id}/resend"
        assert (await client.post(other, data={**form, "idempotency_key": "dev-resend-456"}, follow_redirects=False)).status_code == 404


async def test_merchants_rotate_the_signing_secret_developers_may_not(api, settings, db):
    from engine.sealing import SecretBox

    shop = await make_shop(settings, "Rotate mine")
    _, merchant_email = await make_user(settings, shop.id, "merchant")
    _, developer_email = await make_user(settings, shop.id, "developer")
    box = SecretBox(settings.secret_key, previous=settings.previous_secret_keys)

    async def sealed() -> tuple[str, str | None]:
        async with db.connect() as conn:
            row = (await conn.execute(text("SELECT secret_sealed, previous_secret_sealed FROM webhook_endpoints WHERE id = :id"),
                                      {"id": shop.endpoint_id})).one()
        return row.secret_sealed, row.previous_secret_sealed

    before, _ = await sealed()
    path = f"/dashboard/webhooks/{shop.endpoint_id}/rotate-secret"
    async with agent(api) as client:
        csrf = await signed_in(client, developer_email)
        assert 'data-testid="rotate-secret"' not in (await client.get(f"/dashboard/webhooks/{shop.endpoint_id}")).text
        assert (await client.post(path, data={"csrf_token": csrf})).status_code == 403
    async with agent(api) as client:
        csrf = await signed_in(client, merchant_email)
        assert 'data-testid="rotate-secret"' in (await client.get(f"/dashboard/webhooks/{shop.endpoint_id}")).text
        assert (await client.post(path, data={})).status_code == 403, "no CSRF token"
        assert (await sealed())[0] == before
        answer = await client.post(path, data={"csrf_token": csrf, "idempotency_key": "merchant-rotate-1"})
        assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
        shown = re.search(r'data-testid="new-secret">(whsec_[^<]+)<', answer.text)
        assert shown, answer.text
        now, previous = await sealed()
        assert box.open(now, context=shop.endpoint_id) == shown.group(1), "the secret shown is the one that signs"
        assert previous == before, "the old secret keeps signing for the grace period"
        later = await client.get(f"/dashboard/webhooks/{shop.endpoint_id}")
        assert shown.group(1) not in later.text, "shown once"
        missing = await client.post(f"/dashboard/webhooks/{uuid.uuid4()}/rotate-secret", data={"csrf_token": csrf, "idempotency_key": "merchant-rotate-2"})
        assert missing.status_code == 404
