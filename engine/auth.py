"""API keys: ``ak_<key_id>:sk_<secret>``.

The secret is shown once and stored only as HMAC-SHA256(pepper, secret), where the pepper is
derived from ``EASYPAY_SECRET_KEY``; verification compares in constant time. A validated key is
cached in-process for ``cache_ttl_s`` (1 s), so a revocation takes effect within that time on
every API process while the hot path costs at most one database read per key per second.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

from cachetools import TTLCache
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from engine.db.models import ApiKey

ROLES = ("admin", "merchant", "developer", "viewer")
_KEY_RE = re.compile(r"^ak_([a-z0-9]{16}):sk_([A-Za-z0-9_-]{32,64})$")


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key and the merchant every query is scoped to."""

    key_id: str
    merchant_id: uuid.UUID
    role: str


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
    return hmac.new(pepper, secret.encode(), hashlib.sha256).digest()


def issue_key() -> IssuedKey:
    return IssuedKey(key_id=secrets.token_hex(8), secret=secrets.token_urlsafe(32))


def parse_key(token: str) -> tuple[str, str] | None:
    """Split ``ak_<id>:sk_<secret>``; None if it is not shaped like one of our keys."""
    match = _KEY_RE.match(token.strip())
    return (match.group(1), match.group(2)) if match else None


class ApiKeyAuthenticator:
    def __init__(self, engine: AsyncEngine, pepper: bytes, *, cache_ttl_s: float = 1.0) -> None:
        self._engine = engine
        self._pepper = pepper
        self._cache: TTLCache[str, Principal | None] = TTLCache(maxsize=10_000, ttl=cache_ttl_s, timer=time.monotonic)

    async def authenticate(self, token: str) -> Principal | None:
        parsed = parse_key(token)
        if parsed is None:
            return None
        key_id, secret = parsed
        digest = hash_secret(self._pepper, secret)
        cache_key = f"{key_id}:{digest.hex()}"
        if cache_key in self._cache:
            return self._cache[cache_key]
        principal = await self._load(key_id, digest)
        self._cache[cache_key] = principal
        return principal

    async def _load(self, key_id: str, digest: bytes) -> Principal | None:
        keys = ApiKey.__table__
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(keys).where(keys.c.id == key_id))).one_or_none()
        if row is None or not hmac.compare_digest(row.secret_hash, digest):
            return None
        now = datetime.now(timezone.utc)
        if row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
            return None
        return Principal(key_id=row.id, merchant_id=row.merchant_id, role=row.role)
