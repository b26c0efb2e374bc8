"""User access tokens: HS256 JWTs (PyJWT) signed with a key derived from ``EASYPAY_SECRET_KEY``.

The signing key comes from HKDF with its own ``info`` label, so it is independent of the API-key
pepper and the card-message key. Verification accepts HS256 only (never ``none`` or another
algorithm), and requires ``exp``, ``iat``, ``nbf``, ``sub``, ``role``, ``ver``, issuer and audience.

``ver`` is the user's ``token_version`` at issue; the API refuses a token whose version is not
the user's current one (``engine.token_versions``), so a disable or role change voids it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from engine.auth import Principal
from engine.permissions import ROLES

ALGORITHM = "HS256"
ISSUER = "easypay"
AUDIENCE = "easypay-api"
_REQUIRED = ["exp", "iat", "nbf", "sub", "role", "ver", "iss", "aud"]


def derive_jwt_key(secret_key: bytes) -> bytes:
    """The HS256 key of ``secret_key`` (one root key; a rotation derives one per previous key too)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"easypay:jwt-hs256:v1").derive(secret_key)


@dataclass(frozen=True)
class AccessToken:
    token: str
    expires_in_s: int


class TokenService:
    """Signs with ``signing_key``; verifies with it, then with each of ``previous_keys`` (keys
    derived from earlier root keys during a rotation: their tokens live out their ``exp``)."""

    def __init__(self, signing_key: bytes, *, ttl_s: int = 900, previous_keys: Sequence[bytes] = ()) -> None:
        self._key = signing_key
        self._verify_keys = (signing_key, *previous_keys)
        self.ttl_s = ttl_s

    def issue(
        self, *, user_id: uuid.UUID, merchant_id: uuid.UUID | None, role: str, version: int, now: float | None = None
    ) -> AccessToken:
        now = now if now is not None else time.time()
        issued_at = int(now)
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": str(user_id),
            "merchant": str(merchant_id) if merchant_id is not None else None,
            "role": role,
            "ver": version,
            "iat": issued_at,
            "nbf": issued_at,
            "exp": issued_at + self.ttl_s,
            "jti": uuid.uuid4().hex,
        }
        return AccessToken(jwt.encode(claims, self._key, algorithm=ALGORITHM), self.ttl_s)

    def _decode(self, token: str) -> dict[str, Any]:
        for key in self._verify_keys[:-1]:
            try:
                return self._decode_with(token, key)
            except jwt.InvalidSignatureError:
                continue  # perhaps signed with an earlier root key
        return self._decode_with(token, self._verify_keys[-1])

    @staticmethod
    def _decode_with(token: str, key: bytes) -> dict[str, Any]:
        return jwt.decode(
            token, key, algorithms=[ALGORITHM], audience=AUDIENCE, issuer=ISSUER, options={"require": _REQUIRED}
        )

    def verify(self, token: str) -> Principal | None:
        """The principal the token names, or None if it is invalid in any way."""
        try:
            claims = self._decode(token)
            user_id = uuid.UUID(str(claims["sub"]))
            merchant = claims.get("merchant")
            merchant_id = uuid.UUID(merchant) if merchant else None
        except (jwt.PyJWTError, ValueError, TypeError):
            return None
        role, version = claims["role"], claims["ver"]
        if role not in ROLES or (merchant_id is None and role != "admin"):
            return None
        if not isinstance(version, int) or isinstance(version, bool) or version < 0:
            return None
        return Principal(
            actor_type="user",
            actor_id=str(user_id),
            merchant_id=merchant_id,
            role=role,
            token_version=version,
        )


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2 and not token.startswith("ak_")
