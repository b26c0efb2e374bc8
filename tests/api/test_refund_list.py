"""``GET /v1/payments/{id}/refunds`` pages like every other list: ``limit`` 1-100 (default 20),
``starting_after`` a refund id, newest first, ``has_more``."""

from __future__ import annotations

import uuid

import pytest

from engine.db.session import make_engine
from engine.lifecycle import request_refund
from tests.access.world import bearer, make_processed_payment, make_shop


@pytest.fixture(scope="module")
async def refunded(settings, database, redis_clean):
    """A settled 12.50 payment with five 1.00 refunds (ids newest first)."""
    shop = await make_shop(settings, "Refund list shop")
    payment_id = await make_processed_payment(settings, shop.id, captured=True)
    engine = make_engine(settings.database)
    ids = []
    try:
        for _ in range(5):
            async with engine.begin() as conn:
                ids.append(str((await request_refund(conn, shop.id, uuid.UUID(payment_id), "1.00")).id))
    finally:
        await engine.dispose()
    return shop, payment_id, ids[::-1]


async def test_refunds_are_keyset_paginated_newest_first(api, refunded):
    shop, payment_id, newest_first = refunded
    seen, pages, after = [], [], None
    while True:
        url = f"/v1/payments/{payment_id}/refunds?limit=2" + (f"&starting_after={after}" if after else "")
        page = (await api.get(url, headers=bearer(shop.keys["viewer"]))).json()
        pages.append((len(page["data"]), page["has_more"]))
        seen += [r["id"] for r in page["data"]]
        if not page["has_more"]:
            break
        after = page["data"][-1]["id"]
    assert pages == [(2, True), (2, True), (1, False)]
    assert seen == newest_first


async def test_default_page_and_bounds(api, refunded):
    shop, payment_id, newest_first = refunded
    whole = (await api.get(f"/v1/payments/{payment_id}/refunds", headers=bearer(shop.keys["viewer"]))).json()
    assert [r["id"] for r in whole["data"]] == newest_first and whole["has_more"] is False
    for query, field in [("limit=0", "limit"), ("limit=101", "limit"), ("limit=abc", "limit"),
                         ("starting_after=nope", "starting_after"), (f"starting_after={uuid.uuid4()}", "starting_after")]:
        response = await api.get(f"/v1/payments/{payment_id}/refunds?{query}", headers=bearer(shop.keys["viewer"]))
        assert response.status_code == 422, (query, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert field in [e["field"] for e in response.json()["errors"]], (query, response.text)


async def test_a_cursor_of_another_payment_is_refused(api, settings, refunded):
    shop, payment_id, _ = refunded
    other = await make_processed_payment(settings, shop.id, captured=True)
    engine = make_engine(settings.database)
    try:
        async with engine.begin() as conn:
            foreign = str((await request_refund(conn, shop.id, uuid.UUID(other), "1.00")).id)
    finally:
        await engine.dispose()
    response = await api.get(f"/v1/payments/{payment_id}/refunds?starting_after={foreign}", headers=bearer(shop.keys["viewer"]))
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "starting_after"
