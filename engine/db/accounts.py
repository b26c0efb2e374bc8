"""Merchants and API keys."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from engine.auth import ROLES, IssuedKey, hash_secret, issue_key
from engine.db.models import ApiKey, Merchant

merchants = Merchant.__table__
api_keys = ApiKey.__table__


async def create_merchant(conn: AsyncConnection, name: str) -> Row[Any]:
    return (await conn.execute(insert(merchants).values(id=uuid.uuid4(), name=name).returning(merchants))).one()


async def get_merchant(conn: AsyncConnection, merchant_id: uuid.UUID) -> Row[Any] | None:
    return (await conn.execute(select(merchants).where(merchants.c.id == merchant_id))).one_or_none()


async def create_api_key(
    conn: AsyncConnection, *, merchant_id: uuid.UUID, role: str, pepper: bytes, name: str | None = None
) -> IssuedKey:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    issued = issue_key()
    await conn.execute(
        insert(api_keys).values(
            id=issued.key_id,
            merchant_id=merchant_id,
            secret_hash=hash_secret(pepper, issued.secret),
            role=role,
            name=name,
        )
    )
    return issued


async def revoke_api_key(conn: AsyncConnection, key_id: str) -> bool:
    result = await conn.execute(
        update(api_keys).where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None)).values(revoked_at=func.now())
    )
    return result.rowcount == 1
