"""Merchants, their API keys and the users who sign in."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from engine.db.models.base import Base, now_column


class Merchant(Base):
    __tablename__ = "merchants"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    created_at: Mapped[datetime] = now_column()


class ApiKey(Base):
    """An API key ``ak_<id>:sk_<secret>``; only a keyed hash of the secret is stored."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    merchant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("merchants.id"), nullable=False, index=True)
    secret_hash: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    role: Mapped[str] = mapped_column(String(20), nullable=False)
    name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = now_column()
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
    created_at: Mapped[datetime] = now_column()
    updated_at: Mapped[datetime] = now_column()
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: Tokens carry the version they were issued under; bumped on disable, role or password
    #: change, which voids every older token (``engine.token_versions``).
    token_version: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")

    __table_args__ = (
        CheckConstraint("role IN ('admin', 'merchant', 'developer', 'viewer')", name="role"),
        CheckConstraint("role = 'admin' OR merchant_id IS NOT NULL", name="merchant_required"),
    )
