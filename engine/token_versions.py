"""Is a user token still good? Its ``ver`` claim against the user's ``token_version`` in PostgreSQL.

Disabling a user, or changing the role or password, bumps ``users.token_version`` in the same
transaction as the change; every token issued before carries an older version and is refused.
The database is the only authority, so the answer never depends on Redis (which runs without
persistence and may be down or restarted empty).

The current version of each user is remembered in-process for ``cache_ttl_s`` (1 s by default):
most requests cost no round trip, and a change reaches every API process within that time. When
neither the memory nor the database can answer, the database's error propagates (the API's error
handler turns an outage into 503 with Retry-After, ``engine.outages``): never "allowed".
"""

from __future__ import annotations

import time
import uuid

from cachetools import TTLCache
from sqlalchemy.ext.asyncio import AsyncEngine

from engine.auth import Principal
from engine.db.accounts import current_token_version

#: How long a user's current token version is remembered in-process (seconds).
TOKEN_VERSION_CACHE_TTL_S = 1.0


class TokenVersions:
    def __init__(self, engine: AsyncEngine, *, cache_ttl_s: float = TOKEN_VERSION_CACHE_TTL_S) -> None:
        self._engine = engine
        self.cache_ttl_s = cache_ttl_s
        #: user id -> current version, or None for a disabled or deleted user.
        self._cache: TTLCache[uuid.UUID, int | None] = TTLCache(maxsize=10_000, ttl=cache_ttl_s, timer=time.monotonic)

    async def accepts(self, principal: Principal) -> bool:
        """True if the user is enabled and the token carries the user's current version."""
        if principal.token_version is None:
            return False
        return principal.token_version == await self.current(uuid.UUID(principal.actor_id))

    async def current(self, user_id: uuid.UUID) -> int | None:
        try:
            return self._cache[user_id]
        except KeyError:
            pass
        async with self._engine.connect() as conn:
            version = await current_token_version(conn, user_id)
        self._cache[user_id] = version
        return version

    def forget(self, user_id: uuid.UUID) -> None:
        """Drop the remembered version (this process changed the user: no need to wait the TTL)."""
        self._cache.pop(user_id, None)
