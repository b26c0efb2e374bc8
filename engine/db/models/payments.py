"""Payments, their refunds and their status history."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from engine.db.models.base import Base, now_column


class Payment(Base):
    __tablename__ = "payments"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    merchant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("merchants.id"), nullable=False)
    status: Mapped[str] = mapped_column(String(24), nullable=False)
    amount_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    capture: Mapped[bool] = mapped_column(Boolean, nullable=False)
    amount_captured_minor: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    amount_refunded_minor: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    payment_method_type: Mapped[str] = mapped_column(String(16), nullable=False)
    card_brand: Mapped[str | None] = mapped_column(String(16))
    card_last4: Mapped[str | None] = mapped_column(String(4))
    card_exp_month: Mapped[int | None] = mapped_column(SmallInteger)
    card_exp_year: Mapped[int | None] = mapped_column(SmallInteger)
    #: Sent as Authorize.net ``invoiceNumber`` on every (re)send; finds the charge after a lost answer.
    invoice_number: Mapped[str] = mapped_column(String(20), nullable=False, unique=True)
    processor_transaction_id: Mapped[str | None] = mapped_column(String(32))
    processor_auth_code: Mapped[str | None] = mapped_column(String(8))
    processor_avs_result: Mapped[str | None] = mapped_column(String(2))
    processor_cvv_result: Mapped[str | None] = mapped_column(String(2))
    failure_code: Mapped[str | None] = mapped_column(String(64))
    failure_message: Mapped[str | None] = mapped_column(Text)
    failure_processor_code: Mapped[str | None] = mapped_column(String(16))
    customer_id: Mapped[str | None] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(String(255))
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONB, nullable=False, server_default="{}")
    billing: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    #: The queue message that owns the processor call (a duplicate message is ignored).
    processing_message_id: Mapped[str | None] = mapped_column(String(64))
    processing_started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    processor_attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    #: How long the processor took to answer the charge whose outcome is recorded (ms): the
    #: dashboard's latency picture. Null until a charge is answered, and for payments from before.
    processor_ms: Mapped[int | None] = mapped_column(Integer)
    #: The processor's answer was lost; a reconciler must ask the processor what happened.
    needs_reconciliation: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    #: When the reconciler may next look at this payment (backoff); null = as soon as it is due.
    reconcile_next_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reconcile_attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    #: A capture or void accepted by the API and not yet answered by the processor.
    pending_operation: Mapped[str | None] = mapped_column(String(16))
    pending_operation_amount_minor: Mapped[int | None] = mapped_column(BigInteger)
    authorized_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: When the settlement sync saw the processor settle the capture (refunds need it).
    settled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: Incremented on every write; cache writers never replace a newer snapshot with an older one.
    version: Mapped[int] = mapped_column(Integer, nullable=False, server_default="1")
    created_at: Mapped[datetime] = now_column()
    updated_at: Mapped[datetime] = now_column()

    __table_args__ = (
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint("pending_operation IN ('capture', 'void')", name="pending_operation"),
        CheckConstraint(
            "amount_captured_minor >= 0 AND amount_captured_minor <= amount_minor", name="captured_range"
        ),
        CheckConstraint(
            "amount_refunded_minor >= 0 AND amount_refunded_minor <= amount_captured_minor",
            name="refunded_range",
        ),
        CheckConstraint(
            "status IN ('pending', 'processing', 'authorized', 'captured', 'partially_refunded', "
            "'refunded', 'declined', 'failed', 'voided', 'expired')",
            name="status",
        ),
        CheckConstraint("payment_method_type IN ('card', 'opaque')", name="method_type"),
        Index("ix_payments_merchant_created", "merchant_id", text("created_at DESC"), text("id DESC")),
        Index(
            "ix_payments_merchant_status_created",
            "merchant_id",
            "status",
            text("created_at DESC"),
            text("id DESC"),
        ),
        Index(
            "ix_payments_merchant_customer_created",
            "merchant_id",
            "customer_id",
            text("created_at DESC"),
            text("id DESC"),
            postgresql_where=text("customer_id IS NOT NULL"),
        ),
        # Unfinished payments: the pending sweep, the backlog gauges of /metrics and
        # `easypay payments stuck` (migration 0003_observability).
        Index(
            "ix_payments_in_flight_status_created",
            "status",
            "created_at",
            postgresql_where=text("status IN ('pending', 'processing')"),
        ),
        Index(
            "ix_payments_needs_reconciliation_created",
            "created_at",
            postgresql_where=text("needs_reconciliation"),
        ),
        # The sweeps (migration 0006_lifecycle): reconciliation due, settlement candidates, expiry.
        Index(
            "ix_payments_reconcile_next_at",
            "reconcile_next_at",
            postgresql_where=text("needs_reconciliation"),
        ),
        Index(
            "ix_payments_unsettled_captures",
            "updated_at",
            postgresql_where=text(
                "settled_at IS NULL AND status IN ('captured', 'partially_refunded')"
            ),
        ),
        Index(
            "ix_payments_authorized_at",
            "authorized_at",
            postgresql_where=text("status = 'authorized'"),
        ),
        Index("ix_payments_processor_transaction_id", "processor_transaction_id"),
    )


class Refund(Base):
    """A refund of (part of) a captured payment. Its amount is reserved against the payment when
    it is accepted (``pending`` counts), so concurrent refunds can never exceed the capture."""

    __tablename__ = "refunds"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    payment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payments.id"), nullable=False)
    merchant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("merchants.id"), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    amount_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    reason: Mapped[str | None] = mapped_column(String(255))
    #: ``refund`` (refundTransaction) or ``void`` (a full refund of an unsettled capture).
    method: Mapped[str] = mapped_column(String(8), nullable=False)
    #: Sent as ``invoiceNumber`` with duplicateWindow, so a resend after a lost answer is a duplicate.
    invoice_number: Mapped[str] = mapped_column(String(20), nullable=False, unique=True)
    processor_transaction_id: Mapped[str | None] = mapped_column(String(32))
    failure_code: Mapped[str | None] = mapped_column(String(64))
    failure_message: Mapped[str | None] = mapped_column(Text)
    failure_processor_code: Mapped[str | None] = mapped_column(String(16))
    needs_reconciliation: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    reconcile_next_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reconcile_attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    created_at: Mapped[datetime] = now_column()
    updated_at: Mapped[datetime] = now_column()

    __table_args__ = (
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint("status IN ('pending', 'succeeded', 'failed')", name="status"),
        CheckConstraint("method IN ('refund', 'void')", name="method"),
        Index("ix_refunds_payment_created", "payment_id", "created_at", "id"),
        Index("ix_refunds_pending_created", "created_at", postgresql_where=text("status = 'pending'")),
        Index("ix_refunds_reconcile_next_at", "reconcile_next_at", postgresql_where=text("needs_reconciliation")),
    )


class PaymentEvent(Base):
    """Append-only history: one row per status change, written in the same transaction."""

    __tablename__ = "payment_events"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    payment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payments.id"), nullable=False)
    merchant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    type: Mapped[str] = mapped_column(String(64), nullable=False)
    trigger: Mapped[str | None] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(24))
    to_status: Mapped[str | None] = mapped_column(String(24))
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default="{}")
    request_id: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = now_column()

    __table_args__ = (Index("ix_payment_events_payment_id_id", "payment_id", "id"),)
