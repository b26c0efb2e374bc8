"""Accepting a payment: the API's use case. It records; the worker charges."""

from __future__ import annotations

import base64
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from engine.db import payments as repo
from engine.db.records import PaymentRecord


@dataclass(frozen=True)
class NewPayment:
    """A validated payment request, minus the secret parts of its payment method."""

    merchant_id: uuid.UUID
    amount_minor: int
    currency: str
    capture: bool
    payment_method_type: str
    card_brand: str | None = None
    card_last4: str | None = None
    card_exp_month: int | None = None
    card_exp_year: int | None = None
    customer_id: str | None = None
    description: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    billing: dict[str, Any] | None = None


@dataclass(frozen=True)
class PaymentJob:
    """A charge to queue: the payment, its sealed method and the caller's correlation ids."""

    payment_id: uuid.UUID
    sealed_method: str
    request_id: str | None = None
    #: The caller's bound log context (``engine.logcontext``), carried in the message.
    context: dict[str, str] = field(default_factory=dict)
    #: (key, ttl_s): also store the sealed method under ``key`` (``engine.method_stash``).
    stash: tuple[str, int] | None = None


def new_invoice_number() -> str:
    """20 characters (Authorize.net's limit): ``EP`` + 90 random bits in base32."""
    return "EP" + base64.b32encode(secrets.token_bytes(12)).decode()[:18]


def payment_values(new: NewPayment, payment_id: uuid.UUID) -> dict[str, Any]:
    """The ``payments`` row of ``new`` as it is first inserted (``pending``, a fresh invoice number)."""
    return {
        "id": payment_id,
        "merchant_id": new.merchant_id,
        "amount_minor": new.amount_minor,
        "currency": new.currency,
        "capture": new.capture,
        "payment_method_type": new.payment_method_type,
        "card_brand": new.card_brand,
        "card_last4": new.card_last4,
        "card_exp_month": new.card_exp_month,
        "card_exp_year": new.card_exp_year,
        "invoice_number": new_invoice_number(),
        "customer_id": new.customer_id,
        "description": new.description,
        "metadata": new.metadata,
        "billing": new.billing,
    }


async def accept_payment(
    conn: AsyncConnection, new: NewPayment, *, payment_id: uuid.UUID | None = None, request_id: str | None = None
) -> PaymentRecord:
    """Record ``new`` as a ``pending`` payment with its creation event (caller commits)."""
    return await repo.insert_payment(conn, payment_values(new, payment_id or uuid.uuid4()), request_id=request_id)
