"""Every typed record lists the columns its repository selects, in select order (``_make``
builds it by position, so a reordered or added column must show up here)."""

from __future__ import annotations

import pytest

from engine.db import accounts, payment_backlog, payment_reads, webhook_batches
from engine.db.payment_reads import PaymentViewRecord
from engine.db.models import (
    ApiKey,
    AuditLog,
    Event,
    IdempotencyKey,
    Merchant,
    Payment,
    PaymentEvent,
    Refund,
    User,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from engine.db.records import (
    ApiKeyRecord,
    ApiKeySecretRecord,
    AttemptTargetRecord,
    AuditLogRecord,
    DeadDeliveryRecord,
    EndpointSecretsRecord,
    EventBodyRecord,
    EventRecord,
    IdempotencyKeyRecord,
    ListedDeliveryRecord,
    MerchantRecord,
    PaymentBacklogRecord,
    PaymentEventRecord,
    PaymentRecord,
    RefundRecord,
    RequeuedDeliveryRecord,
    SealedReplyRecord,
    StaleOperationRecord,
    StuckPaymentRecord,
    UnsettledCaptureRecord,
    UserLoginRecord,
    UserRecord,
    WebhookAttemptRecord,
    WebhookDeliveryRecord,
    WebhookEndpointRecord,
)


def _names(select_list: str) -> list[str]:
    """The column names a SQL select list yields: each item's alias, else its column name."""
    items, depth, start = [], 0, 0
    for i, ch in enumerate(select_list + ","):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            items.append(select_list[start:i].strip())
            start = i + 1
    return [item.split()[-1].split(".")[-1] for item in items]


def _select_list(sql: str) -> str:
    """The top-level select list of one ``SELECT ... [FROM ...]`` statement."""
    body, depth = sql.strip().removeprefix("SELECT"), 0
    for i in range(len(body)):
        depth += {"(": 1, ")": -1}.get(body[i], 0)
        if depth == 0 and body[i].isspace() and body[i + 1:i + 6] == "FROM ":
            return body[:i]
    return body


_DELIVERY = [c.name for c in WebhookDelivery.__table__.c]

CASES = [
    (MerchantRecord, [c.name for c in Merchant.__table__.c]),
    (ApiKeyRecord, [c.name for c in accounts._KEY_COLUMNS]),
    (UserRecord, [c.name for c in accounts._USER_COLUMNS]),
    (UserLoginRecord, [c.name for c in User.__table__.c]),
    (PaymentRecord, [c.name for c in Payment.__table__.c]),
    (PaymentViewRecord, [c.name for c in payment_reads.VIEW_COLUMNS]),
    (PaymentEventRecord, [c.name for c in PaymentEvent.__table__.c]),
    (RefundRecord, [c.name for c in Refund.__table__.c]),
    (WebhookEndpointRecord, [c.name for c in WebhookEndpoint.__table__.c]),
    (WebhookDeliveryRecord, _DELIVERY),
    (ListedDeliveryRecord, [*_DELIVERY, "event_type"]),
    (DeadDeliveryRecord, [*_DELIVERY, "event_type", "url"]),
    (WebhookAttemptRecord, [c.name for c in WebhookAttempt.__table__.c]),
    (AttemptTargetRecord, _names(webhook_batches._ATTEMPT_COLUMNS)),
    (RequeuedDeliveryRecord, ["id", "endpoint_id", "status"]),
    (PaymentBacklogRecord, _names(_select_list(payment_backlog._BACKLOG_SQL.text))),
    (StuckPaymentRecord, _names(_select_list(payment_backlog._STUCK_SQL.text))),
    (UnsettledCaptureRecord, ["id", "processor_transaction_id", "currency"]),
    (StaleOperationRecord, ["id", "pending_operation"]),
    (AuditLogRecord, [c.name for c in AuditLog.__table__.c]),
    (EventRecord, [c.name for c in Event.__table__.c]),
    (EventBodyRecord, ["id", "body"]),
    (ApiKeySecretRecord, [c.name for c in ApiKey.__table__.c]),
    (IdempotencyKeyRecord, [*(c.name for c in IdempotencyKey.__table__.c), "expired"]),
    (EndpointSecretsRecord, ["id", "secret_sealed", "previous_secret_sealed"]),
    (SealedReplyRecord, ["merchant_id", "key", "response_body"]),
]


@pytest.mark.parametrize(("record", "columns"), CASES, ids=[record.__name__ for record, _ in CASES])
def test_a_record_has_the_selected_columns_in_order(record, columns):
    assert list(record._fields) == columns


def test_the_key_and_user_records_leave_the_secrets_out():
    assert "secret_hash" in ApiKey.__table__.c and "secret_hash" not in ApiKeyRecord._fields
    assert "password_hash" not in UserRecord._fields and "password_hash" in UserLoginRecord._fields


def test_a_payment_record_renders_like_the_mapping_of_its_columns():
    import uuid
    from datetime import datetime, timezone

    from engine.views import payment_view

    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    values = {name: None for name in PaymentRecord._fields} | {
        "id": uuid.uuid4(), "merchant_id": uuid.uuid4(), "status": "authorized", "amount_minor": 1234, "currency": "USD",
        "capture": False, "amount_captured_minor": 0, "amount_refunded_minor": 0, "payment_method_type": "card",
        "card_brand": "visa", "card_last4": "4242", "card_exp_month": 12, "card_exp_year": 2030, "metadata": {"k": "v"},
        "failure_code": "x", "failure_message": "y", "version": 2, "created_at": at, "updated_at": at,
    }
    record = PaymentRecord(**values)
    view = payment_view(record)
    assert view == payment_view(values)
    assert (view.amount, view.card.last4, view.failure.code, view.metadata) == ("12.34", "4242", "x", {"k": "v"})


def test_the_view_record_holds_every_column_the_public_object_shows():
    """Lists and API reads select only ``PaymentViewRecord``'s columns: the object rendered from it
    is the one rendered from the whole row (a view field reading a column the record lacks fails
    here, not in production)."""
    import uuid
    from datetime import datetime, timezone

    from engine.views import payment_view

    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    values = {name: f"v-{name}" for name in PaymentRecord._fields} | {
        "id": uuid.uuid4(), "merchant_id": uuid.uuid4(), "status": "captured", "amount_minor": 1234, "currency": "USD",
        "capture": True, "amount_captured_minor": 1234, "amount_refunded_minor": 200, "card_exp_month": 12,
        "card_exp_year": 2030, "metadata": {"k": "v"}, "billing": {"city": "x"}, "version": 3, "processor_attempts": 1,
        "processor_ms": 12, "reconcile_attempts": 0, "needs_reconciliation": False, "pending_operation_amount_minor": None,
        "created_at": at, "updated_at": at, "settled_at": at, "authorized_at": at, "processing_started_at": at,
        "reconcile_next_at": at,
    }
    whole = PaymentRecord(**values)
    narrow = PaymentViewRecord(**{name: values[name] for name in PaymentViewRecord._fields})
    assert payment_view(narrow) == payment_view(whole)
    assert {"billing", "invoice_number", "processing_message_id"}.isdisjoint(PaymentViewRecord._fields)
