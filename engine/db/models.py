"""Tables (SQLAlchemy 2 declarative). Alembic migrations in ``migrations/`` create them.

Card numbers and CVCs have no column anywhere: only brand, last four and expiry are stored.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    if TYPE_CHECKING:
        # Every model here maps a Table (DeclarativeBase types it as any FromClause).
        __table__: ClassVar[Table]


def _now() -> Any:
    return mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


class Merchant(Base):
    __tablename__ = "merchants"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    created_at: Mapped[datetime] = _now()


class ApiKey(Base):
    """An API key ``ak_<id>:sk_<secret>``; only a keyed hash of the secret is stored."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    merchant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("merchants.id"), nullable=False, index=True)
    secret_hash: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    role: Mapped[str] = mapped_column(String(20), nullable=False)
    name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = _now()
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: Per-key rate-limit overrides ``{"minute": n, "hour": n, "day": n}``; null means the defaults.
    rate_limits: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    #: The user whose token minted the key (null when another key or the CLI did): disabling
    #: that user revokes the key.
    created_by_user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))

    __table_args__ = (
        CheckConstraint("role IN ('admin', 'merchant', 'developer', 'viewer')", name="role"),
        Index("ix_api_keys_created_by_user_id", "created_by_user_id", postgresql_where=text("created_by_user_id IS NOT NULL")),
    )


class User(Base):
    """A person who signs in with a password (``POST /v1/auth/token``); admins may have no merchant."""

    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    email: Mapped[str] = mapped_column(String(254), nullable=False, unique=True)
    #: argon2id hash (argon2-cffi's encoded form); never the password.
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    role: Mapped[str] = mapped_column(String(20), nullable=False)
    merchant_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("merchants.id"), index=True)
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: Tokens carry the version they were issued under; bumped on disable, role or password
    #: change, which voids every older token (``engine.token_versions``).
    token_version: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")

    __table_args__ = (
        CheckConstraint("role IN ('admin', 'merchant', 'developer', 'viewer')", name="role"),
        CheckConstraint("role = 'admin' OR merchant_id IS NOT NULL", name="merchant_required"),
    )


class AuditLog(Base):
    """Who did what to which object, from where, with what outcome. Never bodies, secrets or card data."""

    __tablename__ = "audit_logs"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    #: ``api_key`` | ``user`` | ``cli`` | ``anonymous``
    actor_type: Mapped[str] = mapped_column(String(16), nullable=False)
    #: API key id, user id, or the key id / email presented in a failed attempt.
    actor_id: Mapped[str | None] = mapped_column(String(254))
    #: The merchant the action concerned (the caller's, or the target of an admin's action).
    merchant_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    action: Mapped[str] = mapped_column(String(64), nullable=False)
    object_type: Mapped[str | None] = mapped_column(String(32))
    object_id: Mapped[str | None] = mapped_column(String(64))
    method: Mapped[str | None] = mapped_column(String(8))
    #: The route template (``/v1/payments/{payment_id:str}``), never a query string or body.
    route: Mapped[str | None] = mapped_column(String(255))
    status_code: Mapped[int | None] = mapped_column(SmallInteger)
    #: ``success`` | ``failure`` | ``denied`` (401/403)
    outcome: Mapped[str] = mapped_column(String(16), nullable=False)
    remote_addr: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = _now()

    __table_args__ = (
        Index("ix_audit_logs_merchant_id_id", "merchant_id", text("id DESC")),
        Index("ix_audit_logs_actor_id_id", "actor_id", text("id DESC")),
        Index("ix_audit_logs_object_id", "object_id"),
    )


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
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()

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
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()

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
    created_at: Mapped[datetime] = _now()

    __table_args__ = (Index("ix_payment_events_payment_id_id", "payment_id", "id"),)


class Event(Base):
    """A merchant-facing event (contract types), written in the transaction of the change it reports.

    ``body`` is the exact JSON of the event object, encoded once: the API serves it and webhook
    deliveries send it, byte for byte, on every attempt.
    """

    __tablename__ = "events"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    merchant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("merchants.id"), nullable=False)
    type: Mapped[str] = mapped_column(String(64), nullable=False)
    object_type: Mapped[str] = mapped_column(String(16), nullable=False)
    object_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    body: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)

    __table_args__ = (
        Index("ix_events_merchant_created", "merchant_id", text("created_at DESC"), text("id DESC")),
        Index("ix_events_merchant_type_created", "merchant_id", "type", text("created_at DESC"), text("id DESC")),
        Index("ix_events_object_id", "object_id"),
    )


class IdempotencyKey(Base):
    """A stored first response for ``Idempotency-Key``; replayed for 24 hours."""

    __tablename__ = "idempotency_keys"

    merchant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    key: Mapped[str] = mapped_column(String(255), nullable=False)
    #: HMAC of method, path and canonical body; never the body itself (it may hold card data).
    request_hash: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    response_status: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    response_body: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    response_location: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = _now()

    __table_args__ = (
        PrimaryKeyConstraint("merchant_id", "key"),
        Index("ix_idempotency_keys_created_at", "created_at"),
    )


class WebhookEndpoint(Base):
    """A merchant's webhook URL. Secrets are stored sealed (AES-GCM, bound to the endpoint id)."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    merchant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("merchants.id"), nullable=False)
    url: Mapped[str] = mapped_column(String(2048), nullable=False)
    description: Mapped[str | None] = mapped_column(String(500))
    #: Event types delivered, or ``["*"]`` for all.
    event_types: Mapped[list[str]] = mapped_column(ARRAY(String(64)), nullable=False)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="true")
    disabled_reason: Mapped[str | None] = mapped_column(String(32))
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    secret_sealed: Mapped[str] = mapped_column(Text, nullable=False)
    #: The secret replaced by the last rotation; it keeps signing until ``previous_secret_expires_at``.
    previous_secret_sealed: Mapped[str | None] = mapped_column(Text)
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: Start of the current run of failed attempts (null after any success).
    failing_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()

    __table_args__ = (
        CheckConstraint(
            "disabled_reason IS NULL OR disabled_reason IN ('manual', 'gone', 'failing')", name="disabled_reason"
        ),
        Index("ix_webhook_endpoints_merchant_created", "merchant_id", text("created_at DESC"), text("id DESC")),
    )


class WebhookDelivery(Base):
    """One event for one endpoint (the transactional outbox row). Next attempt time lives here.

    ``pending`` with ``next_attempt_at`` due → the dispatcher claims it: sets ``lease_token`` and
    ``lease_until`` and pushes ``next_attempt_at`` to the lease end, so a delivery whose worker died
    becomes due again when the lease runs out.
    """

    __tablename__ = "webhook_deliveries"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    endpoint_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), nullable=False
    )
    event_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("events.id"), nullable=False)
    merchant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, server_default="pending")
    #: Attempts made in the current round (a resend or recovery starts a new round).
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    lease_token: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_status_code: Mapped[int | None] = mapped_column(SmallInteger)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()

    __table_args__ = (
        CheckConstraint("status IN ('pending', 'succeeded', 'failed')", name="status"),
        Index("uq_webhook_deliveries_endpoint_event", "endpoint_id", "event_id", unique=True),
        Index(
            "ix_webhook_deliveries_due",
            "endpoint_id",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
        ),
        Index(
            "ix_webhook_deliveries_leased", "endpoint_id", postgresql_where=text("lease_until IS NOT NULL")
        ),
        Index("ix_webhook_deliveries_endpoint_created", "endpoint_id", text("created_at DESC"), text("id DESC")),
        Index("ix_webhook_deliveries_event_id", "event_id"),
    )


class WebhookAttempt(Base):
    """The log of every HTTP attempt, for merchants to debug with."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    delivery_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), nullable=False
    )
    attempted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    latency_ms: Mapped[int] = mapped_column(Integer, nullable=False)
    status_code: Mapped[int | None] = mapped_column(SmallInteger)
    #: Why the attempt failed without (or despite) an HTTP status: timeout, refused, blocked address...
    error: Mapped[str | None] = mapped_column(String(500))
    response_body: Mapped[str | None] = mapped_column(Text)
    succeeded: Mapped[bool] = mapped_column(Boolean, nullable=False)

    __table_args__ = (Index("ix_webhook_attempts_delivery_id", "delivery_id", "id"),)
