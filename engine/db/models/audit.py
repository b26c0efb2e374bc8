"""The audit log."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Index, SmallInteger, String, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from engine.db.models.base import Base, now_column


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
    created_at: Mapped[datetime] = now_column()

    __table_args__ = (
        Index("ix_audit_logs_merchant_id_id", "merchant_id", text("id DESC")),
        Index("ix_audit_logs_actor_id_id", "actor_id", text("id DESC")),
        Index("ix_audit_logs_object_id", "object_id"),
    )
