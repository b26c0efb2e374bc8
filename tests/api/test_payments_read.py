"""Reading payments: by id (cache, then PostgreSQL), lists with keyset pagination and filters."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from engine.db import payments as repo
from engine.payments import NewPayment, accept_payment
from engine.states import Trigger
from tests.conftest import make_merchant
from tests.helpers import card_payment


async def _record(db, merchant, *, amount_minor=1000, customer_id=None, claim=False) -> str:
    """Record a payment without queueing it (it stays where the test puts it)."""
    async with db.begin() as conn:
        row = await accept_payment(
            conn,
            NewPayment(
                merchant_id=merchant.id,
                amount_minor=amount_minor,
                currency="USD",
                capture=True,
                payment_method_type="card",
                card_brand="visa",
                card_last4="1111",
                card_exp_month=12,
                card_exp_year=2031,
                customer_id=customer_id,
            ),
        )
        if claim:
            await repo.transition(conn, row.id, Trigger.CLAIM)
    return str(row.id)


async def test_get_returns_the_payment_object(api, merchant, db):
    payment_id = await _record(db, merchant, amount_minor=1234)
    response = await api.get(f"/v1/payments/{payment_id}", headers=merchant.headers)
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == payment_id and body["object"] == "payment"
    assert body["amount"] == "12.34" and body["amount_refunded"] == "0.00"
    assert set(body) >= {
        "id", "object", "status", "amount", "currency", "capture", "amount_captured", "amount_refunded",
        "card", "processor", "failure", "customer_id", "description", "metadata", "created_at", "updated_at",
    }


async def test_get_is_served_from_the_cache_once_warm(api, merchant, db, settings):
    import redis.asyncio as aioredis

    payment_id = await _record(db, merchant)
    first = await api.get(f"/v1/payments/{payment_id}", headers=merchant.headers)
    client = aioredis.Redis.from_url(settings.redis.cache_url)
    key = f"{settings.redis.key_prefix}:payment:{payment_id}"
    assert await client.hget(key, "m") == str(merchant.id).encode()
    # Change the snapshot behind the API's back: a cache hit must serve it.
    await client.hset(key, "b", first.content.replace(b'"pending"', b'"processing"'))
    second = await api.get(f"/v1/payments/{payment_id}", headers=merchant.headers)
    assert second.json()["status"] == "processing"
    await client.delete(key)
    third = await api.get(f"/v1/payments/{payment_id}", headers=merchant.headers)
    assert third.json()["status"] == "pending"
    await client.aclose()


async def test_another_merchants_payment_is_404_everywhere(api, merchant, settings, db):
    other = await make_merchant(settings, "Other shop")
    payment_id = await _record(db, other)
    response = await api.get(f"/v1/payments/{payment_id}", headers=merchant.headers)
    assert response.status_code == 404
    assert response.json()["code"] == "payment_not_found"
    listed = (await api.get("/v1/payments", headers=merchant.headers)).json()
    assert payment_id not in [p["id"] for p in listed["data"]]
    # The owner still sees it.
    assert (await api.get(f"/v1/payments/{payment_id}", headers=other.headers)).status_code == 200


async def test_unknown_and_malformed_ids_are_404(api, merchant):
    for payment_id in (str(uuid.uuid4()), "not-a-uuid"):
        response = await api.get(f"/v1/payments/{payment_id}", headers=merchant.headers)
        assert response.status_code == 404


async def test_list_is_newest_first_with_keyset_pagination(api, settings, db):
    shop = await make_merchant(settings, "Paginated shop")
    ids = [await _record(db, shop, amount_minor=100 + i) for i in range(7)]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 3, **({"starting_after": cursor} if cursor else {})}
        page = (await api.get("/v1/payments", params=params, headers=shop.headers)).json()
        pages += 1
        assert page["object"] == "list"
        seen += [p["id"] for p in page["data"]]
        if not page["has_more"]:
            break
        cursor = page["data"][-1]["id"]
    assert pages == 3
    assert seen == list(reversed(ids))


async def test_list_filters(api, settings, db):
    shop = await make_merchant(settings, "Filtered shop")
    a = await _record(db, shop, customer_id="cus_a")
    b = await _record(db, shop, customer_id="cus_b", claim=True)

    async def ids(**params):
        response = await api.get("/v1/payments", params=params, headers=shop.headers)
        assert response.status_code == 200, response.text
        return [p["id"] for p in response.json()["data"]]

    assert await ids(customer_id="cus_a") == [a]
    assert await ids(status="processing") == [b]
    assert await ids(status="pending") == [a]
    future = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)).isoformat()
    assert await ids(created_gte=future) == []
    assert set(await ids(created_lt=future)) == {a, b}
    assert await ids(created_gte="0") != []


@pytest.mark.parametrize(
    "params,field",
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"status": "paid"}, "status"),
        ({"starting_after": "nope"}, "starting_after"),
        ({"starting_after": str(uuid.uuid4())}, "starting_after"),
        ({"created_gte": "yesterday"}, "created_gte"),
        ({"created_lt": "2026-01-01T00:00:00"}, "created_lt"),
    ],
)
async def test_list_rejects_bad_parameters(api, merchant, params, field):
    response = await api.get("/v1/payments", params=params, headers=merchant.headers)
    assert 400 <= response.status_code < 500
    assert field in [e["field"] for e in response.json()["errors"]]


async def test_wait_parameter_is_bounded(api, merchant, db):
    payment_id = await _record(db, merchant)
    response = await api.get(f"/v1/payments/{payment_id}", params={"wait": 31}, headers=merchant.headers)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "wait"


async def test_wait_returns_when_the_status_changes(api, merchant, db, settings):
    import asyncio
    import time

    import redis.asyncio as aioredis

    from engine.cache import PaymentCache
    from engine.db.session import make_engine
    from engine.views import payment_view

    payment_id = await _record(db, merchant)

    async def change() -> None:
        engine = make_engine(settings.database)
        async with engine.begin() as conn:
            await repo.transition(conn, uuid.UUID(payment_id), Trigger.CLAIM)
            row = await repo.transition(conn, uuid.UUID(payment_id), Trigger.AUTHORIZE)
        await engine.dispose()
        client = aioredis.Redis.from_url(settings.redis.cache_url)
        cache = PaymentCache(client, prefix=settings.redis.key_prefix, ttl_s=60)
        await cache.put(payment_view(row), version=row.version, merchant_id=merchant.id)
        await client.aclose()

    def change_soon() -> None:  # a separate thread and loop: the test client blocks this loop
        time.sleep(0.5)
        asyncio.run(change())

    loop = asyncio.get_running_loop()
    changer = loop.run_in_executor(None, change_soon)
    started = time.monotonic()
    response = await api.get(f"/v1/payments/{payment_id}", params={"wait": 10}, headers=merchant.headers)
    elapsed = time.monotonic() - started
    await changer
    assert response.json()["status"] == "authorized"
    assert elapsed < 5, "the long poll should end when the payment changes, not at the deadline"


async def test_post_answers_202_with_location_and_pending(api, merchant):
    response = await api.post("/v1/payments", json=card_payment("5.00", metadata={"order": "A-1"}), headers=merchant.headers)
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "pending"
    assert body["metadata"] == {"order": "A-1"}
    assert response.headers["location"] == f"/v1/payments/{body['id']}"
    assert response.headers["x-request-id"]


async def _settle_to(db, settings, merchant, payment_id: str, *triggers: Trigger) -> None:
    import redis.asyncio as aioredis

    from engine.cache import PaymentCache
    from engine.db.session import make_engine
    from engine.views import payment_view

    engine = make_engine(settings.database)
    async with engine.begin() as conn:
        for trigger in triggers:
            row = await repo.transition(conn, uuid.UUID(payment_id), trigger)
    await engine.dispose()
    client = aioredis.Redis.from_url(settings.redis.cache_url)
    await PaymentCache(client, prefix=settings.redis.key_prefix, ttl_s=60).put(
        payment_view(row), version=row.version, merchant_id=merchant.id
    )
    await client.aclose()


async def test_wait_answers_at_once_when_nothing_is_in_flight(api, merchant, db, settings):
    import time

    payment_id = await _record(db, merchant)
    await _settle_to(db, settings, merchant, payment_id, Trigger.CLAIM, Trigger.AUTHORIZE)
    started = time.monotonic()
    response = await api.get(f"/v1/payments/{payment_id}", params={"wait": 5}, headers=merchant.headers)
    assert response.json()["status"] == "authorized"
    assert response.json()["pending_operation"] is None and response.json()["settled_at"] is None
    assert time.monotonic() - started < 4, "an authorized payment with nothing queued is not held"


async def test_wait_with_the_known_status_holds_until_it_changes(api, merchant, db, settings):
    import asyncio
    import time

    payment_id = await _record(db, merchant)
    await _settle_to(db, settings, merchant, payment_id, Trigger.CLAIM, Trigger.AUTHORIZE)
    # A status other than the one the payment has: answered at once
    other = await api.get(f"/v1/payments/{payment_id}", params={"wait": 5, "status": "pending"}, headers=merchant.headers)
    assert other.json()["status"] == "authorized"

    def void_soon() -> None:
        time.sleep(1.0)
        asyncio.run(_settle_to(db, settings, merchant, payment_id, Trigger.VOID))

    changer = asyncio.get_running_loop().run_in_executor(None, void_soon)
    started = time.monotonic()
    held = await api.get(f"/v1/payments/{payment_id}", params={"wait": 10, "status": "authorized"}, headers=merchant.headers)
    elapsed = time.monotonic() - started
    await changer
    assert held.json()["status"] == "voided"
    assert 0.8 < elapsed < 8, "held while the status was the one the client knew, answered when it changed"
    bad = await api.get(f"/v1/payments/{payment_id}", params={"wait": 1, "status": "nonsense"}, headers=merchant.headers)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "status"
