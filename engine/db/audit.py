"""Writing the audit trail, reading it (newest first, keyset-paginated on ``id``), and who owns an
object a caller could not find (to tell a cross-tenant probe from a plain typo)."""

from __future__ import annotations

import uuid
from datetime import datetime
from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from engine.db.keyset import Keyset, fetch_page
from engine.db.models import ApiKey, AuditLog, Event, Payment, Refund, User, WebhookEndpoint
from engine.db.records import AuditLogRecord
from engine.pages import Page

audit_logs = AuditLog.__table__
_INSERT = insert(audit_logs)
AUDIT_ORDER = Keyset((audit_logs.c.id,))

#: Object types of the ``/v1/<type>s/{id}`` routes, and the table holding their merchant.
_OWNED = {
    "payment": Payment.__table__,
    "refund": Refund.__table__,
    "event": Event.__table__,
    "webhook_endpoint": WebhookEndpoint.__table__,
    "user": User.__table__,
    "api_key": ApiKey.__table__,
}


async def insert_audit_logs(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """Insert the rows (column name to value; ``id`` and ``created_at`` take their defaults)."""
    await conn.execute(_INSERT, rows)


async def copy_audit_logs(conn: AsyncConnection, records: Sequence[tuple[Any, ...]], *, columns: Sequence[str]) -> bool:
    """Insert ``records`` (values in ``columns`` order) as one binary ``COPY``, atomic by itself;
    False, writing nothing, when the driver has no ``COPY`` (not asyncpg)."""
    driver = (await conn.get_raw_connection()).driver_connection
    if driver is None or not hasattr(driver, "copy_records_to_table"):
        return False
    await driver.copy_records_to_table(audit_logs.name, records=records, columns=columns)
    return True


async def owning_merchant(conn: AsyncConnection, object_type: str | None, object_id: str) -> uuid.UUID | None:
    """The merchant an object belongs to; None if the type is not merchant-owned or no such id exists.

    One primary-key lookup; an id that cannot be one (not a UUID) costs no query.
    """
    table = _OWNED.get(object_type or "")
    if table is None:
        return None
    key: Any = object_id.removeprefix("ak_").split(":")[0]
    if table.c.id.type.python_type is uuid.UUID:
        try:
            key = uuid.UUID(object_id)
        except ValueError:
            return None
    return (await conn.execute(select(table.c.merchant_id).where(table.c.id == key))).scalar_one_or_none()


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
) -> Page[AuditLogRecord]:
    """Newest first, keyset-paginated on ``id`` alone (an entry's number is its position, so a
    ``starting_after`` needs no row behind it). ``scope`` is the caller's merchant (None: admin);
    ``merchant_id`` another merchant than the scope lists nothing."""
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
        return Page.empty()
    if created_gte is not None:
        query = query.where(audit_logs.c.created_at >= created_gte)
    if created_lt is not None:
        query = query.where(audit_logs.c.created_at < created_lt)
    return await fetch_page(conn, query, AUDIT_ORDER, limit=limit, make=AuditLogRecord._make, starting_after=starting_after)
