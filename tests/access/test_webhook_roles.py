"""A developer key sees webhook endpoints and their deliveries and may send events again, but
cannot point the merchant's events elsewhere or change how they are signed (no webhooks:manage)."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import text

from tests.access.world import bearer, make_endpoint, make_shop


@pytest.fixture(scope="module")
async def shop(settings, database, redis_clean):
    return await make_shop(settings, "Webhook roles shop")


async def _stored(db, endpoint_id: str):
    async with db.connect() as conn:
        return (await conn.execute(
            text("SELECT url, secret_sealed, previous_secret_expires_at FROM webhook_endpoints WHERE id = :id"),
            {"id": uuid.UUID(endpoint_id)},
        )).one()


async def test_a_developer_cannot_repoint_rotate_delete_or_create(api, settings, shop, db):
    endpoint_id = await make_endpoint(settings, shop.id)
    before = await _stored(db, endpoint_id)
    developer = bearer(shop.keys["developer"])
    base = f"/v1/webhook-endpoints/{endpoint_id}"
    refused = [
        await api.patch(base, json={"url": "https://attacker.example/hook"}, headers=developer),
        await api.patch(base, json={"enabled": False}, headers=developer),
        await api.post(f"{base}/rotate-secret", json={"grace_period_s": 0}, headers=developer),
        await api.post(f"{base}/rotate-secret", json={}, headers=developer),
        await api.delete(base, headers=developer),
        await api.post("/v1/webhook-endpoints", json={"url": "https://attacker.example/new", "events": ["*"]}, headers=developer),
    ]
    for response in refused:
        assert response.status_code == 403, (response.request.method, response.request.url, response.text)
        assert response.json()["code"] == "forbidden"
    # Nothing changed: same address, same secret, no rotation under way.
    assert await _stored(db, endpoint_id) == before


async def test_a_developer_reads_and_resends(api, settings, shop):
    developer = bearer(shop.keys["developer"])
    base = f"/v1/webhook-endpoints/{shop.endpoint_id}"
    assert (await api.get("/v1/webhook-endpoints", headers=developer)).status_code == 200
    assert (await api.get(base, headers=developer)).status_code == 200
    assert (await api.get(f"{base}/deliveries", headers=developer)).status_code == 200
    assert (await api.post(f"/v1/events/{shop.event_id}/resend", json={}, headers=developer)).status_code == 202
    since = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)).isoformat()
    assert (await api.post(f"{base}/recover", json={"since": since}, headers=developer)).status_code == 202


async def test_a_merchant_key_rotates_and_the_old_secret_keeps_its_grace(api, settings, shop, db):
    endpoint_id = await make_endpoint(settings, shop.id)
    before = await _stored(db, endpoint_id)
    rotated = await api.post(f"/v1/webhook-endpoints/{endpoint_id}/rotate-secret", json={}, headers=bearer(shop.keys["merchant"]))
    assert rotated.status_code == 200, rotated.text
    after = await _stored(db, endpoint_id)
    assert after.secret_sealed != before.secret_sealed
    grace = after.previous_secret_expires_at - dt.datetime.now(dt.timezone.utc)
    assert dt.timedelta(seconds=settings.webhooks.rotation_grace_s - 60) < grace <= dt.timedelta(seconds=settings.webhooks.rotation_grace_s)
