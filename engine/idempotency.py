"""``Idempotency-Key`` for POST requests.

The key row is inserted in the same transaction as the work it protects and updated with the
response before commit, so a key either has its response or does not exist:

- same key, same request, within 24 h: the stored response is replayed;
- same key, different request: ``IdempotencyKeyReused`` (422);
- same key while the first request's transaction is still open: PostgreSQL makes the second
  insert wait on the first; past ``lock_timeout`` it is ``IdempotencyKeyInUse`` (409).

Only a keyed hash of the request is stored, never the body (it may carry card data). During a
root-key rotation a request also matches a hash made with a previous root key's pepper
(``earlier_hashes``), so a retry across the switch is still a replay.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from engine.db import idempotency_keys as repo
from engine.errors import EasyPayError

#: How long a request waits for another request holding the same key before a 409.
LOCK_TIMEOUT_MS = 2000
_PENDING_STATUS = 0


class IdempotencyKeyReused(EasyPayError):
    code = "idempotency_key_reused"


class IdempotencyKeyInUse(EasyPayError):
    code = "idempotency_key_in_use"


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: bytes
    location: str | None


@dataclass(frozen=True)
class KeyClaim:
    merchant_id: uuid.UUID
    key: str
    request_hash: bytes
    #: The same request's hashes under previous root keys' peppers (a rotation); they match too.
    earlier_hashes: tuple[bytes, ...] = ()


@dataclass(frozen=True)
class StoredKey:
    """A key that was already used: its request's hash and response (None: still in progress)."""

    request_hash: bytes
    response: StoredResponse | None

    def replay_for(self, request_hash: bytes, earlier_hashes: Sequence[bytes] = ()) -> StoredResponse:
        """The response to replay to a request with ``request_hash``; raises as ``claim`` does."""
        if not _same_request(self.request_hash, request_hash, earlier_hashes):
            raise IdempotencyKeyReused()
        if self.response is None:
            raise IdempotencyKeyInUse()
        return self.response


def _same_request(stored: bytes, request_hash: bytes, earlier_hashes: Sequence[bytes]) -> bool:
    return any(hmac.compare_digest(stored, h) for h in (request_hash, *earlier_hashes))


def request_fingerprint(pepper: bytes, method: str, path: str, body: bytes) -> bytes:
    """HMAC of method, path and the body's canonical JSON (key order and spacing ignored)."""
    return request_fingerprints((pepper,), method, path, body)[0]


def request_fingerprints(peppers: Sequence[bytes], method: str, path: str, body: bytes) -> tuple[bytes, ...]:
    """``request_fingerprint`` under each pepper (the current one first), canonicalising once."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        canonical = body
    digests = []
    for pepper in peppers:
        mac = hmac.new(pepper, digestmod=hashlib.sha256)
        for part in (method.upper().encode(), path.encode(), canonical):
            mac.update(len(part).to_bytes(8, "big"))
            mac.update(part)
        digests.append(mac.digest())
    return tuple(digests)


async def claim(
    conn: AsyncConnection, *, merchant_id: uuid.UUID, key: str, request_hash: bytes, earlier_hashes: Sequence[bytes] = ()
) -> StoredResponse | None:
    """Reserve ``key`` inside the caller's transaction; return the stored response to replay, if any.

    The connection's ``lock_timeout`` bounds the wait for a concurrent holder of the key (the API
    sets ``LOCK_TIMEOUT_MS``); without one, the wait lasts until that request commits.
    """
    for _ in range(2):
        try:
            inserted = await repo.insert_key(
                conn, merchant_id=merchant_id, key=key, request_hash=request_hash, pending_status=_PENDING_STATUS
            )
        except DBAPIError as exc:
            if getattr(exc.orig, "sqlstate", None) == "55P03":  # lock_not_available
                raise IdempotencyKeyInUse() from None
            raise
        if inserted:
            return None
        row = await repo.get_key(conn, merchant_id, key)
        if row is None:
            continue  # deleted between the two statements; try again
        if row.expired:
            await repo.delete_key(conn, merchant_id, key)
            continue
        if not _same_request(row.request_hash, request_hash, earlier_hashes):
            raise IdempotencyKeyReused()
        if row.response_status == _PENDING_STATUS:
            raise IdempotencyKeyInUse()
        return StoredResponse(status=row.response_status, body=row.response_body, location=row.response_location)
    raise IdempotencyKeyInUse()


async def store(
    conn: AsyncConnection, *, merchant_id: uuid.UUID, key: str, response: StoredResponse
) -> None:
    await repo.store_response(conn, merchant_id, key, status=response.status, body=response.body, location=response.location)



async def claim_many(conn: AsyncConnection, claims: list[KeyClaim]) -> dict[tuple[uuid.UUID, str], StoredKey]:
    """``claim`` for many distinct keys in one statement (a batch of requests).

    Returns what is stored for the keys that were already used, by (merchant id, key); every
    other key is now reserved by the caller's transaction. Raises ``IdempotencyKeyInUse`` when a
    key is held by another transaction past ``lock_timeout`` (the caller's transaction is then
    aborted).
    """
    if not claims:
        return {}
    try:
        inserted = await repo.insert_keys(
            conn, [(c.merchant_id, c.key, c.request_hash) for c in claims], pending_status=_PENDING_STATUS
        )
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) == "55P03":  # lock_not_available
            raise IdempotencyKeyInUse() from None
        raise
    taken = [c for c in claims if (c.merchant_id, c.key) not in inserted]
    if not taken:
        return {}
    found = {(row.merchant_id, row.key): row for row in await repo.get_keys(conn, [(c.merchant_id, c.key) for c in taken])}
    stored: dict[tuple[uuid.UUID, str], StoredKey] = {}
    for c in taken:
        row = found.get((c.merchant_id, c.key))
        if row is None or row.expired:  # deleted meanwhile, or past retention: the one-key path
            response = await claim(
                conn, merchant_id=c.merchant_id, key=c.key, request_hash=c.request_hash, earlier_hashes=c.earlier_hashes
            )
            if response is not None:
                stored[(c.merchant_id, c.key)] = StoredKey(c.request_hash, response)
            continue
        response = None
        if row.response_status != _PENDING_STATUS:
            response = StoredResponse(status=row.response_status, body=row.response_body, location=row.response_location)
        stored[(c.merchant_id, c.key)] = StoredKey(bytes(row.request_hash), response)
    return stored


async def store_many(conn: AsyncConnection, responses: list[tuple[uuid.UUID, str, StoredResponse]]) -> None:
    """``store`` for many (merchant id, key, response) in one round trip."""
    if responses:
        await repo.store_responses(conn, [(m, k, r.status, r.body, r.location) for m, k, r in responses])
