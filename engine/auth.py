"""Who is calling: API keys ``ak_<key_id>:sk_<secret>`` and the ``Principal`` every route acts as.

The secret is shown once and stored only as HMAC-SHA256(pepper, secret), where the pepper is
derived from ``EASYPAY_SECRET_KEY``; verification compares in constant time.

Validation is cached in two tiers so the hot path costs no database round trip:

1. in-process, for ``local_ttl_s`` (1 s): most requests touch neither Redis nor PostgreSQL;
2. in Redis, for ``shared_ttl_s``: one record per key id (hash of the secret, merchant, role,
   expiry, revoked flag, rate limits), shared by every API process. Each record is signed
   (``KeyRecords``): whoever can write to Redis cannot forge one (revive a revoked key, change
   its merchant or role); a record whose MAC does not verify is ignored and PostgreSQL decides.

A revocation writes the database, then overwrites the Redis record with a revoked one
(``mark_revoked``); a reader that filled the record from the database never overwrites an
existing record (``SET NX``), so a revocation cannot be undone by a slow reader. Every process
re-reads Redis at the latest ``local_ttl_s`` later: the key stops working everywhere within 1 s.

Root-key rotation (``EASYPAY_PREVIOUS_SECRET_KEYS``): a secret whose stored hash was made with the
pepper of a previous root key still authenticates, and that first success re-hashes it with the
current pepper (in PostgreSQL, where the hash is still the old one and the key is not revoked,
then in the Redis record only if it is still the one that was read): a key in use moves onto the
current pepper by itself. A key unused during the rotation keeps its old hash and stops working
once its previous key is dropped. While the switch rolls out, a process still on the old key (which
holds the new one as a previous key) may move a key back; it settles once every process has
switched. Records signed with a previous key verify.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import logging
import re
import secrets
import time
import uuid
from dataclasses import dataclass, field
from collections.abc import Sequence
from typing import Any, Awaitable, Callable

from cachetools import TTLCache
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from engine.db import api_key_secrets
from engine.db.records import ApiKeySecretRecord
from engine.permissions import ROLES, role_allows
from engine import redis_keys

log = logging.getLogger(__name__)

__all__ = ["ROLES", "ApiKeyAuthenticator", "IssuedKey", "Principal", "KeyRecords", "derive_pepper", "derive_record_key", "hash_secret", "issue_key", "parse_key"]

_KEY_RE = re.compile(r"^ak_([a-z0-9]{16}):sk_([A-Za-z0-9_-]{32,64})$")
_KEY_ID_RE = re.compile(r"^ak_([a-z0-9]{16})(?::|$)")
#: A validation outcome: the key id exists (not revoked) but the secret does not match it.
_WRONG_SECRET = "wrong_secret"
#: Validation outcomes kept in-process at most (``ApiKeyAuthenticator._cache``).
_LOCAL_MAX = 10_000


@dataclass(frozen=True)
class Principal:
    """The caller: an API key or a user, its home merchant and its role.

    ``scope`` is what every query is limited to: the merchant id, or None for an admin (every
    merchant).
    """

    actor_type: str  # "api_key" | "user"
    actor_id: str
    merchant_id: uuid.UUID | None
    role: str
    #: Per-key rate-limit overrides, e.g. ``{"minute": 500}``; None means the defaults.
    rate_limits: dict[str, int] | None = field(default=None, compare=False)
    #: For user tokens: the user's ``token_version`` when the token was issued.
    token_version: int | None = field(default=None, compare=False)

    @functools.cached_property
    def merchant_label(self) -> str | None:
        """``merchant_id`` as text (log context), formatted once per principal, not per request."""
        return None if self.merchant_id is None else str(self.merchant_id)

    @property
    def scope(self) -> uuid.UUID | None:
        return None if self.role == "admin" else self.merchant_id

    @property
    def key_id(self) -> str | None:
        return self.actor_id if self.actor_type == "api_key" else None

    def can(self, permission: str) -> bool:
        return role_allows(self.role, permission)

    def may_act_for(self, merchant_id: uuid.UUID) -> bool:
        return self.scope is None or self.scope == merchant_id


@dataclass(frozen=True)
class IssuedKey:
    key_id: str
    secret: str

    @property
    def token(self) -> str:
        return f"ak_{self.key_id}:sk_{self.secret}"

    def __repr__(self) -> str:
        return f"IssuedKey(key_id={self.key_id!r}, secret=<hidden>)"


def derive_pepper(secret_key: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"easypay:api-key-pepper:v1").derive(
        secret_key
    )


def hash_secret(pepper: bytes, secret: str) -> bytes:
    return hmac.digest(pepper, secret.encode(), "sha256")


def issue_key() -> IssuedKey:
    return IssuedKey(key_id=secrets.token_hex(8), secret=secrets.token_urlsafe(32))


def parse_key(token: str) -> tuple[str, str] | None:
    """Split ``ak_<id>:sk_<secret>``; None if it is not shaped like one of our keys."""
    match = _KEY_RE.match(token.strip())
    return (match.group(1), match.group(2)) if match else None


def presented_key_id(token: str) -> str | None:
    """The key id of something shaped like a key (for the audit log of a failed attempt), never the secret."""
    match = _KEY_ID_RE.match(token.strip())
    return match.group(1) if match else None


def key_record_name(prefix: str, key_id: str) -> str:
    return redis_keys.api_key_record(prefix, key_id)


def derive_record_key(secret_key: bytes) -> bytes:
    """The MAC key of the shared key records: its own HKDF label, independent of the pepper."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"easypay:api-key-record-mac:v1").derive(
        secret_key
    )


_REPLACE_IF_SAME = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
end
return false
"""

#: ``KeyRecords.read`` of a record present in Redis whose MAC does not verify.
FORGED = object()
_RECORD_VERSION = b"v1"


class KeyRecords:
    """The signed shared records of API keys in Redis: ``v1.<hex mac>.<json>``.

    The MAC covers the Redis key name (so a record cannot be moved to another key id) and the
    JSON, which carries its own ``exp`` (so an old genuine record, e.g. from before a revocation,
    stops verifying once its TTL has passed: replaying one is possible only within that TTL).
    """

    def __init__(self, redis: Redis, *, prefix: str, mac_key: bytes, previous_mac_keys: Sequence[bytes] = ()) -> None:
        self.redis = redis
        self._prefix = prefix
        self._mac_key = mac_key
        #: Keys of previous root keys: records they signed still verify (they are rewritten with
        #: the current key as they expire and are refilled).
        self._verify_keys = (mac_key, *previous_mac_keys)

    def name(self, key_id: str) -> str:
        return key_record_name(self._prefix, key_id)

    def _mac(self, name: str, body: bytes, key: bytes | None = None) -> bytes:
        return hmac.new(key or self._mac_key, _RECORD_VERSION + b"\0" + name.encode() + b"\0" + body, hashlib.sha256).digest()

    def seal(self, key_id: str, record: dict[str, Any], *, ttl_s: int) -> bytes:
        body = json.dumps({**record, "exp": time.time() + ttl_s}, separators=(",", ":")).encode()
        return b".".join((_RECORD_VERSION, self._mac(self.name(key_id), body).hex().encode(), body))

    def open(self, key_id: str, raw: bytes | str) -> dict[str, Any] | None:
        """The record, or None if it is not one we signed for this key id (or it has expired)."""
        data = raw.encode() if isinstance(raw, str) else raw
        version, _, rest = data.partition(b".")
        mac_hex, _, body = rest.partition(b".")
        try:
            mac = bytes.fromhex(mac_hex.decode("ascii"))
        except (ValueError, UnicodeDecodeError):
            return None
        name = self.name(key_id)
        if version != _RECORD_VERSION or not any(hmac.compare_digest(mac, self._mac(name, body, key)) for key in self._verify_keys):
            return None
        record = json.loads(body)
        if not isinstance(record, dict) or record.pop("exp", 0) <= time.time():
            return None
        return record

    async def read(self, key_id: str) -> dict[str, Any] | None | object:
        """The verified record, None if there is none, ``FORGED`` if one is there but does not verify."""
        raw = await self.redis.get(self.name(key_id))
        if raw is None:
            return None
        record = self.open(key_id, raw)
        return FORGED if record is None else record

    async def write(self, key_id: str, record: dict[str, Any], *, ttl_s: int, nx: bool = False) -> None:
        await self.redis.set(self.name(key_id), self.seal(key_id, record, ttl_s=ttl_s), ex=ttl_s, nx=nx)

    async def replace_hash(self, key_id: str, *, old_hash: bytes, record: dict[str, Any], ttl_s: int) -> None:
        """Write ``record`` only over a live record of the same key that still carries ``old_hash``
        (compare-and-set: a revocation written meanwhile is never overwritten)."""
        name = self.name(key_id)
        raw = await self.redis.get(name)
        if raw is None:
            return
        current = self.open(key_id, raw)
        if current is None or current.get("revoked") or current.get("hash") != old_hash.hex():
            return
        await self.redis.eval(_REPLACE_IF_SAME, 1, name, raw, self.seal(key_id, record, ttl_s=ttl_s), ttl_s)


async def mark_revoked(records: KeyRecords, key_id: str, *, ttl_s: int = 3600) -> None:
    """Overwrite the shared record of ``key_id`` with a revoked one (call after the database commit)."""
    await records.write(key_id, {"revoked": True}, ttl_s=ttl_s)


class ApiKeyAuthenticator:
    def __init__(
        self,
        engine: AsyncEngine,
        pepper: bytes,
        *,
        previous_peppers: Sequence[bytes] = (),
        records: KeyRecords | None = None,
        local_ttl_s: float = 1.0,
        shared_ttl_s: int = 300,
        on_success: Callable[[str], None] | None = None,
        on_wrong_secret: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self._engine = engine
        self._pepper = pepper
        self._previous_peppers = tuple(previous_peppers)
        self._records = records
        #: Key ids whose forged record was already logged (once per key id, not per request).
        self._forged_logged: TTLCache[str, bool] = TTLCache(maxsize=1000, ttl=3600, timer=time.monotonic)
        self._shared_ttl_s = shared_ttl_s
        self._on_success = on_success
        self._on_wrong_secret = on_wrong_secret
        #: (key id, hash of the secret) -> (outcome, monotonic expiry): a plain dict (read on every
        #: request), emptied when it reaches ``_LOCAL_MAX`` (the outcomes are then read again).
        self._local_ttl_s = local_ttl_s
        self._cache: dict[tuple[str, bytes], tuple[Principal | str | None, float]] = {}

    async def authenticate(self, token: str) -> Principal | None:
        parsed = parse_key(token)
        if parsed is None:
            await self._malformed_secret(token)
            return None
        key_id, secret = parsed
        digest = hash_secret(self._pepper, secret)
        cache_key = (key_id, digest)
        cached = self._cache.get(cache_key)
        if cached is not None and cached[1] > time.monotonic():
            outcome = cached[0]
        else:
            record = await self._record(key_id)
            outcome = self._verify(key_id, digest, record)
            if outcome == _WRONG_SECRET and self._previous_peppers and record is not None:
                outcome = await self._verify_previous(key_id, secret, digest, record)
            if len(self._cache) >= _LOCAL_MAX:
                self._cache.clear()
            self._cache[cache_key] = (outcome, time.monotonic() + self._local_ttl_s)
        if isinstance(outcome, Principal):
            if self._on_success is not None:
                self._on_success(key_id)
            return outcome
        if outcome == _WRONG_SECRET and self._on_wrong_secret is not None:
            await self._on_wrong_secret(key_id)
        return None

    async def _malformed_secret(self, token: str) -> None:
        """A real key id with a secret not even shaped like ours is a wrong secret too."""
        key_id = presented_key_id(token)
        if key_id is None or self._on_wrong_secret is None:
            return
        record = await self._record(key_id)
        if record is not None and "hash" in record and not record.get("revoked"):
            await self._on_wrong_secret(key_id)

    def _verify(self, key_id: str, digest: bytes, record: dict[str, Any] | None) -> Principal | str | None:
        """The principal; ``_WRONG_SECRET`` when the id names a live key but the secret is wrong; else None."""
        if record is None or record.get("revoked") or "hash" not in record:
            return None
        if not hmac.compare_digest(bytes.fromhex(record["hash"]), digest):
            return _WRONG_SECRET
        expires_at = record.get("expires_at")
        if expires_at is not None and expires_at <= time.time():
            return None
        return Principal(
            actor_type="api_key",
            actor_id=key_id,
            merchant_id=uuid.UUID(record["merchant_id"]),
            role=record["role"],
            rate_limits=record.get("rate_limits"),
        )

    async def _verify_previous(self, key_id: str, secret: str, digest: bytes, record: dict[str, Any]) -> Principal | str | None:
        """``_verify`` with the peppers of previous root keys; a match is re-hashed with the current one."""
        for pepper in self._previous_peppers:
            old_digest = hash_secret(pepper, secret)
            outcome = self._verify(key_id, old_digest, record)
            if outcome != _WRONG_SECRET:
                if isinstance(outcome, Principal):
                    await self._rehash(key_id, old_digest, digest)
                return outcome
        return _WRONG_SECRET

    async def _rehash(self, key_id: str, old_digest: bytes, digest: bytes) -> None:
        """Move the stored hash onto the current pepper. Best effort: the caller is authenticated
        either way, and a key not moved now is moved on a later use."""
        try:
            async with self._engine.begin() as conn:
                row = await api_key_secrets.rehash_key(conn, key_id, old_hash=old_digest, new_hash=digest)
        except (SQLAlchemyError, OSError) as exc:
            log.warning("API key %s could not be re-hashed with the current pepper: %s", key_id, type(exc).__name__)
            return
        if row is None:
            return  # re-hashed by another process meanwhile, or revoked: nothing to move
        log.info("API key %s re-hashed with the current root key's pepper", key_id)
        if self._records is not None:
            try:
                await self._records.replace_hash(key_id, old_hash=old_digest, record=_record_of(row), ttl_s=self._shared_ttl_s)
            except RedisError as exc:
                log.warning("API key cache write failed: %s", exc)

    async def _record(self, key_id: str) -> dict[str, Any] | None:
        """The key's record from Redis, else from PostgreSQL (then shared through Redis)."""
        if self._records is not None:
            try:
                cached = await self._records.read(key_id)
                if cached is FORGED:
                    self._log_forged(key_id)
                elif cached is not None:
                    return cached  # type: ignore[return-value]
            except RedisError as exc:
                log.warning("API key cache read failed: %s", exc)
        record = await self._load(key_id)
        if self._records is not None:
            try:
                # NX: never overwrite a record written meanwhile (e.g. by a revocation). A forged
                # record stays until its TTL: each process then reads PostgreSQL at most once per
                # ``local_ttl_s`` for that key.
                await self._records.write(key_id, record or {"missing": True}, ttl_s=self._shared_ttl_s, nx=True)
            except RedisError as exc:
                log.warning("API key cache write failed: %s", exc)
        return record

    def _log_forged(self, key_id: str) -> None:
        if key_id not in self._forged_logged:
            self._forged_logged[key_id] = True
            log.error("API key record in Redis for key %s failed its MAC check: ignored, read from PostgreSQL", key_id)

    async def _load(self, key_id: str) -> dict[str, Any] | None:
        async with self._engine.connect() as conn:
            row = await api_key_secrets.get_key_with_secret(conn, key_id)
        if row is None:
            return None
        return _record_of(row)


def _record_of(row: ApiKeySecretRecord) -> dict[str, Any]:
    """The shared record of an ``api_keys`` row."""
    if row.revoked_at is not None:
        return {"revoked": True}
    return {
        "hash": bytes(row.secret_hash).hex(),
        "merchant_id": str(row.merchant_id),
        "role": row.role,
        "expires_at": row.expires_at.timestamp() if row.expires_at is not None else None,
        "rate_limits": row.rate_limits,
    }
