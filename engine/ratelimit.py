"""Per-credential rate limits with counters in Redis (the ``limits`` package, fixed windows).

Counters live in Redis, so every API process shares them: across N processes a key is accepted
exactly ``limit`` times per window. ``limits`` provides the windows (its rate-limit items, key
scheme, ``incr_expire`` Lua script and window statistics); what is added here is that the
increments of every window of every request that arrives at the same time go to Redis in one
pipelined round trip (``n`` requests of one key: one increment by ``n`` per window). A request is
accepted when every window's count is within its limit; a refused request takes its increments
back, so it uses up no window's allowance.
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

from engine.batching import MicroBatcher
from engine.redis_pipe import send_all
from engine import redis_keys

log = logging.getLogger(__name__)

WINDOWS: dict[str, type[RateLimitItem]] = {
    "minute": RateLimitItemPerMinute,
    "hour": RateLimitItemPerHour,
    "day": RateLimitItemPerDay,
}
WINDOW_SECONDS = {"minute": 60, "hour": 3600, "day": 86_400}


#: The largest per-window override anyone may set.
MAX_OVERRIDE = 10**9


def rate_limits_problems(value: object, *, ceilings: dict[str, int] | None = None) -> list[tuple[str, str]]:
    """Why ``value`` is not a valid ``{"minute"|"hour"|"day": n}`` override: ``(field, reason)`` pairs.

    ``ceilings`` (the default limits) bound a caller who may only lower limits: each window from 1
    to its default (a default of 0, no limit, bounds nothing). Without ``ceilings`` (admins, the CLI)
    0 — no limit on that window — up to ``MAX_OVERRIDE`` is accepted. A key that may not raise its
    limits could otherwise mint an unthrottled one.
    """
    if not isinstance(value, dict):
        return [("rate_limits", "Must be an object like {\"minute\": 100, \"hour\": 1000, \"day\": 10000}.")]
    problems = []
    for window, amount in value.items():
        field = f"rate_limits.{window}"
        if window not in WINDOWS:
            problems.append((field, f"Unknown window {window!r}; use minute, hour or day."))
        elif not isinstance(amount, int) or isinstance(amount, bool):
            problems.append((field, "Must be an integer."))
        elif ceilings is None:
            if not 0 <= amount <= MAX_OVERRIDE:
                problems.append((field, f"Must be from 0 (no limit) to {MAX_OVERRIDE}."))
        elif amount == 0:
            problems.append((field, "0 means no limit on this window; only admins may set it."))
        else:
            ceiling = ceilings.get(window) or MAX_OVERRIDE
            if not 1 <= amount <= ceiling:
                raising = " (the default); only admins may raise a limit" if ceilings.get(window) else ""
                problems.append((field, f"Must be from 1 to {ceiling}{raising}."))
    return problems


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
    """``hit(identity)`` counts one request. Concurrent hits go to Redis together
    (``engine.batching``): one pipelined round trip per group, and one increment by ``n`` per
    window for ``n`` hits of the same identity. Each hit is still counted exactly as if sent
    alone: of ``n`` hits, those that take a window past its limit are refused and taken back."""

    def __init__(self, redis: Redis, *, prefix: str, defaults: dict[str, int]) -> None:
        self._storage = RedisStorage(
            "async+redis://", implementation="redispy", key_prefix=redis_keys.rate_limit_prefix(prefix),
            # limits types its storage options as scalars only; redis-py takes a pool here.
            connection_pool=redis.connection_pool,  # type: ignore[arg-type]
        )
        self._limiter = FixedWindowRateLimiter(self._storage)
        self._redis = redis
        self._incr_sha: str | None = None
        self._defaults = defaults
        self._default_limits = self._merged(None)
        self._items: dict[tuple[str, int], RateLimitItem] = {}
        self._policies: dict[tuple[tuple[str, int], ...], str] = {}
        self._batcher: MicroBatcher[tuple[str, tuple[tuple[str, int], ...]], Decision] = MicroBatcher(
            self._hit_group, max_batch=512, name="rate-limit"
        )

    def _item(self, window: str, amount: int) -> RateLimitItem:
        item = self._items.get((window, amount))
        if item is None:
            item = self._items[(window, amount)] = WINDOWS[window](amount)
        return item

    def _merged(self, overrides: dict[str, int] | None) -> tuple[tuple[str, int], ...]:
        merged = {**self._defaults, **(overrides or {})}
        return tuple((window, merged[window]) for window in WINDOWS if merged.get(window))

    def limits_for(self, overrides: dict[str, int] | None) -> list[tuple[str, int]]:
        return list(self._default_limits if overrides is None else self._merged(overrides))

    def _policy(self, limits: tuple[tuple[str, int], ...]) -> str:
        policy = self._policies.get(limits)
        if policy is None:
            policy = self._policies[limits] = ", ".join(f"{amount};w={WINDOW_SECONDS[window]}" for window, amount in limits)
        return policy

    async def _increment(self, keyed: list[tuple[str, int, int]]) -> list[int]:
        """``limits``' incr_expire script on every (key, expiry, amount), pipelined; the new counts."""
        if self._incr_sha is None:
            self._incr_sha = await self._redis.script_load(RedisBridge.SCRIPT_INCR_EXPIRE)
        commands = [("EVALSHA", self._incr_sha, 1, key, expiry_s, amount) for key, expiry_s, amount in keyed]
        try:
            return [int(c) for c in await send_all(self._redis, commands)]
        except NoScriptError:  # Redis restarted or its scripts were flushed
            self._incr_sha = None
            return await self._increment(keyed)

    async def hit(self, identity: str, overrides: dict[str, int] | None = None) -> Decision:
        """Count one request for ``identity``; fails open (allowed) when Redis is unreachable."""
        limits = self._default_limits if overrides is None else self._merged(overrides)
        if not limits:
            return Decision(True)
        try:
            return await self._batcher.submit((identity, limits))
        except RedisError as exc:
            log.warning("rate limit check failed, allowing the request: %s", exc)
            return Decision(True)

    async def _hit_group(self, hits: list[tuple[str, tuple[tuple[str, int], ...]]]) -> list[Decision]:
        groups: dict[tuple[str, tuple[tuple[str, int], ...]], list[int]] = {}
        for i, hit in enumerate(hits):
            groups.setdefault(hit, []).append(i)
        keyed: list[tuple[str, int, int]] = []
        for (identity, limits), members in groups.items():
            for window, amount in limits:
                item = self._item(window, amount)
                keyed.append((self._storage.bridge.prefixed_key(item.key_for(identity)), item.get_expiry(), len(members)))
        counts = iter(await self._increment(keyed))
        keys = iter(keyed)
        decisions: list[Decision] = [Decision(True)] * len(hits)
        refunds: list[tuple[str, int]] = []
        for (identity, limits), members in groups.items():
            n = len(members)
            group_keys = [next(keys)[0] for _ in limits]
            before = [next(counts) - n for _ in limits]
            policy = self._policy(limits)
            allowed = min(n, *(max(0, amount - b) for (_, amount), b in zip(limits, before)))
            for j, i in enumerate(members[:allowed]):
                left, window, amount = min((amount - (b + j + 1), window, amount) for (window, amount), b in zip(limits, before))
                decisions[i] = Decision(True, window, amount, left, policy=policy)
            if allowed == n:
                continue
            refunds.extend((key, n - allowed) for key in group_keys)
            resets: dict[str, int] = {}
            for j, i in enumerate(members[allowed:], start=allowed):
                window, amount = next((w, a) for (w, a), b in zip(limits, before) if b + j + 1 > a)
                if window not in resets:
                    stats = await self._limiter.get_window_stats(self._item(window, amount), identity)
                    resets[window] = max(1, int(stats.reset_time - time.time() + 0.999))
                decisions[i] = Decision(False, window, amount, 0, resets[window], policy)
        if refunds:  # a refused request uses up no window's allowance
            await send_all(self._redis, [("DECRBY", key, amount) for key, amount in refunds])
        return decisions
