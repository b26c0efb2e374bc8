"""Stored first responses of idempotent requests."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, LargeBinary, PrimaryKeyConstraint, SmallInteger, String
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from engine.db.models.base import Base, now_column


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
    created_at: Mapped[datetime] = now_column()

    __table_args__ = (
        PrimaryKeyConstraint("merchant_id", "key"),
        Index("ix_idempotency_keys_created_at", "created_at"),
    )
