"""Per-credential rate limits with counters in Redis (the ``limits`` package, fixed windows).

Counters live in Redis, so every API process shares them: across N processes a key is accepted
exactly ``limit`` times per window. ``limits`` provides the windows (its rate-limit items and key
scheme, so its window statistics read our counters); each hit is one atomic script (``_HIT``)
over every window of the request: counted one by one, and a refused request takes its increments
back, so it uses up no window's allowance. The script goes to Redis with whatever else the
process sends in the same event-loop step (``engine.redis_commands``): a poll's rate-limit hit
and its payment snapshot read are one round trip.
"""

from __future__ import annotations

import logging
from typing import Any, NamedTuple


from limits import RateLimitItem, RateLimitItemPerDay, RateLimitItemPerHour, RateLimitItemPerMinute
from limits.aio.storage import RedisStorage
from redis.asyncio import Redis
from redis.exceptions import NoScriptError, RedisError

from engine.redis_commands import RedisCommands
from engine import redis_keys

log = logging.getLogger(__name__)

WINDOWS: dict[str, type[RateLimitItem]] = {
    "minute": RateLimitItemPerMinute,
    "hour": RateLimitItemPerHour,
    "day": RateLimitItemPerDay,
}
WINDOW_SECONDS = {"minute": 60, "hour": 3600, "day": 86_400}


#: Identities whose script arguments are kept at most (``RateLimiter._scripts``).
_MAX_SCRIPTS = 10_000

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


class Decision(NamedTuple):
    """What one hit decided (immutable; a tuple: one is made per request)."""

    allowed: bool
    #: The window that decided (the exceeded one, or the tightest when allowed).
    window: str | None = None
    limit: int = 0
    remaining: int = 0
    reset_after_s: int = 0
    policy: str = ""


#: KEYS = the hit's window counters; ARGV = each window's limit and expiry (seconds), in turn.
#: Counts the hit in every window (``limits``' fixed-window increment: the first hit of a window
#: sets its expiry); if that takes one past its limit, takes every increment back, so a refused
#: request uses up no window's allowance. Returns ``{0, count_1, ...}`` when allowed, else
#: ``{i, ttl_i}``: the first window exceeded and the seconds until it resets. One atomic step,
#: so concurrent hits from any number of processes are counted one by one.
_HIT = """
local counts = {}
for i, key in ipairs(KEYS) do
  local count = redis.call('INCRBY', key, 1)
  if count == 1 then redis.call('EXPIRE', key, ARGV[2 * i]) end
  counts[i] = count
end
for i, key in ipairs(KEYS) do
  if counts[i] > tonumber(ARGV[2 * i - 1]) then
    for _, taken in ipairs(KEYS) do redis.call('DECRBY', taken, 1) end
    return {i, redis.call('TTL', key)}
  end
end
table.insert(counts, 1, 0)
return counts
"""


class RateLimiter:
    """``hit(identity)`` counts one request: one atomic script on every window (``_HIT``), sent
    with whatever else the process sends Redis in the same event-loop step
    (``engine.redis_commands``): no round trip of its own."""

    def __init__(self, redis: Redis, *, prefix: str, defaults: dict[str, int], commands: RedisCommands | None = None) -> None:
        self._storage = RedisStorage(
            "async+redis://", implementation="redispy", key_prefix=redis_keys.rate_limit_prefix(prefix),
            # limits types its storage options as scalars only; redis-py takes a pool here.
            connection_pool=redis.connection_pool,  # type: ignore[arg-type]
        )
        self._redis = redis
        self._commands = commands or RedisCommands(redis)
        self._hit_sha: str | None = None
        self._defaults = defaults
        self._default_limits = self._merged(None)
        #: (identity, limits) -> the script's keys and arguments, computed once per credential
        #: (emptied when it grows past ``_MAX_SCRIPTS``: client addresses are identities too).
        self._scripts: dict[tuple[str, tuple[tuple[str, int], ...]], tuple[Any, ...]] = {}
        self._policies: dict[tuple[tuple[str, int], ...], str] = {}

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

    def _script_args(self, identity: str, limits: tuple[tuple[str, int], ...]) -> tuple[Any, ...]:
        """``numkeys, *keys, *(limit, expiry)``: ``limits``' key of each window (its key scheme)."""
        args = self._scripts.get((identity, limits))
        if args is None:
            items = [WINDOWS[window](amount) for window, amount in limits]
            keys = [self._storage.bridge.prefixed_key(item.key_for(identity)) for item in items]
            pairs = [value for item in items for value in (item.amount, item.get_expiry())]
            if len(self._scripts) >= _MAX_SCRIPTS:
                self._scripts.clear()
            args = self._scripts[(identity, limits)] = (len(keys), *keys, *pairs)
        return args

    async def hit(self, identity: str, overrides: dict[str, int] | None = None) -> Decision:
        """Count one request for ``identity``; fails open (allowed) when Redis is unreachable."""
        limits = self._default_limits if overrides is None else self._merged(overrides)
        if not limits:
            return _ALLOWED
        try:
            while True:  # once more if Redis restarted or its scripts were flushed (NOSCRIPT)
                if self._hit_sha is None:
                    self._hit_sha = await self._redis.script_load(_HIT)
                (reply,) = await self._commands.run([("EVALSHA", self._hit_sha, *self._script_args(identity, limits))])
                if not isinstance(reply, NoScriptError):
                    break
                self._hit_sha = None
            if isinstance(reply, Exception):
                raise reply
        except RedisError as exc:
            log.warning("rate limit check failed, allowing the request: %s", exc)
            return _ALLOWED
        policy = self._policy(limits)
        exceeded = reply[0]
        if exceeded:
            window, amount = limits[exceeded - 1]
            return Decision(False, window, amount, 0, max(1, reply[1]), policy)
        left, window, amount = min([(amount - count, window, amount) for (window, amount), count in zip(limits, reply[1:])])
        return Decision(True, window, amount, left, 0, policy)


_ALLOWED = Decision(True)
