"""The public payment object (contract shape), built from a ``payments`` row.

Shared by the API (responses) and the workers (cache snapshots), so both always agree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec

from engine.money import format_amount


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
    status: str
    amount: str
    currency: str
    capture: bool
    amount_captured: str
    amount_refunded: str
    payment_method_type: str
    card: CardView | None
    processor: ProcessorView
    failure: FailureView | None
    customer_id: str | None
    description: str | None
    metadata: dict[str, str]
    created_at: datetime
    updated_at: datetime


class PaymentList(msgspec.Struct, kw_only=True):
    object: Literal["list"] = "list"
    data: list[PaymentView]
    has_more: bool


def payment_view(row: Any) -> PaymentView:
    """Render a ``payments`` row (SQLAlchemy Row or mapping) as the public payment object."""
    currency = row.currency
    card = None
    if row.card_last4 is not None or row.card_brand is not None:
        card = CardView(
            brand=row.card_brand, last4=row.card_last4, exp_month=row.card_exp_month, exp_year=row.card_exp_year
        )
    failure = None
    if row.failure_code is not None:
        failure = FailureView(
            code=row.failure_code, message=row.failure_message, processor_code=row.failure_processor_code
        )
    return PaymentView(
        id=str(row.id),
        status=row.status,
        amount=format_amount(row.amount_minor, currency),
        currency=currency,
        capture=row.capture,
        amount_captured=format_amount(row.amount_captured_minor, currency),
        amount_refunded=format_amount(row.amount_refunded_minor, currency),
        payment_method_type=row.payment_method_type,
        card=card,
        processor=ProcessorView(
            transaction_id=row.processor_transaction_id,
            auth_code=row.processor_auth_code,
            avs_result=row.processor_avs_result,
            cvv_result=row.processor_cvv_result,
        ),
        failure=failure,
        customer_id=row.customer_id,
        description=row.description,
        metadata=row.metadata,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class RefundView(msgspec.Struct, kw_only=True):
    id: str
    object: Literal["refund"] = "refund"
    payment_id: str
    amount: str
    currency: str
    status: str
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
