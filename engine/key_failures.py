"""Failed checks against a real API key (its id, a wrong secret), so its merchant can see them.

A failure is counted only when the presented key id names an existing key: guesses at ids that do
not exist belong to nobody. Counts live in Redis (shared by every API process, one pipelined
round trip per failure, no database write an attacker could multiply) and are kept
``retention_s`` after the latest failure. Best effort: Redis being down loses counts, never
requests.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError
from engine import redis_keys

log = logging.getLogger(__name__)

DEFAULT_RETENTION_S = 30 * 86_400


@dataclass(frozen=True)
class KeyFailures:
    count: int
    last_at: dt.datetime


class KeyFailureCounter:
    def __init__(self, redis: Redis, *, prefix: str, retention_s: int = DEFAULT_RETENTION_S) -> None:
        self._redis = redis
        self._prefix = prefix
        self._retention_s = retention_s

    def _name(self, key_id: str) -> str:
        return redis_keys.api_key_failures(self._prefix, key_id)

    async def record(self, key_id: str) -> None:
        name = self._name(key_id)
        pipe = self._redis.pipeline(transaction=True)
        pipe.hincrby(name, "count", 1)
        pipe.hset(name, "last_ms", int(time.time() * 1000))
        pipe.expire(name, self._retention_s)
        try:
            await pipe.execute()
        except RedisError as exc:
            log.warning("API key failure count not recorded: %s", type(exc).__name__)

    async def failures(self, key_ids: list[str]) -> dict[str, KeyFailures] | None:
        """The recorded failures of each of ``key_ids`` that has any; None when Redis cannot say."""
        if not key_ids:
            return {}
        pipe = self._redis.pipeline(transaction=False)
        for key_id in key_ids:
            pipe.hmget(self._name(key_id), "count", "last_ms")
        try:
            rows = await pipe.execute()
        except RedisError as exc:
            log.warning("API key failure counts unavailable: %s", type(exc).__name__)
            return None
        found = {}
        for key_id, (count, last_ms) in zip(key_ids, rows):
            if count is not None and last_ms is not None:
                last_at = dt.datetime.fromtimestamp(int(last_ms) / 1000, dt.timezone.utc)
                found[key_id] = KeyFailures(int(count), last_at)
        return found
