"""The public payment object (contract shape), built from a ``payments`` row.

Shared by the API (responses) and the workers (cache snapshots), so both always agree.
"""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace
from typing import Any, Literal

import msgspec

from engine.money import currency_exponent, format_amount, format_minor_units
from engine.states import PaymentStatus, RefundStatus


class CardView(msgspec.Struct, kw_only=True):
    brand: str | None
    last4: str | None
    exp_month: int | None
    exp_year: int | None


class ProcessorView(msgspec.Struct, kw_only=True):
    transaction_id: str | None
    auth_code: str | None
    avs_result: str | None
    cvv_result: str | None


class FailureView(msgspec.Struct, kw_only=True):
    code: str
    message: str | None
    processor_code: str | None


class PaymentView(msgspec.Struct, kw_only=True):
    id: str
    object: Literal["payment"] = "payment"
    #: Typed as the enum so the OpenAPI document lists the statuses; rows hand in the plain value.
    status: PaymentStatus
    amount: str
    currency: str
    capture: bool
    amount_captured: str
    amount_refunded: str
    #: A capture or void accepted and not yet answered by the processor (``capture``/``void``).
    pending_operation: str | None = None
    payment_method_type: str
    card: CardView | None
    processor: ProcessorView
    failure: FailureView | None
    customer_id: str | None
    description: str | None
    metadata: dict[str, str]
    created_at: datetime
    updated_at: datetime
    #: When the settlement sync saw the capture settle (refunds need a settled capture).
    settled_at: datetime | None = None


class PaymentList(msgspec.Struct, kw_only=True):
    object: Literal["list"] = "list"
    data: list[PaymentView]
    has_more: bool


def payment_view(row: Any) -> PaymentView:
    """Render a ``payments`` row (``engine.db.records.PaymentRecord``, SQLAlchemy Row, or a mapping
    of its columns) as the public payment object.

    Columns are read as attributes of the record (a tuple index each): several times cheaper than
    a Row's attributes, and a page of 100 payments reads 2,500 of them. A Row or a mapping (tests,
    ``engine.db.outcomes.expected_after``) is first copied into a namespace.
    """
    m: Any = row if isinstance(row, tuple) else SimpleNamespace(**getattr(row, "_mapping", row))
    currency = m.currency
    exponent = currency_exponent(currency)
    card = None
    last4, brand = m.card_last4, m.card_brand
    if last4 is not None or brand is not None:
        card = CardView(brand=brand, last4=last4, exp_month=m.card_exp_month, exp_year=m.card_exp_year)
    failure = None
    if m.failure_code is not None:
        failure = FailureView(
            code=m.failure_code, message=m.failure_message, processor_code=m.failure_processor_code
        )
    return PaymentView(
        id=str(m.id),
        status=m.status,
        amount=format_minor_units(m.amount_minor, exponent),
        currency=currency,
        capture=m.capture,
        amount_captured=format_minor_units(m.amount_captured_minor, exponent),
        amount_refunded=format_minor_units(m.amount_refunded_minor, exponent),
        pending_operation=getattr(m, "pending_operation", None),
        payment_method_type=m.payment_method_type,
        card=card,
        processor=ProcessorView(
            transaction_id=m.processor_transaction_id,
            auth_code=m.processor_auth_code,
            avs_result=m.processor_avs_result,
            cvv_result=m.processor_cvv_result,
        ),
        failure=failure,
        customer_id=m.customer_id,
        description=m.description,
        metadata=m.metadata,
        created_at=m.created_at,
        updated_at=m.updated_at,
        settled_at=getattr(m, "settled_at", None),
    )


class RefundView(msgspec.Struct, kw_only=True):
    id: str
    object: Literal["refund"] = "refund"
    payment_id: str
    amount: str
    currency: str
    status: RefundStatus
    failure: FailureView | None
    reason: str | None
    created_at: datetime


class RefundList(msgspec.Struct, kw_only=True):
    object: Literal["list"] = "list"
    data: list[RefundView]
    has_more: bool


def refund_view(row: Any) -> RefundView:
    """Render a ``refunds`` row as the public refund object."""
    failure = None
    if row.failure_code is not None:
        failure = FailureView(code=row.failure_code, message=row.failure_message, processor_code=row.failure_processor_code)
    return RefundView(
        id=str(row.id),
        payment_id=str(row.payment_id),
        amount=format_amount(row.amount_minor, row.currency),
        currency=row.currency,
        status=row.status,
        failure=failure,
        reason=row.reason,
        created_at=row.created_at,
    )
