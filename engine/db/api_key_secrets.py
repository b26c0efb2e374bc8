"""What authenticating and key-usage tracking read and write of ``api_keys``: the whole row,
secret hash included, a re-hash onto the current pepper, and the batched ``last_used_at``.

Apart from ``engine.db.accounts`` (which issues keys through ``engine.auth``), so that
``engine.auth`` can use it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from engine.db.models import ApiKey
from engine.db.records import ApiKeySecretRecord

api_keys = ApiKey.__table__

_RECORD_USE = (
    update(api_keys)
    .where(api_keys.c.id == bindparam("key_id"))
    .where((api_keys.c.last_used_at.is_(None)) | (api_keys.c.last_used_at < bindparam("used_at")))
    .values(last_used_at=bindparam("used_at"))
)


async def get_key_with_secret(conn: AsyncConnection, key_id: str) -> ApiKeySecretRecord | None:
    row = (await conn.execute(select(api_keys).where(api_keys.c.id == key_id))).one_or_none()
    return None if row is None else ApiKeySecretRecord._make(row)


async def rehash_key(conn: AsyncConnection, key_id: str, *, old_hash: bytes, new_hash: bytes) -> ApiKeySecretRecord | None:
    """Replace the key's secret hash if it is still ``old_hash`` and the key is not revoked; the
    updated row, or None (re-hashed meanwhile, or revoked)."""
    row = (
        await conn.execute(
            update(api_keys)
            .where(api_keys.c.id == key_id, api_keys.c.secret_hash == old_hash, api_keys.c.revoked_at.is_(None))
            .values(secret_hash=new_hash)
            .returning(api_keys)
        )
    ).one_or_none()
    return None if row is None else ApiKeySecretRecord._make(row)


async def record_key_uses(conn: AsyncConnection, uses: Sequence[tuple[str, datetime]]) -> None:
    """Move each key's ``last_used_at`` forward to its time of use (never back); one batched UPDATE."""
    await conn.execute(_RECORD_USE, [{"key_id": key_id, "used_at": used_at} for key_id, used_at in uses])
