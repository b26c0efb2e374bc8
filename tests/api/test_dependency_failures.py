"""A broken Redis never loses an accepted payment: no 202 without a queued job, and reads fall back."""

from __future__ import annotations

import dataclasses

from litestar.testing import AsyncTestClient
from sqlalchemy import text

from api.app import create_app
from tests.conftest import free_port
from tests.helpers import card_payment


def _app_with(settings, **redis_changes):
    broken = dataclasses.replace(settings, redis=dataclasses.replace(settings.redis, **redis_changes))
    return create_app(broken, configure_logs=False)


async def _count(db, merchant) -> int:
    async with db.connect() as conn:
        return (
            await conn.execute(text("SELECT count(*) FROM payments WHERE merchant_id = :m"), {"m": merchant.id})
        ).scalar_one()


async def test_broker_down_means_503_and_nothing_recorded(settings, merchant, db, api):
    headers = {**merchant.headers, "Idempotency-Key": "broker-outage-1"}
    async with AsyncTestClient(app=_app_with(settings, broker_url=f"redis://127.0.0.1:{free_port()}/1")) as client:
        response = await client.post("/v1/payments", json=card_payment("19.00"), headers=headers)
    assert response.status_code == 503
    assert response.json()["code"] == "queue_unavailable"
    assert int(response.headers["Retry-After"]) >= 1, "every 503 says when to come back"
    assert await _count(db, merchant) == 0
    # The client retries with the same key once the broker is back: accepted, once.
    retried = await api.post("/v1/payments", json=card_payment("19.00"), headers=headers)
    assert retried.status_code == 202
    assert "idempotent-replayed" not in retried.headers
    assert await _count(db, merchant) == 1


async def test_cache_down_still_accepts_and_reads_from_postgresql(settings, merchant, db):
    async with AsyncTestClient(app=_app_with(settings, cache_url=f"redis://127.0.0.1:{free_port()}/0")) as client:
        accepted = await client.post("/v1/payments", json=card_payment("21.00"), headers=merchant.headers)
        assert accepted.status_code == 202
        read = await client.get(f"/v1/payments/{accepted.json()['id']}", headers=merchant.headers)
    assert read.status_code == 200
    assert read.json()["amount"] == "21.00"
