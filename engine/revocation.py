"""Revoking an API key everywhere: the database row, then the shared Redis record.

Keys minted by a user (``api_keys.created_by_user_id``) are revoked, not suspended, when the
user is disabled: re-enabling the user does not bring them back (a key that may have leaked
while its owner was out stays dead; the user mints new ones).

Call inside the caller's transaction: the Redis record is marked revoked before the commit, so
a Redis failure aborts the revocation (nothing half done that the API would keep accepting), and
a commit failure leaves only a key that looks revoked (failing closed).
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncConnection

from engine.auth import KeyRecords, mark_revoked
from engine.db.accounts import active_key_ids_created_by, revoke_api_key
from engine.db.records import ApiKeyRecord


async def revoke_key(
    conn: AsyncConnection, records: KeyRecords, *, key_id: str, scope: uuid.UUID | None = None
) -> ApiKeyRecord | None:
    """The revoked key's row, or None if there is no such active key in ``scope``."""
    row = await revoke_api_key(conn, key_id, scope=scope)
    if row is not None:
        await mark_revoked(records, key_id)
    return row


async def revoke_keys_created_by(conn: AsyncConnection, records: KeyRecords, *, user_id: uuid.UUID) -> list[str]:
    """Revoke every active key the user minted (on disabling the user); the revoked key ids."""
    revoked = []
    for key_id in await active_key_ids_created_by(conn, user_id):
        if await revoke_key(conn, records, key_id=key_id) is not None:
            revoked.append(key_id)
    return revoked
