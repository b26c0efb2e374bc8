"""Payment snapshots in Redis: what ``GET /v1/payments/{id}`` serves before touching PostgreSQL.

Each snapshot carries the row's ``version``; a writer never replaces a newer snapshot with an
older one (a Lua compare-and-set), so a slow writer cannot roll a payment's status back.
Cache failures are never fatal: PostgreSQL stays the source of truth.
"""

from __future__ import annotations

import logging
import uuid

import msgspec
from redis.asyncio import Redis
from redis.exceptions import RedisError

from engine.metrics import CACHE_REQUESTS
from engine.views import PaymentView

log = logging.getLogger(__name__)

# KEYS[1] = snapshot key; ARGV = version, merchant id, body, ttl seconds, channel, payment id
_PUT_IF_NEWER = """
local current = redis.call('HGET', KEYS[1], 'v')
if current and tonumber(current) >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'm', ARGV[2], 'b', ARGV[3])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
redis.call('PUBLISH', ARGV[5], ARGV[6])
return 1
"""

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(PaymentView)


class PaymentCache:
    def __init__(self, redis: Redis, *, prefix: str, ttl_s: int) -> None:
        self._redis = redis
        self._prefix = prefix
        self._ttl_s = ttl_s
        self._put = redis.register_script(_PUT_IF_NEWER)
        #: Pub/sub channel announcing "payment <id> changed" (payload: the id).
        self.channel = f"{prefix}:payment-changes"

    def _key(self, payment_id: uuid.UUID | str) -> str:
        return f"{self._prefix}:payment:{payment_id}"

    async def put(self, view: PaymentView, *, version: int, merchant_id: uuid.UUID) -> bool:
        """Store the snapshot unless a newer one is there; False on a cache failure or an older version."""
        try:
            stored = await self._put(
                keys=[self._key(view.id)],
                args=[version, str(merchant_id), _encoder.encode(view), self._ttl_s, self.channel, view.id],
            )
        except RedisError as exc:
            CACHE_REQUESTS.labels(operation="put", result="error").inc()
            log.warning("payment cache write failed for %s: %s", view.id, exc)
            return False
        CACHE_REQUESTS.labels(operation="put", result="stored" if stored else "stale").inc()
        return bool(stored)

    async def get(self, payment_id: uuid.UUID, *, merchant_id: uuid.UUID | None) -> PaymentView | None:
        """The cached snapshot if it belongs to ``merchant_id`` (None: any merchant); None on a miss or a cache failure."""
        try:
            found = await self._redis.hmget(self._key(payment_id), ["m", "b"])
        except RedisError as exc:
            CACHE_REQUESTS.labels(operation="get", result="error").inc()
            log.warning("payment cache read failed for %s: %s", payment_id, exc)
            return None
        owner, body = found
        if owner is None or body is None:
            CACHE_REQUESTS.labels(operation="get", result="miss").inc()
            return None
        if merchant_id is not None and (owner.decode() if isinstance(owner, bytes) else owner) != str(merchant_id):
            CACHE_REQUESTS.labels(operation="get", result="miss").inc()
            return None
        CACHE_REQUESTS.labels(operation="get", result="hit").inc()
        return _decoder.decode(body)

