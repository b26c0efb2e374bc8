"""Re-seal what is stored sealed with the root key's box onto its current key (a root-key rotation).

Two things in PostgreSQL are sealed with ``engine.sealing.SecretBox``: webhook endpoint
secrets (``secret_sealed``, and ``previous_secret_sealed`` during a secret's rotation grace) and the
stored answers of idempotent requests that carry a secret (``response_body`` starting ``v1.``,
bound to ``idempotency:<owner>:<key>``). Each is opened with whichever key sealed it and sealed
again with the current key; a row already on the current key is left alone, so running this
twice is harmless. Every update is a compare-and-set on the sealed value that was read: a secret
rotated or an answer replaced meanwhile is not overwritten (it was sealed with the current key).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine

from engine.db import sealed
from engine.sealing import SecretBox, SecretUnreadable

log = logging.getLogger(__name__)

_SEALED_PREFIX = b"v1."


@dataclass
class ResealCounts:
    #: Sealed values moved onto the current key.
    resealed: int = 0
    #: Sealed values already on the current key.
    current: int = 0
    #: Sealed values no key of this process opens (left as they are), as ``table:id``.
    unreadable: list[str] = field(default_factory=list)


def _reseal(box: SecretBox, token: str, context: str, where: str, counts: ResealCounts) -> str | None:
    try:
        fresh = box.reseal(token, context=context)
    except SecretUnreadable:
        counts.unreadable.append(where)
        return None
    if fresh is None:
        counts.current += 1
    else:
        counts.resealed += 1
    return fresh


async def reseal_webhook_secrets(engine: AsyncEngine, box: SecretBox, *, batch: int = 500) -> ResealCounts:
    counts = ResealCounts()
    after: uuid.UUID | None = None
    while True:
        async with engine.begin() as conn:
            rows = await sealed.endpoint_secrets_page(conn, after=after, limit=batch)
            for row in rows:
                context = str(row.id)
                secret = _reseal(box, row.secret_sealed, context, f"webhook_endpoints:{row.id}", counts)
                previous = None
                if row.previous_secret_sealed:
                    previous = _reseal(box, row.previous_secret_sealed, context, f"webhook_endpoints:{row.id}:previous", counts)
                if secret is None and previous is None:
                    continue
                await sealed.replace_endpoint_secrets(
                    conn, row, secret_sealed=secret or row.secret_sealed, previous_secret_sealed=previous or row.previous_secret_sealed
                )
        if len(rows) < batch:
            return counts
        after = rows[-1].id


async def reseal_idempotent_replies(engine: AsyncEngine, box: SecretBox, *, batch: int = 500) -> ResealCounts:
    counts = ResealCounts()
    after: tuple[uuid.UUID, str] | None = None
    while True:
        async with engine.begin() as conn:
            rows = await sealed.sealed_replies_page(conn, prefix=_SEALED_PREFIX, after=after, limit=batch)
            for row in rows:
                body = bytes(row.response_body)
                where = f"idempotency_keys:{row.merchant_id}:{row.key}"
                fresh = _reseal(box, body.decode(), f"idempotency:{row.merchant_id}:{row.key}", where, counts)
                if fresh is None:
                    continue
                await sealed.replace_reply(conn, row, body=body, response_body=fresh.encode())
        if len(rows) < batch:
            return counts
        after = (rows[-1].merchant_id, rows[-1].key)


async def reseal_all(engine: AsyncEngine, box: SecretBox) -> dict[str, ResealCounts]:
    """Re-seal webhook secrets and sealed idempotent answers; counts by what was re-sealed."""
    result = {
        "webhook_secrets": await reseal_webhook_secrets(engine, box),
        "idempotent_replies": await reseal_idempotent_replies(engine, box),
    }
    for name, counts in result.items():
        log.info("re-sealed %s: %d moved, %d already current, %d unreadable", name, counts.resealed, counts.current, len(counts.unreadable))
    return result
