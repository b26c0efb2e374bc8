"""The secret part of a payment method (card number, CVC, Accept.js nonce) travels only inside
the queue message, sealed with AES-GCM (``engine.sealing``) and bound to one payment id."""

from __future__ import annotations

import uuid

import msgspec

from engine.processor import Card, OpaqueData
from engine.sealing import Sealer


class _SealedCard(msgspec.Struct, tag="card"):
    number: str
    exp_month: int
    exp_year: int
    cvc: str | None = None


class _SealedOpaque(msgspec.Struct, tag="opaque"):
    descriptor: str
    value: str


_decoder = msgspec.json.Decoder(_SealedCard | _SealedOpaque)


def seal_method(sealer: Sealer, payment_id: uuid.UUID, method: Card | OpaqueData, *, ttl_s: int) -> str:
    if isinstance(method, Card):
        payload: _SealedCard | _SealedOpaque = _SealedCard(
            number=method.number, exp_month=method.exp_month, exp_year=method.exp_year, cvc=method.cvc
        )
    else:
        payload = _SealedOpaque(descriptor=method.descriptor, value=method.value)
    return sealer.seal(msgspec.json.encode(payload), context=str(payment_id), ttl_s=ttl_s)


def open_method(sealer: Sealer, payment_id: uuid.UUID, token: str) -> Card | OpaqueData:
    """Raises ``engine.sealing.SealExpired`` / ``SealInvalid``."""
    payload = _decoder.decode(sealer.open(token, context=str(payment_id)))
    if isinstance(payload, _SealedCard):
        return Card(number=payload.number, exp_month=payload.exp_month, exp_year=payload.exp_year, cvc=payload.cvc)
    return OpaqueData(descriptor=payload.descriptor, value=payload.value)
