"""Typed rows: what the repositories return instead of SQLAlchemy's untyped ``Row``.

Each record is a ``NamedTuple`` whose fields are the selected columns in select order, so
``Record._make(row)`` builds it from a ``Row`` in one step (a tuple copy, no per-column lookup)
and callers keep reading ``record.id``. ``tests/unit/test_records.py`` checks every record
against its table's columns.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, NamedTuple


class MerchantRecord(NamedTuple):
    """A ``merchants`` row."""

    id: uuid.UUID
    name: str
    created_at: datetime


class ApiKeyRecord(NamedTuple):
    """An ``api_keys`` row without its secret hash (``engine.db.accounts._KEY_COLUMNS``)."""

    id: str
    merchant_id: uuid.UUID
    role: str
    name: str | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    rate_limits: dict[str, Any] | None
    created_by_user_id: uuid.UUID | None


class UserRecord(NamedTuple):
    """A ``users`` row without its password hash (``engine.db.accounts._USER_COLUMNS``)."""

    id: uuid.UUID
    email: str
    role: str
    merchant_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime
    disabled_at: datetime | None
    token_version: int


class UserLoginRecord(NamedTuple):
    """A whole ``users`` row, password hash included: for signing in only."""

    id: uuid.UUID
    email: str
    password_hash: str
    role: str
    merchant_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime
    disabled_at: datetime | None
    token_version: int


class PaymentRecord(NamedTuple):
    """A ``payments`` row (``engine.db.payments``)."""

    id: uuid.UUID
    merchant_id: uuid.UUID
    status: str
    amount_minor: int
    currency: str
    capture: bool
    amount_captured_minor: int
    amount_refunded_minor: int
    payment_method_type: str
    card_brand: str | None
    card_last4: str | None
    card_exp_month: int | None
    card_exp_year: int | None
    invoice_number: str
    processor_transaction_id: str | None
    processor_auth_code: str | None
    processor_avs_result: str | None
    processor_cvv_result: str | None
    failure_code: str | None
    failure_message: str | None
    failure_processor_code: str | None
    customer_id: str | None
    description: str | None
    metadata: dict[str, Any]
    billing: dict[str, Any] | None
    processing_message_id: str | None
    processing_started_at: datetime | None
    processor_attempts: int
    needs_reconciliation: bool
    reconcile_next_at: datetime | None
    reconcile_attempts: int
    pending_operation: str | None
    pending_operation_amount_minor: int | None
    authorized_at: datetime | None
    settled_at: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime


class PaymentEventRecord(NamedTuple):
    """A ``payment_events`` row: one status change (or annotation) of a payment."""

    id: int
    payment_id: uuid.UUID
    merchant_id: uuid.UUID
    type: str
    trigger: str | None
    from_status: str | None
    to_status: str | None
    data: dict[str, Any]
    request_id: str | None
    created_at: datetime


class RefundRecord(NamedTuple):
    """A ``refunds`` row (``engine.db.refunds``)."""

    id: uuid.UUID
    payment_id: uuid.UUID
    merchant_id: uuid.UUID
    status: str
    amount_minor: int
    currency: str
    reason: str | None
    method: str
    invoice_number: str
    processor_transaction_id: str | None
    failure_code: str | None
    failure_message: str | None
    failure_processor_code: str | None
    needs_reconciliation: bool
    reconcile_next_at: datetime | None
    reconcile_attempts: int
    created_at: datetime
    updated_at: datetime
