"""Typed rows: what the repositories return instead of SQLAlchemy's untyped ``Row``.

Each record is a ``NamedTuple`` whose fields are the selected columns in select order, so
``Record._make(row)`` builds it from a ``Row`` in one step (a tuple copy, no per-column lookup)
and callers keep reading ``record.id``. ``tests/unit/test_records.py`` checks every record
against its table's columns.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
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
    processor_ms: int | None
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


class WebhookEndpointRecord(NamedTuple):
    """A ``webhook_endpoints`` row (``engine.db.webhook_endpoints``); secrets still sealed."""

    id: uuid.UUID
    merchant_id: uuid.UUID
    url: str
    description: str | None
    event_types: list[str]
    enabled: bool
    disabled_reason: str | None
    disabled_at: datetime | None
    secret_sealed: str
    previous_secret_sealed: str | None
    previous_secret_expires_at: datetime | None
    failing_since: datetime | None
    created_at: datetime
    updated_at: datetime


class WebhookDeliveryRecord(NamedTuple):
    """A ``webhook_deliveries`` row (``engine.db.webhook_deliveries.lock_delivery``)."""

    id: uuid.UUID
    endpoint_id: uuid.UUID
    event_id: uuid.UUID
    merchant_id: uuid.UUID
    status: str
    attempts: int
    next_attempt_at: datetime | None
    lease_token: uuid.UUID | None
    lease_until: datetime | None
    lease_owner: uuid.UUID | None
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime


class ListedDeliveryRecord(NamedTuple):
    """A ``webhook_deliveries`` row and its event's type (an endpoint's list of deliveries)."""

    id: uuid.UUID
    endpoint_id: uuid.UUID
    event_id: uuid.UUID
    merchant_id: uuid.UUID
    status: str
    attempts: int
    next_attempt_at: datetime | None
    lease_token: uuid.UUID | None
    lease_until: datetime | None
    lease_owner: uuid.UUID | None
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    event_type: str


class DeadDeliveryRecord(NamedTuple):
    """A failed ``webhook_deliveries`` row, its event's type and its endpoint's URL."""

    id: uuid.UUID
    endpoint_id: uuid.UUID
    event_id: uuid.UUID
    merchant_id: uuid.UUID
    status: str
    attempts: int
    next_attempt_at: datetime | None
    lease_token: uuid.UUID | None
    lease_until: datetime | None
    lease_owner: uuid.UUID | None
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    event_type: str
    url: str


class WebhookAttemptRecord(NamedTuple):
    """A ``webhook_attempts`` row: one HTTP attempt of a delivery."""

    id: int
    delivery_id: uuid.UUID
    attempted_at: datetime
    latency_ms: int
    status_code: int | None
    error: str | None
    response_body: str | None
    succeeded: bool


class AttemptTargetRecord(NamedTuple):
    """What one delivery attempt needs: the delivery, its endpoint's URL and sealed secrets, the
    event bytes (``engine.db.webhook_batches._ATTEMPT_COLUMNS``, ``webhook_deliveries.load_for_attempt``)."""

    id: uuid.UUID
    status: str
    lease_token: uuid.UUID | None
    attempts: int
    endpoint_id: uuid.UUID
    event_id: uuid.UUID
    url: str
    enabled: bool
    failing_since: datetime | None
    secret_sealed: str
    previous_secret_sealed: str | None
    previous_secret_expires_at: datetime | None
    body: bytes
    event_type: str


class RequeuedDeliveryRecord(NamedTuple):
    """A delivery a resend put back in line."""

    id: uuid.UUID
    endpoint_id: uuid.UUID
    status: str


class PaymentBacklogRecord(NamedTuple):
    """The payment backlog gauges (``engine.db.payment_backlog._BACKLOG_SQL``); ages in seconds."""

    reconciliation_backlog: int
    pending: int
    processing: int
    pending_age_s: Decimal | None
    processing_age_s: Decimal | None


class StuckPaymentRecord(NamedTuple):
    """A payment not progressing (``engine.db.payment_backlog._STUCK_SQL``)."""

    id: uuid.UUID
    merchant_id: uuid.UUID
    status: str
    needs_reconciliation: bool
    processor_attempts: int
    created_at: datetime
    updated_at: datetime
    age_s: Decimal


class UnsettledCaptureRecord(NamedTuple):
    """A captured payment not yet seen settled."""

    id: uuid.UUID
    processor_transaction_id: str
    currency: str


class StaleOperationRecord(NamedTuple):
    """A capture or void pending too long."""

    id: uuid.UUID
    pending_operation: str


class AuditLogRecord(NamedTuple):
    """An ``audit_logs`` row."""

    id: int
    actor_type: str
    actor_id: str | None
    merchant_id: uuid.UUID | None
    action: str
    object_type: str | None
    object_id: str | None
    method: str | None
    route: str | None
    status_code: int | None
    outcome: str
    remote_addr: str | None
    request_id: str | None
    created_at: datetime


class EventRecord(NamedTuple):
    """An ``events`` row: the event's JSON as stored and sent."""

    id: uuid.UUID
    merchant_id: uuid.UUID
    type: str
    object_type: str
    object_id: uuid.UUID
    body: bytes
    created_at: datetime


class EventBodyRecord(NamedTuple):
    """An event's id and JSON (a page of events)."""

    id: uuid.UUID
    body: bytes


class ApiKeySecretRecord(NamedTuple):
    """A whole ``api_keys`` row, secret hash included: for authenticating only."""

    id: str
    merchant_id: uuid.UUID
    secret_hash: bytes
    role: str
    name: str | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    rate_limits: dict[str, Any] | None
    created_by_user_id: uuid.UUID | None


class IdempotencyKeyRecord(NamedTuple):
    """An ``idempotency_keys`` row and whether it is past retention."""

    merchant_id: uuid.UUID
    key: str
    request_hash: bytes
    response_status: int
    response_body: bytes
    response_location: str | None
    created_at: datetime
    expired: bool


class EndpointSecretsRecord(NamedTuple):
    """An endpoint's sealed secrets (re-sealing)."""

    id: uuid.UUID
    secret_sealed: str
    previous_secret_sealed: str | None


class SealedReplyRecord(NamedTuple):
    """A stored idempotent answer that is sealed (re-sealing)."""

    merchant_id: uuid.UUID
    key: str
    response_body: bytes
