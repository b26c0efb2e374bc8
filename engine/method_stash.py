"""A copy of a payment's *sealed* payment method in the broker's Redis (next to the message), kept for as long as it can be opened
(``CARD_MESSAGE_TTL_S``), so a payment whose queue message was lost can be re-enqueued.

The value is the same AES-GCM token the queue message carries (never the card in the clear);
it is deleted as soon as the payment has an outcome. When it is gone, a payment that never reached
the processor is failed by the pending sweep: ``payment_method_expired`` once ``CARD_MESSAGE_TTL_S``
has passed since it was accepted, ``payment_method_lost`` before that (``engine.method_loss``).
"""

from __future__ import annotations

import logging
import uuid

from redis.asyncio import Redis
from redis.exceptions import RedisError
from engine import redis_keys

log = logging.getLogger(__name__)


class MethodStash:
    def __init__(self, redis: Redis, *, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix

    def key(self, payment_id: uuid.UUID | str) -> str:
        return redis_keys.sealed_method(self._prefix, payment_id)

    async def put(self, payment_id: uuid.UUID, sealed: str, *, ttl_s: int) -> None:
        await self._redis.set(self.key(payment_id), sealed, ex=ttl_s)

    async def get(self, payment_id: uuid.UUID) -> str | None:
        value = await self._redis.get(self.key(payment_id))
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)

    async def mark_resent(self, payment_id: uuid.UUID, *, ttl_s: int) -> bool:
        """True at most once per ``ttl_s`` per payment (the pending sweep's re-enqueue guard)."""
        return bool(await self._redis.set(redis_keys.resent_guard(self._prefix, payment_id), 1, nx=True, ex=ttl_s))

    async def delete(self, payment_id: uuid.UUID) -> None:
        try:
            await self._redis.delete(self.key(payment_id))
        except RedisError as exc:  # it expires on its own anyway
            log.warning("could not delete the sealed method of %s: %s", payment_id, exc)
