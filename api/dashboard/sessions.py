"""Dashboard sessions: server-side, in Redis, behind an opaque cookie.

The cookie carries only a random session id (``HttpOnly``, ``SameSite=Lax``, ``Secure`` in
production, ``Path=/dashboard``); Redis keeps, under a hash of that id, the user, its merchant,
role and ``token_version`` at sign-in and the session's CSRF token, for
``EASYPAY_DASHBOARD_SESSION_TTL_S`` (``AccessSettings.dashboard_session_ttl_s``). A new
id is made at every sign-in (nothing an attacker planted before survives it), and sign-out
deletes the record. The user's ``token_version`` is checked on every request like a user
token's (``engine.token_versions``): disabling the user or changing its role or password ends
its sessions within a second.

Before sign-in there is no session: the sign-in form's CSRF token is a random value kept in a
cookie of its own and repeated in the form (double submit); a cross-site page can send neither.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from litestar.datastructures import Cookie
from redis.asyncio import Redis

from engine.auth import Principal
from engine import redis_keys

#: How long a sign-in form stays usable.
SIGN_IN_CSRF_TTL_S = 3600
SESSION_COOKIE = "easypay_session"
SIGN_IN_CSRF_COOKIE = "easypay_signin_csrf"
COOKIE_PATH = "/dashboard"


@dataclass(frozen=True)
class DashboardSession:
    user_id: str
    email: str
    merchant_id: str | None
    role: str
    token_version: int
    csrf_token: str

    def principal(self) -> Principal:
        merchant = uuid.UUID(self.merchant_id) if self.merchant_id else None
        return Principal("user", self.user_id, merchant, self.role, token_version=self.token_version)


class SessionStore:
    def __init__(self, redis: Redis, *, prefix: str, ttl_s: int) -> None:
        """``ttl_s``: how long a session lasts from its sign-in (absolute: use does not extend it)."""
        self._redis = redis
        self._prefix = prefix
        self.ttl_s = ttl_s

    def _key(self, session_id: str) -> str:
        # The id itself never reaches Redis: reading Redis gives no cookie to replay.
        digest = hashlib.sha256(session_id.encode()).hexdigest()[:40]
        return redis_keys.dashboard_session(self._prefix, digest)

    async def create(self, user: Any) -> tuple[str, DashboardSession]:
        """A new session for a ``users`` row: (the cookie's session id, the session)."""
        session_id = secrets.token_urlsafe(32)
        session = DashboardSession(
            user_id=str(user.id),
            email=user.email,
            merchant_id=str(user.merchant_id) if user.merchant_id else None,
            role=user.role,
            token_version=user.token_version,
            csrf_token=secrets.token_urlsafe(32),
        )
        await self._redis.set(self._key(session_id), json.dumps(asdict(session)), ex=self.ttl_s)
        return session_id, session

    async def get(self, session_id: str | None) -> DashboardSession | None:
        if not session_id or len(session_id) > 128:
            return None
        raw = await self._redis.get(self._key(session_id))
        if raw is None:
            return None
        try:
            return DashboardSession(**json.loads(raw))
        except (TypeError, ValueError):
            return None

    async def delete(self, session_id: str | None) -> None:
        if session_id and len(session_id) <= 128:
            await self._redis.delete(self._key(session_id))


def session_cookie(session_id: str, *, secure: bool, max_age_s: int) -> Cookie:
    return Cookie(
        key=SESSION_COOKIE, value=session_id, path=COOKIE_PATH, max_age=max_age_s,
        httponly=True, samesite="lax", secure=secure,
    )


def cleared_cookie(key: str, *, secure: bool) -> Cookie:
    return Cookie(key=key, value="", path=COOKIE_PATH, max_age=0, httponly=True, samesite="lax", secure=secure)


def sign_in_csrf_cookie(token: str, *, secure: bool) -> Cookie:
    return Cookie(
        key=SIGN_IN_CSRF_COOKIE, value=token, path=COOKIE_PATH, max_age=SIGN_IN_CSRF_TTL_S,
        httponly=True, samesite="strict", secure=secure,
    )


def tokens_match(expected: str | None, presented: Any) -> bool:
    """A CSRF check in constant time; a missing or non-text value never matches."""
    if not expected or not isinstance(presented, str) or not presented:
        return False
    return hmac.compare_digest(expected.encode(), presented.encode())
