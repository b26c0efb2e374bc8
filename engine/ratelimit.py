"""Per-credential rate limits with counters in Redis (the ``limits`` package, fixed windows).

Counters live in Redis, so every API process shares them: across N processes a key is accepted
exactly ``limit`` times per window. Windows are checked shortest first and checking stops at
the first one exceeded, so a rejected request does not use up the longer windows.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from limits import RateLimitItem, RateLimitItemPerDay, RateLimitItemPerHour, RateLimitItemPerMinute
from limits.aio.storage import RedisStorage
from limits.aio.strategies import FixedWindowRateLimiter
from redis.asyncio import Redis
from redis.exceptions import RedisError

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

    async def hit(self, identity: str, overrides: dict[str, int] | None = None) -> Decision:
        """Count one request for ``identity``; fails open (allowed) when Redis is unreachable.

        This is ``FixedWindowRateLimiter.hit`` with the counter kept (``limits`` storage ``incr``),
        so the remaining allowance is known without another round trip.
        """
        limits = self.limits_for(overrides)
        if not limits:
            return Decision(True)
        policy = ", ".join(f"{amount};w={WINDOW_SECONDS[window]}" for window, amount in limits)
        remaining: list[tuple[int, str, int]] = []
        try:
            for window, amount in limits:
                item = self._item(window, amount)
                count = await self._storage.incr(item.key_for(identity), item.get_expiry())
                if count > amount:
                    stats = await self._limiter.get_window_stats(item, identity)
                    reset_after_s = max(1, int(stats.reset_time - time.time() + 0.999))
                    return Decision(False, window, amount, 0, reset_after_s, policy)
                remaining.append((amount - count, window, amount))
        except RedisError as exc:
            log.warning("rate limit check failed, allowing the request: %s", exc)
            return Decision(True)
        left, window, amount = min(remaining)
        return Decision(True, window, amount, left, policy=policy)
