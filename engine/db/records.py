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
