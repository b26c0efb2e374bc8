"""Request bodies (msgspec Structs). Unknown fields are rejected; amounts are strings, never floats."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

Str20 = Annotated[str, Meta(min_length=1, max_length=20)]


class CardIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    number: Annotated[str, Meta(min_length=1, max_length=32)]
    exp_month: int
    exp_year: int
    cvc: Annotated[str, Meta(min_length=1, max_length=8)] | None = None


class OpaqueDataIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """An Accept.js / Accept Mobile nonce (preferred: card data never reaches this API)."""

    descriptor: Annotated[str, Meta(min_length=1, max_length=64)]
    value: Annotated[str, Meta(min_length=1, max_length=8192)]


class PaymentMethodIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    type: Literal["card", "opaque"]
    card: CardIn | None = None
    opaque_data: OpaqueDataIn | None = None


class BillingIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, omit_defaults=True):
    """Lengths are Authorize.net's ``billTo`` limits."""

    first_name: Annotated[str, Meta(max_length=50)] | None = None
    last_name: Annotated[str, Meta(max_length=50)] | None = None
    line1: Annotated[str, Meta(max_length=60)] | None = None
    city: Annotated[str, Meta(max_length=40)] | None = None
    state: Annotated[str, Meta(max_length=40)] | None = None
    postal_code: Annotated[str, Meta(max_length=20)] | None = None
    country: Annotated[str, Meta(max_length=60)] | None = None


class PaymentCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    amount: Annotated[str, Meta(description='Decimal string in major units, e.g. "12.50".')]
    currency: Annotated[str, Meta(description="ISO 4217 code, upper case.")]
    capture: bool = True
    payment_method: PaymentMethodIn
    billing: BillingIn | None = None
    customer_id: Annotated[str, Meta(min_length=1, max_length=20, pattern=r"^[A-Za-z0-9._-]+$")] | None = None
    description: Annotated[str, Meta(max_length=255)] | None = None
    metadata: dict[str, str] | None = None
    merchant_id: Annotated[
        str, Meta(description="Admin credentials only (and then required): the merchant the payment is for.")
    ] | None = None


class CaptureCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    amount: Annotated[str, Meta(description="Decimal string; at most the authorized amount. Default: all of it.")] | None = None


class RefundCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    amount: Annotated[str, Meta(description="Decimal string. Default: everything not yet refunded.")] | None = None
    reason: Annotated[str, Meta(max_length=255)] | None = None
