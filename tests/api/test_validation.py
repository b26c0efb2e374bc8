"""Bad input gets a 4xx problem naming the field, and records nothing."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from sqlalchemy import text

from tests.helpers import card_payment, opaque_payment


async def _payment_count(db, merchant) -> int:
    async with db.connect() as conn:
        return (
            await conn.execute(text("SELECT count(*) FROM payments WHERE merchant_id = :m"), {"m": merchant.id})
        ).scalar_one()


def _with(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    body = copy.deepcopy(body)
    *parents, leaf = path.split(".")
    node = body
    for key in parents:
        node = node[key]
    if value is _DELETE:
        del node[leaf]
    else:
        node[leaf] = value
    return body


_DELETE = object()
BASE = card_payment("10.00")

CASES = [
    # (description, body, expected status, field that must be named)
    ("NUL in description", _with(BASE, "description", "order\x00 1"), 422, "description"),
    ("NUL in a metadata value", _with(BASE, "metadata", {"order": "a\x00b"}), 422, "metadata.order"),
    ("NUL in a metadata key", _with(BASE, "metadata", {"or\x00der": "1"}), 422, "metadata"),
    ("NUL in billing", _with(BASE, "billing", {"city": "Par\x00is"}), 422, "billing.city"),
    ("amount as a float", _with(BASE, "amount", 10.5), 422, "amount"),
    ("amount negative", _with(BASE, "amount", "-1.00"), 422, "amount"),
    ("amount zero", _with(BASE, "amount", "0.00"), 422, "amount"),
    ("amount too many decimals", _with(BASE, "amount", "10.005"), 422, "amount"),
    ("amount exponent form", _with(BASE, "amount", "1e3"), 422, "amount"),
    ("amount with JPY decimals", _with(_with(BASE, "currency", "JPY"), "amount", "100.5"), 422, "amount"),
    ("currency lower case", _with(BASE, "currency", "usd"), 422, "currency"),
    ("currency unknown", _with(BASE, "currency", "ZZZ"), 422, "currency"),
    ("currency with 3 decimals", _with(_with(BASE, "currency", "KWD"), "amount", "10.000"), 422, "currency"),
    ("currency the processor does not take", _with(_with(BASE, "currency", "JPY"), "amount", "1000"), 422, "currency"),
    ("amount missing", _with(BASE, "amount", _DELETE), 422, "amount"),
    ("unknown top-level field", _with(BASE, "surprise", 1), 422, "surprise"),
    ("unknown card field", _with(BASE, "payment_method.card.pin", "1234"), 422, "payment_method.card.pin"),
    ("card number fails Luhn", _with(BASE, "payment_method.card.number", "4111111111111112"), 422, "payment_method.card.number"),
    ("card number too short", _with(BASE, "payment_method.card.number", "411111111"), 422, "payment_method.card.number"),
    ("card number with spaces", _with(BASE, "payment_method.card.number", "4111 1111 1111 1111"), 422, "payment_method.card.number"),
    ("expiry in the past", _with(BASE, "payment_method.card.exp_year", 2020), 422, "payment_method.card.exp_year"),
    ("expiry month 13", _with(BASE, "payment_method.card.exp_month", 13), 422, "payment_method.card.exp_month"),
    ("cvc too long for visa", _with(BASE, "payment_method.card.cvc", "1234"), 422, "payment_method.card.cvc"),
    ("cvc too short for amex", card_payment(number="370000000000002", cvc="123"), 422, "payment_method.card.cvc"),
    ("cvc not digits", _with(BASE, "payment_method.card.cvc", "12a"), 422, "payment_method.card.cvc"),
    ("card missing for type card", _with(BASE, "payment_method.card", _DELETE), 422, "payment_method.card"),
    ("unknown method type", _with(BASE, "payment_method.type", "bitcoin"), 422, "payment_method.type"),
    ("opaque bad descriptor", _with(opaque_payment(), "payment_method.opaque_data.descriptor", "X"), 422, "payment_method.opaque_data.descriptor"),
    ("opaque missing value", _with(opaque_payment(), "payment_method.opaque_data.value", _DELETE), 422, "payment_method.opaque_data.value"),
    ("opaque with a card too", _with(opaque_payment(), "payment_method.card", BASE["payment_method"]["card"]), 422, "payment_method.card"),
    ("metadata too many keys", _with(BASE, "metadata", {f"k{i}": "v" for i in range(51)}), 422, "metadata"),
    ("metadata value too long", _with(BASE, "metadata", {"k": "v" * 501}), 422, "metadata.k"),
    ("metadata key too long", _with(BASE, "metadata", {"k" * 41: "v"}), 422, "metadata"),
    ("metadata non-string value", _with(BASE, "metadata", {"k": 1}), 422, "metadata"),
    ("customer id too long", _with(BASE, "customer_id", "c" * 21), 422, "customer_id"),
    ("billing zip too long", _with(BASE, "billing", {"postal_code": "1" * 21}), 422, "billing.postal_code"),
    ("description too long", _with(BASE, "description", "d" * 256), 422, "description"),
]


@pytest.mark.parametrize("description,body,status,field", CASES, ids=[c[0] for c in CASES])
async def test_invalid_payment_is_refused_naming_the_field_and_records_nothing(
    api, merchant, db, description, body, status, field
):
    before = await _payment_count(db, merchant)
    response = await api.post("/v1/payments", json=body, headers=merchant.headers)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["code"] == "validation_error"
    assert problem["status"] == status
    assert problem["request_id"] == response.headers["x-request-id"]
    assert field in [e["field"] for e in problem["errors"]], problem
    number = body.get("payment_method", {}).get("card", {}).get("number")
    if number and len(number) > 12:
        assert number not in response.text
    assert await _payment_count(db, merchant) == before


async def test_malformed_json_is_a_400_problem(api, merchant, db):
    before = await _payment_count(db, merchant)
    response = await api.post(
        "/v1/payments", content=b'{"amount": "1.00",', headers={**merchant.headers, "content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_json"
    assert await _payment_count(db, merchant) == before


async def test_oversized_body_is_413(api, merchant):
    body = card_payment("1.00", description="x" * 70_000)
    response = await api.post("/v1/payments", json=body, headers=merchant.headers)
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"


async def test_several_problems_are_reported_together(api, merchant):
    body = _with(_with(BASE, "payment_method.card.cvc", "1"), "payment_method.card.exp_month", 0)
    response = await api.post("/v1/payments", json=body, headers=merchant.headers)
    fields = {e["field"] for e in response.json()["errors"]}
    assert {"payment_method.card.cvc", "payment_method.card.exp_month"} <= fields


async def test_a_currency_outside_the_operators_list_is_refused_at_accept(settings, merchant):
    import dataclasses

    from litestar.testing import AsyncTestClient

    from api.app import create_app

    euro_only = dataclasses.replace(settings, processor=dataclasses.replace(settings.processor, currencies=frozenset({"EUR"})))
    async with AsyncTestClient(app=create_app(euro_only, configure_logs=False)) as client:
        refused = await client.post("/v1/payments", json=card_payment("4.00"), headers=merchant.headers)
        accepted = await client.post("/v1/payments", json=card_payment("4.00", currency="EUR"), headers=merchant.headers)
    assert refused.status_code == 422 and [e["field"] for e in refused.json()["errors"]] == ["currency"]
    assert "EUR" in refused.json()["errors"][0]["message"]
    assert accepted.status_code == 202, accepted.text
