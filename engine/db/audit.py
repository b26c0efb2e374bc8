"""Reading the audit trail: newest first, keyset-paginated on ``id``."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from engine.db.models import AuditLog

audit_logs = AuditLog.__table__


async def list_audit_logs(
    conn: AsyncConnection,
    *,
    scope: uuid.UUID | None,
    limit: int = 20,
    starting_after: int | None = None,
    merchant_id: uuid.UUID | None = None,
    actor_id: str | None = None,
    action: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    outcome: str | None = None,
    created_gte: datetime | None = None,
    created_lt: datetime | None = None,
) -> tuple[list[Row[Any]], bool]:
    query = select(audit_logs)
    filters = {
        "merchant_id": scope if scope is not None else merchant_id,
        "actor_id": actor_id,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "outcome": outcome,
    }
    for column, value in filters.items():
        if value is not None:
            query = query.where(audit_logs.c[column] == value)
    if scope is not None and merchant_id is not None and merchant_id != scope:
        return [], False
    if created_gte is not None:
        query = query.where(audit_logs.c.created_at >= created_gte)
    if created_lt is not None:
        query = query.where(audit_logs.c.created_at < created_lt)
    if starting_after is not None:
        query = query.where(audit_logs.c.id < starting_after)
    rows = list((await conn.execute(query.order_by(audit_logs.c.id.desc()).limit(limit + 1))).all())
    return rows[:limit], len(rows) > limit
