"""Card numbers typed into free-text fields are refused (422 naming the field), on every write route.

Whatever a client sends as text (description, metadata keys and values, customer id, billing, a
refund reason, a webhook description, an API key's name, an e-mail, the Idempotency-Key) is stored
and shown in the clear, so a Luhn-valid card-length digit run there is refused before anything
is recorded. Ordinary numbers (Luhn-failing order numbers, dates, phone numbers, IPs, UUIDs) pass.
"""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from tests.access.world import PASSWORD, bearer, make_shop
from tests.helpers import card_payment

VISA = "4111111111111111"
#: Luhn-valid, written as people write card numbers.
CARD_TEXTS = ["4111111111111111", "4111 1111 1111 1111", "4111-1111-1111-1111", "4111.1111.1111.1111",
              "3782 822463 10005", "card 5555555555554444 please", "ref 4111111111111111110", "4222222222222"]


@pytest.fixture(scope="module")
async def shop(settings, database, redis_clean):
    return await make_shop(settings, "Card text shop")


def _payment_cases(card: str) -> list[tuple[dict, dict, str]]:
    """(body, headers, field) for POST /v1/payments."""
    return [
        (card_payment(description=f"order for {card}"), {}, "description"),
        (card_payment(metadata={"note": card}), {}, "metadata.note"),
        (card_payment(metadata={card: "x"}), {}, "metadata"),
        (card_payment(billing={"line1": card[:60]}), {}, "billing.line1"),
        (card_payment(), {"Idempotency-Key": card}, "Idempotency-Key"),
    ]


async def _payments_stored(db, shop) -> int:
    async with db.connect() as conn:
        return (await conn.execute(text("SELECT count(*) FROM payments WHERE merchant_id = :m"), {"m": shop.id})).scalar_one()


def _assert_refused(response, field: str, card: str) -> None:
    assert response.status_code == 422, (field, response.status_code, response.text)
    problem = response.json()
    assert problem["code"] == "validation_error"
    assert field in [e["field"] for e in problem["errors"]], problem
    digits = "".join(ch for ch in card if ch.isdigit())
    assert card not in response.text and digits not in response.text


@pytest.mark.parametrize("card", CARD_TEXTS)
async def test_payment_text_fields_refuse_card_numbers(api, db, shop, card):
    before = await _payments_stored(db, shop)
    for body, headers, field in _payment_cases(card):
        response = await api.post("/v1/payments", json=body, headers={**bearer(shop.keys["merchant"]), **headers})
        _assert_refused(response, field, card)
    assert await _payments_stored(db, shop) == before


async def test_customer_id_refuses_a_card_number(api, shop):
    response = await api.post("/v1/payments", json=card_payment(customer_id=VISA), headers=bearer(shop.keys["merchant"]))
    _assert_refused(response, "customer_id", VISA)


async def test_other_write_routes_refuse_card_numbers(api, db, shop):
    merchant, admin = bearer(shop.keys["merchant"]), bearer(shop.keys["admin"])
    cases = [
        ("POST", f"/v1/payments/{shop.payment_id}/refunds", {"reason": f"customer card {VISA}"}, merchant, "reason"),
        ("POST", f"/v1/payments/{shop.payment_id}/capture", {}, {**merchant, "Idempotency-Key": VISA}, "Idempotency-Key"),
        ("POST", f"/v1/payments/{shop.payment_id}/void", None, {**merchant, "Idempotency-Key": VISA}, "Idempotency-Key"),
        ("POST", "/v1/webhook-endpoints", {"url": "https://hooks.example.com/x", "events": ["*"], "description": VISA},
         merchant, "description"),
        ("POST", "/v1/webhook-endpoints", {"url": f"https://hooks.example.com/x?card={VISA}", "events": ["*"]},
         merchant, "url"),
        ("PATCH", f"/v1/webhook-endpoints/{shop.endpoint_id}", {"description": f"for {VISA}"}, merchant, "description"),
        ("POST", "/v1/api-keys", {"role": "viewer", "name": f"key {VISA}"}, admin, "name"),
        ("POST", "/v1/users", {"email": f"{VISA}@example.com", "password": PASSWORD, "role": "viewer"}, admin, "email"),
    ]
    async with db.connect() as conn:
        before = (await conn.execute(text("SELECT count(*) FROM refunds"))).scalar_one()
    for method, path, body, headers, field in cases:
        response = await api.request(method, path, json=body, headers=headers)
        _assert_refused(response, field, VISA)
    async with db.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM refunds"))).scalar_one() == before
        assert (await conn.execute(text("SELECT count(*) FROM api_keys WHERE name LIKE '%4111%'"))).scalar_one() == 0
        assert (await conn.execute(text("SELECT count(*) FROM webhook_endpoints WHERE description LIKE '%4111%'"))).scalar_one() == 0


async def test_ordinary_numbers_are_accepted(api, shop):
    body = card_payment(
        description="order 4111111111111112 of 2026-12-03",  # 16 digits failing Luhn, a date
        customer_id="cust-1234567890",
        metadata={
            "order": "12345678901234567",  # fails Luhn
            "phone": "+1 (555) 123-4567",
            "intl_phone": "+44 20 7946 0958",
            "ip": "192.168.100.100",
            "when": "2026-12-03T10:15:00Z, 1715772345.123457",
            "range": "2026-12-03 2026-12-19",
            "short": "4111 1111",
            "ref": str(uuid.UUID("41111111-1111-1111-1111-111111111111")),
        },
        billing={"line1": "12 Main Street 4", "postal_code": "75001"},
    )
    headers = {**bearer(shop.keys["merchant"]), "Idempotency-Key": "11111111-1111-4111-8111-111111111111"}
    response = await api.post("/v1/payments", json=body, headers=headers)
    assert response.status_code == 202, response.text  # and the card itself, in payment_method.card.number
