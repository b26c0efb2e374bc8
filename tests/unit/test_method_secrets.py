"""A sealed payment method (real AES-GCM): its expiry is authenticated, so editing it is refused."""

from __future__ import annotations

import base64
import uuid

import pytest

from engine.method_secrets import open_method, seal_method
from engine.processor import Card
from engine.sealing import SealExpired, SealInvalid, Sealer

SEALER = Sealer(b"k" * 16 + b"e" * 16)
CARD = Card(number="4111111111111111", exp_month=12, exp_year=2031, cvc="123")


def _with_expiry(token: str, expiry_s: int) -> str:
    body = token[3:]
    raw = bytearray(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    raw[:8] = expiry_s.to_bytes(8, "big")
    return "v1." + base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()


def test_a_sealed_method_opens_for_its_payment():
    payment_id = uuid.uuid4()
    assert open_method(SEALER, payment_id, seal_method(SEALER, payment_id, CARD, ttl_s=60)) == CARD


@pytest.mark.parametrize("shift_s", [10**6, -1])
def test_an_edited_expiry_is_refused(shift_s):
    payment_id = uuid.uuid4()
    token = seal_method(SEALER, payment_id, CARD, ttl_s=60)
    body = token[3:]
    expiry_s = int.from_bytes(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))[:8], "big")
    with pytest.raises(SealInvalid):
        open_method(SEALER, payment_id, _with_expiry(token, expiry_s + shift_s))


def test_an_expired_method_is_expired_not_invalid():
    payment_id = uuid.uuid4()
    token = seal_method(SEALER, payment_id, CARD, ttl_s=1)
    body = token[3:]
    expiry_s = int.from_bytes(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))[:8], "big")
    with pytest.raises(SealExpired):
        SEALER.open(token, context=str(payment_id), now_s=expiry_s)
