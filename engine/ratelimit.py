"""Per-credential rate limits with counters in Redis (the ``limits`` package, fixed windows).

Counters live in Redis, so every API process shares them: across N processes a key is accepted
exactly ``limit`` times per window. ``limits`` provides the windows (its rate-limit items, key
scheme, ``incr_expire`` Lua script and window statistics); the one thing added here is that
the increments of all of a key's windows go to Redis in one pipelined round trip instead of one
per window. A request is accepted when every window's count is within its limit; a refused
request takes its increments back, so it uses up no window's allowance.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from limits import RateLimitItem, RateLimitItemPerDay, RateLimitItemPerHour, RateLimitItemPerMinute
from limits.aio.storage import RedisStorage
from limits.aio.storage.redis.bridge import RedisBridge
from limits.aio.strategies import FixedWindowRateLimiter
from redis.asyncio import Redis
from redis.exceptions import NoScriptError, RedisError

log = logging.getLogger(__name__)

WINDOWS: dict[str, type[RateLimitItem]] = {
    "minute": RateLimitItemPerMinute,
    "hour": RateLimitItemPerHour,
    "day": RateLimitItemPerDay,
}
WINDOW_SECONDS = {"minute": 60, "hour": 3600, "day": 86_400}


def rate_limits_problem(value: object) -> str | None:
    """Why ``value`` is not a valid ``{"minute"|"hour"|"day": n}`` override, or None."""
    if not isinstance(value, dict):
        return "Must be an object like {\"minute\": 100, \"hour\": 1000, \"day\": 10000}."
    for window, amount in value.items():
        if window not in WINDOWS:
            return f"Unknown window {window!r}; use minute, hour or day."
        if not isinstance(amount, int) or isinstance(amount, bool) or not 0 <= amount <= 10**9:
            return f"{window}: must be an integer from 0 (no limit) to 1000000000."
    return None


@dataclass(frozen=True)
class Decision:
    allowed: bool
    #: The window that decided (the exceeded one, or the tightest when allowed).
    window: str | None = None
    limit: int = 0
    remaining: int = 0
    reset_after_s: int = 0
    policy: str = ""


class RateLimiter:
    def __init__(self, redis: Redis, *, prefix: str, defaults: dict[str, int]) -> None:
        self._storage = RedisStorage(
            "async+redis://", implementation="redispy", key_prefix=f"{prefix}:ratelimit",
            connection_pool=redis.connection_pool,
        )
        self._limiter = FixedWindowRateLimiter(self._storage)
        self._redis = redis
        self._incr_sha: str | None = None
        self._defaults = defaults
        self._items: dict[tuple[str, int], RateLimitItem] = {}

    def _item(self, window: str, amount: int) -> RateLimitItem:
        item = self._items.get((window, amount))
        if item is None:
            item = self._items[(window, amount)] = WINDOWS[window](amount)
        return item

    def limits_for(self, overrides: dict[str, int] | None) -> list[tuple[str, int]]:
        merged = {**self._defaults, **(overrides or {})}
        return [(window, merged[window]) for window in WINDOWS if merged.get(window)]

    async def _increment(self, keyed: list[tuple[str, int]]) -> list[int]:
        """``limits``' incr_expire script on every (key, expiry), pipelined; the new counts."""
        if self._incr_sha is None:
            self._incr_sha = await self._redis.script_load(RedisBridge.SCRIPT_INCR_EXPIRE)
        pipe = self._redis.pipeline(transaction=False)
        for key, expiry_s in keyed:
            pipe.evalsha(self._incr_sha, 1, key, expiry_s, 1)
        try:
            return [int(c) for c in await pipe.execute()]
        except NoScriptError:  # Redis restarted or its scripts were flushed
            self._incr_sha = None
            return await self._increment(keyed)

    async def hit(self, identity: str, overrides: dict[str, int] | None = None) -> Decision:
        """Count one request for ``identity``; fails open (allowed) when Redis is unreachable."""
        limits = self.limits_for(overrides)
        if not limits:
            return Decision(True)
        policy = ", ".join(f"{amount};w={WINDOW_SECONDS[window]}" for window, amount in limits)
        items = [self._item(window, amount) for window, amount in limits]
        keys = [self._storage.bridge.prefixed_key(item.key_for(identity)) for item in items]
        try:
            counts = await self._increment([(key, item.get_expiry()) for key, item in zip(keys, items)])
            for (window, amount), item, count in zip(limits, items, counts):
                if count > amount:
                    pipe = self._redis.pipeline(transaction=False)
                    for key in keys:
                        pipe.decr(key)
                    await pipe.execute()
                    stats = await self._limiter.get_window_stats(item, identity)
                    reset_after_s = max(1, int(stats.reset_time - time.time() + 0.999))
                    return Decision(False, window, amount, 0, reset_after_s, policy)
        except RedisError as exc:
            log.warning("rate limit check failed, allowing the request: %s", exc)
            return Decision(True)
        left, window, amount = min((amount - count, window, amount) for (window, amount), count in zip(limits, counts))
        return Decision(True, window, amount, left, policy=policy)
