"""Bodies the server cannot read exactly are refused before anything is recorded (never a guess, never a 5xx)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from tests.helpers import card_payment

RAW = json.dumps(card_payment("12.50")).encode()


async def _post(api, merchant, body: bytes, content_type: str | None = "application/json"):
    headers = dict(merchant.headers)
    if content_type is not None:
        headers["Content-Type"] = content_type
    return await api.post("/v1/payments", content=body, headers=headers)


async def _payments(db, merchant) -> int:
    async with db.connect() as conn:
        return (await conn.execute(text("SELECT count(*) FROM payments WHERE merchant_id = :m"), {"m": merchant.id})).scalar_one()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (RAW.replace(b'"amount": "12.50"', b'"amount": "1.00", "amount": "1000.00"'), "amount"),
        (RAW.replace(b'"exp_month": 12', b'"exp_month": 12, "exp_month": 1'), "exp_month"),
        # a key written with space before its colon, and a string value holding '":', defeat no check
        (RAW.replace(b'"amount": "12.50"', b'"amount" : "1.00", "amount": "1000.00"'), "amount"),
        (RAW.replace(b'"amount": "12.50"', b'"amount": "1.00", "description": "a\\":b", "amount": "9.00"'), "amount"),
    ],
)
async def test_a_key_given_twice_is_refused_not_last_wins(api, merchant, db, body, field):
    before = await _payments(db, merchant)
    response = await _post(api, merchant, body)
    assert response.status_code == 400, response.text
    problem = response.json()
    assert problem["code"] == "duplicate_json_key" and problem["errors"][0]["field"] == field
    assert await _payments(db, merchant) == before


async def test_the_same_key_in_different_objects_is_fine(api, merchant):
    body = card_payment("2.00", metadata={"amount": "note", "currency": "x"}, description="d")
    response = await _post(api, merchant, json.dumps(body).encode())
    assert response.status_code == 202, response.text


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"capture": "false"}, "capture"),
        ({"capture": 0}, "capture"),
        ({"payment_method": {"type": "card", "card": {"number": "4111111111111111", "exp_month": "12", "exp_year": 2031, "cvc": "123"}}},
         "payment_method.card.exp_month"),
    ],
)
async def test_types_are_strict(api, merchant, db, change, field):
    before = await _payments(db, merchant)
    response = await _post(api, merchant, json.dumps({**card_payment("3.00"), **change}).encode())
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_error"
    assert [e["field"] for e in response.json()["errors"]] == [field]
    assert await _payments(db, merchant) == before


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded", "application/xml"])
async def test_a_body_that_is_not_declared_json_is_415(api, merchant, db, content_type):
    before = await _payments(db, merchant)
    response = await _post(api, merchant, RAW, content_type)
    assert response.status_code == 415, response.text
    assert response.json()["code"] == "unsupported_media_type"
    assert await _payments(db, merchant) == before


async def test_json_with_a_charset_parameter_is_json(api, merchant):
    assert (await _post(api, merchant, RAW, "application/json; charset=utf-8")).status_code == 202


@pytest.mark.parametrize(
    "body",
    [RAW.replace(b'"USD"', b'"US\xff"'), RAW[:-1] + b', "description": "caf\xc3"}', b"\xfe\xff{}"],
)
async def test_invalid_utf8_is_400(api, merchant, db, body):
    before = await _payments(db, merchant)
    response = await _post(api, merchant, body)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "invalid_json"
    assert await _payments(db, merchant) == before


async def test_nul_in_a_query_parameter_is_422_naming_it(api, merchant):
    response = await api.get("/v1/payments", params={"customer_id": "cus\x00_1"}, headers=merchant.headers)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "customer_id"
