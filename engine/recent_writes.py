"""Who wrote a moment ago: short-lived Redis markers, one per credential, for read-your-writes.

After a credential's successful write (any POST, PATCH, PUT or DELETE) the API sets
``<prefix>:recent-write:<actor>`` for ``window_s`` seconds; while it exists, that credential's
reads go to the primary (``engine.db.read_routing``). Every API process sees the marker, so a
client's next request may land anywhere. If Redis cannot answer, the reader is treated as a recent
writer: a read on the primary is never wrong, only less spread out.
"""

from __future__ import annotations

import logging

from redis.asyncio import Redis
from redis.exceptions import RedisError
from engine import redis_keys

log = logging.getLogger(__name__)


class RecentWrites:
    def __init__(self, redis: Redis, *, prefix: str, window_s: float) -> None:
        self._redis = redis
        self._prefix = prefix
        self._window_ms = max(1, int(window_s * 1000))

    def _key(self, actor: str) -> str:
        return redis_keys.recent_write(self._prefix, actor)

    async def mark(self, actor: str) -> None:
        """Call after the write committed, before its answer is sent."""
        try:
            await self._redis.set(self._key(actor), b"1", px=self._window_ms)
        except RedisError as exc:
            log.warning("recent-write marker not set: %s", type(exc).__name__)

    async def wrote_recently(self, actor: str) -> bool:
        try:
            return bool(await self._redis.exists(self._key(actor)))
        except RedisError as exc:
            log.warning("recent-write marker unreadable, reading from the primary: %s", type(exc).__name__)
            return True
