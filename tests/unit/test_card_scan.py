"""api.validation.may_hold_card_text: the raw-bytes scan that lets an ordinary body skip the exact
walk over its texts. It may say "maybe" too often, never "no" for a body the exact check refuses."""

from __future__ import annotations

import json

import msgspec
import pytest

from api.validation import card_number_problems, may_hold_card_text
from tests.helpers import card_payment, opaque_payment

VISA = "4111111111111111"
CARD_TEXTS = [VISA, "4111 1111 1111 1111", "4111-1111-1111-1111", "4111.1111.1111.1111", "3782 822463 10005",
              "card 5555555555554444 please", "ref 4111111111111111110", "4222222222222"]


def _bodies_with_a_card(card: str) -> list[bytes]:
    plain = [
        card_payment(description=f"order for {card}"),
        card_payment(description=card),  # the same text as the card number field, exactly
        card_payment(number=card, description=card) if card.isdigit() else card_payment(description=card),
        card_payment(metadata={"note": card}),
        card_payment(metadata={card: "x"}),
        card_payment(billing={"line1": card[:60]}),
        opaque_payment(description=f"for {card}"),
        {"url": "https://example.com/hook", "events": ["*"], "description": card},
        {"amount": "1.00", "reason": card},
        {"name": card, "nested": [{"deeper": [card]}]},
    ]
    bodies = [json.dumps(b).encode() for b in plain]
    # Escaped forms: \u escapes can spell digits and separators, other escapes sit next to them.
    bodies.append(json.dumps(card_payment(description=f"x {card}"), ensure_ascii=True).replace("4", "\\u0034", 1).encode())
    bodies.append(json.dumps(card_payment(description=f'"{card}"')).encode())
    bodies.append(json.dumps(card_payment(description=card)).replace(": ", ":").encode())
    return bodies


@pytest.mark.parametrize("card", CARD_TEXTS)
def test_a_body_the_exact_check_refuses_is_never_waved_through(card):
    for body in _bodies_with_a_card(card):
        decoded = msgspec.json.decode(body)
        assert card_number_problems(decoded, None), body  # the case really holds a card in text
        assert may_hold_card_text(body, decoded), body


BENIGN = [
    card_payment(),
    card_payment(description="Order 2026-05-15, phone +1 555 0100", metadata={"order_id": "A-1001", "channel": "web"},
                 billing={"first_name": "Ada", "postal_code": "62701"}, customer_id="cus_1"),
    opaque_payment(),
    {"amount": "3.00", "reason": "requested_by_customer"},
]


@pytest.mark.parametrize("body", BENIGN, ids=range(len(BENIGN)))
def test_an_ordinary_body_takes_the_cheap_path(body):
    raw = json.dumps(body).encode()
    decoded = msgspec.json.decode(raw)
    assert not card_number_problems(decoded, None)
    assert not may_hold_card_text(raw, decoded)


def test_a_luhn_failing_number_in_text_costs_the_detector_only():
    body = json.dumps(card_payment(description="order 4111111111111112")).encode()
    assert not may_hold_card_text(body, msgspec.json.decode(body))
