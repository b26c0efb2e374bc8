"""``Idempotency-Key`` on POST /v1/payments: replay, reuse with another body, key in use."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import text

from tests.helpers import card_payment


async def _count(db, merchant) -> int:
    async with db.connect() as conn:
        return (
            await conn.execute(text("SELECT count(*) FROM payments WHERE merchant_id = :m"), {"m": merchant.id})
        ).scalar_one()


async def test_same_key_same_body_replays_the_first_response(api, merchant, db):
    key = f"order-{uuid.uuid4()}"
    headers = {**merchant.headers, "Idempotency-Key": key}
    first = await api.post("/v1/payments", json=card_payment("7.00"), headers=headers)
    # Same JSON with another key order and spacing is the same request.
    second = await api.post(
        "/v1/payments",
        content=b'{"currency":"USD","amount":"7.00","capture":true,"payment_method":{"type":"card","card":'
        b'{"cvc":"123","exp_year":2031,"exp_month":12,"number":"4111111111111111"}}}',
        headers={**headers, "content-type": "application/json"},
    )
    assert first.status_code == second.status_code == 202
    assert second.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert second.json() == first.json()
    assert second.headers["location"] == first.headers["location"]
    assert await _count(db, merchant) == 1


async def test_same_key_different_body_is_422(api, merchant, db):
    headers = {**merchant.headers, "Idempotency-Key": "k-reuse"}
    assert (await api.post("/v1/payments", json=card_payment("7.00"), headers=headers)).status_code == 202
    response = await api.post("/v1/payments", json=card_payment("8.00"), headers=headers)
    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"
    assert await _count(db, merchant) == 1


async def test_keys_are_scoped_per_merchant(api, merchant, settings, db):
    from tests.conftest import make_merchant

    other = await make_merchant(settings, "Other")
    body = card_payment("3.00")
    a = await api.post("/v1/payments", json=body, headers={**merchant.headers, "Idempotency-Key": "shared"})
    b = await api.post("/v1/payments", json=body, headers={**other.headers, "Idempotency-Key": "shared"})
    assert a.status_code == b.status_code == 202
    assert a.json()["id"] != b.json()["id"]


async def test_concurrent_requests_with_one_key_create_one_payment(api, merchant, db):
    headers = {**merchant.headers, "Idempotency-Key": f"burst-{uuid.uuid4()}"}
    responses = await asyncio.gather(*(api.post("/v1/payments", json=card_payment("6.00"), headers=headers) for _ in range(8)))
    accepted = [r for r in responses if r.status_code == 202]
    assert accepted and all(r.status_code in (202, 409) for r in responses)
    assert len({r.json()["id"] for r in accepted}) == 1
    assert await _count(db, merchant) == 1


async def test_key_held_by_an_unfinished_request_is_409(api, merchant, db):
    key = f"held-{uuid.uuid4()}"
    # Another request's transaction holds the key (inserted, not yet committed).
    async with db.connect() as conn:
        tx = await conn.begin()
        await conn.execute(
            text(
                "INSERT INTO idempotency_keys (merchant_id, key, request_hash, response_status, response_body) "
                "VALUES (:m, :k, '\\x00', 0, '')"
            ),
            {"m": merchant.id, "k": key},
        )
        response = await api.post("/v1/payments", json=card_payment("2.00"), headers={**merchant.headers, "Idempotency-Key": key})
        await tx.rollback()
    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_key_in_use"
    assert await _count(db, merchant) == 0


async def test_validation_failures_are_not_stored_under_the_key(api, merchant):
    headers = {**merchant.headers, "Idempotency-Key": "fix-and-retry"}
    bad = await api.post("/v1/payments", json=card_payment("1.001"), headers=headers)
    assert bad.status_code == 422
    good = await api.post("/v1/payments", json=card_payment("1.00"), headers=headers)
    assert good.status_code == 202


async def test_overlong_key_is_rejected(api, merchant):
    response = await api.post("/v1/payments", json=card_payment("1.00"), headers={**merchant.headers, "Idempotency-Key": "k" * 256})
    assert response.status_code in (400, 422)
    assert "Idempotency-Key" in str(response.json()["errors"]) or "idempotency" in response.text.lower()


async def test_a_key_is_the_callers_on_every_route_not_the_target_merchants(api, settings, db):
    """An admin's Idempotency-Key, used for a payment on a merchant's behalf, lives in the admin's
    namespace (as on capture, void, refunds and webhooks): the merchant's own use of the same key
    is its own request, never a replay of (or a conflict with) the admin's."""
    from tests.conftest import make_merchant
    from tests.helpers import card_payment

    admin = await make_merchant(settings, "Platform", role="admin")
    shop = await make_merchant(settings, "Shop B")
    key = f"shared-{uuid.uuid4().hex[:8]}"
    by_admin = await api.post(
        "/v1/payments", json=card_payment("7.00", merchant_id=str(shop.id)), headers={**admin.headers, "Idempotency-Key": key}
    )
    assert by_admin.status_code == 202, by_admin.text
    by_shop = await api.post("/v1/payments", json=card_payment("8.00"), headers={**shop.headers, "Idempotency-Key": key})
    assert by_shop.status_code == 202 and "idempotent-replayed" not in by_shop.headers, by_shop.text
    assert by_shop.json()["id"] != by_admin.json()["id"]
    again = await api.post(
        "/v1/payments", json=card_payment("7.00", merchant_id=str(shop.id)), headers={**admin.headers, "Idempotency-Key": key}
    )
    assert again.headers.get("idempotent-replayed") == "true" and again.json()["id"] == by_admin.json()["id"]
