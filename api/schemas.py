"""Request bodies (msgspec Structs). Unknown fields are rejected; amounts are strings, never floats."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from engine.permissions import ROLES
from engine.settings import DEFAULT_PROCESSOR_CURRENCIES

Str20 = Annotated[str, Meta(min_length=1, max_length=20)]
#: A positive amount in major units with at most two decimals, below 10⁹ (every currency the
#: processor takes has two); ``engine.money.parse_amount`` is the rule, this is its shape.
AMOUNT_PATTERN = r"^([1-9][0-9]{0,8}(\.[0-9]{1,2})?|0\.([1-9][0-9]?|0[1-9]))$"
#: Patterns and bounds of fields the handlers check themselves (naming the field in their own
#: words, all problems at once) go in the document only, not in msgspec's decoding.
AMOUNT_SCHEMA = {"extra": {"pattern": AMOUNT_PATTERN}}
#: A role name as API keys and users carry it (checked by the handlers, which name the field).
RoleName = Annotated[str, Meta(extra_json_schema={"extra": {"enum": list(ROLES)}}, examples=["developer"])]
#: Where webhooks go: an absolute http(s) URL (checked by the handler; which hosts may be reached too).
URL_SCHEMA = {"extra": {"pattern": r"^[hH][tT][tT][pP][sS]?://[^\s]+$"}}
#: Authorize.net's ``customer.id``: up to 20 characters of this set.
CUSTOMER_ID_PATTERN = r"^[A-Za-z0-9._-]+$"


class CardIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    number: Annotated[str, Meta(min_length=1, max_length=32, examples=["4111111111111111"])]
    # Bounds stated in the document only: the handler's checks name the field in their own words.
    exp_month: Annotated[int, Meta(extra_json_schema={"extra": {"minimum": 1, "maximum": 12}})]
    exp_year: Annotated[int, Meta(examples=[2030], extra_json_schema={"extra": {"minimum": 1000, "maximum": 9999}})]
    cvc: Annotated[str, Meta(min_length=1, max_length=8, examples=["123"])] | None = None


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
    amount: Annotated[str, Meta(description='Decimal string in major units, e.g. "12.50".', examples=["12.50"], extra_json_schema=AMOUNT_SCHEMA)]
    currency: Annotated[
        str,
        Meta(
            description="ISO 4217 code, upper case: one the processor account takes (`ANET_CURRENCIES`).",
            extra_json_schema={"extra": {"pattern": "^[A-Z]{3}$", "enum": sorted(DEFAULT_PROCESSOR_CURRENCIES)}},
            examples=["USD"],
        ),
    ]
    capture: bool = True
    payment_method: PaymentMethodIn
    billing: BillingIn | None = None
    customer_id: Annotated[str, Meta(min_length=1, max_length=20, pattern=CUSTOMER_ID_PATTERN)] | None = None
    description: Annotated[str, Meta(max_length=255)] | None = None
    metadata: dict[str, str] | None = None
    merchant_id: Annotated[
        str, Meta(description="Admin credentials only (and then required): the merchant the payment is for.")
    ] | None = None


class CaptureCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    amount: Annotated[
        str, Meta(description="Decimal string; at most the authorized amount. Default: all of it.", extra_json_schema=AMOUNT_SCHEMA)
    ] | None = None


class RefundCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    amount: Annotated[str, Meta(description="Decimal string. Default: everything not yet refunded.", extra_json_schema=AMOUNT_SCHEMA)] | None = None
    reason: Annotated[str, Meta(max_length=255)] | None = None
