"""``idempotency_keys``: reserving keys, reading what is stored under them, storing responses
(SQL on an ``AsyncConnection``; ``engine.idempotency`` says what the rows mean)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import bindparam, delete, func, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from engine.db.models import IdempotencyKey
from engine.db.records import IdempotencyKeyRecord

keys = IdempotencyKey.__table__

#: How long a stored response is replayed; an older row reads ``expired``.
RETENTION = timedelta(hours=24)

_CLAIM = insert(keys).on_conflict_do_nothing().returning(keys.c.key)
_CLAIM_MANY = insert(keys).on_conflict_do_nothing().returning(keys.c.merchant_id, keys.c.key)
_STORE = (
    update(keys)
    .where(keys.c.merchant_id == bindparam("m"), keys.c.key == bindparam("k"))
    .values(
        response_status=bindparam("status"),
        response_body=bindparam("body"),
        response_location=bindparam("location"),
    )
)


async def insert_key(
    conn: AsyncConnection, *, merchant_id: uuid.UUID, key: str, request_hash: bytes, pending_status: int
) -> bool:
    """Reserve the key (``pending_status``, an empty body) unless it exists; True if inserted.

    Waits on a concurrent transaction holding the same key, up to the connection's ``lock_timeout``.
    """
    inserted = (
        await conn.execute(
            _CLAIM,
            {
                "merchant_id": merchant_id,
                "key": key,
                "request_hash": request_hash,
                "response_status": pending_status,
                "response_body": b"",
            },
        )
    ).one_or_none()
    return inserted is not None


async def insert_keys(
    conn: AsyncConnection, new: Sequence[tuple[uuid.UUID, str, bytes]], *, pending_status: int
) -> set[tuple[uuid.UUID, str]]:
    """``insert_key`` for many (merchant id, key, request hash) in one statement; the (merchant
    id, key) pairs inserted."""
    return {
        (row.merchant_id, row.key)
        for row in await conn.execute(
            _CLAIM_MANY,
            [
                {
                    "merchant_id": merchant_id,
                    "key": key,
                    "request_hash": request_hash,
                    "response_status": pending_status,
                    "response_body": b"",
                }
                for merchant_id, key, request_hash in new
            ],
        )
    }


async def get_key(conn: AsyncConnection, merchant_id: uuid.UUID, key: str) -> IdempotencyKeyRecord | None:
    row = (
        await conn.execute(
            select(keys, (keys.c.created_at < func.now() - RETENTION).label("expired")).where(
                keys.c.merchant_id == merchant_id, keys.c.key == key
            )
        )
    ).one_or_none()
    return None if row is None else IdempotencyKeyRecord._make(row)


async def get_keys(conn: AsyncConnection, pairs: Sequence[tuple[uuid.UUID, str]]) -> list[IdempotencyKeyRecord]:
    """The rows of the (merchant id, key) pairs that exist."""
    return [
        IdempotencyKeyRecord._make(row)
        for row in await conn.execute(
            select(keys, (keys.c.created_at < func.now() - RETENTION).label("expired")).where(
                tuple_(keys.c.merchant_id, keys.c.key).in_(list(pairs))
            )
        )
    ]


async def delete_key(conn: AsyncConnection, merchant_id: uuid.UUID, key: str) -> None:
    await conn.execute(delete(keys).where(keys.c.merchant_id == merchant_id, keys.c.key == key))


async def store_response(
    conn: AsyncConnection, merchant_id: uuid.UUID, key: str, *, status: int, body: bytes, location: str | None
) -> None:
    await conn.execute(_STORE, {"m": merchant_id, "k": key, "status": status, "body": body, "location": location})


async def store_responses(
    conn: AsyncConnection, responses: Sequence[tuple[uuid.UUID, str, int, bytes, str | None]]
) -> None:
    """``store_response`` for many (merchant id, key, status, body, location) in one round trip."""
    await conn.execute(
        _STORE,
        [{"m": m, "k": k, "status": status, "body": body, "location": location} for m, k, status, body, location in responses],
    )
