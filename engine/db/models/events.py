"""Merchant-facing events."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, LargeBinary, String, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from engine.db.models.base import Base


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
