"""Webhook endpoints, deliveries (the outbox) and the log of attempts."""

from __future__ import annotations

import uuid
from datetime import datetime

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
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import Mapped, mapped_column

from engine.db.models.base import Base, now_column


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
    created_at: Mapped[datetime] = now_column()
    updated_at: Mapped[datetime] = now_column()

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
    #: The delivery runner that holds the lease (NULL: leased by ``easypay webhooks dispatch``).
    lease_owner: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    last_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_status_code: Mapped[int | None] = mapped_column(SmallInteger)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = now_column()
    updated_at: Mapped[datetime] = now_column()

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
