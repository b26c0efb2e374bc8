"""Sending jobs from the API without blocking its event loop.

``RedisBroker.enqueue`` is a synchronous Redis round trip. The API instead speaks the broker's
own protocol over ``redis.asyncio``: the same Lua ``dispatch`` script shipped with Dramatiq, the
same arguments ``RedisBroker`` passes, the same message encoding — so Dramatiq workers consume
these messages exactly as their own (the end-to-end tests run real workers on them). The API
needs no actor code: a message names its queue and actor.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import dramatiq
import dramatiq.brokers.redis as dramatiq_redis
from dramatiq.common import current_millis
from redis.asyncio import Redis

from engine.logcontext import current_context
from workers.broker import (
    DELIVER_WEBHOOK,
    NAMESPACE,
    PAYMENT_MESSAGE_MAX_AGE_MS,
    PAYMENTS_QUEUE,
    PROCESS_PAYMENT,
    WEBHOOK_MESSAGE_MAX_AGE_MS,
    WEBHOOKS_QUEUE,
)

#: Sent with every enqueue as RedisBroker does; this sender holds no messages, so its own
#: heartbeat entry only ever expires harmlessly.
_SENDER_HEARTBEAT_TIMEOUT_MS = 60_000

_DISPATCH_LUA = (Path(dramatiq_redis.__file__).parent / "redis" / "dispatch.lua").read_text()
#: Only ``fetch`` unpacks message batches; enqueue never reaches that limit.
_MAX_UNPACK_SIZE = 3999


class JobSender:
    def __init__(self, broker_url: str, *, namespace: str = NAMESPACE) -> None:
        self._redis = Redis.from_url(broker_url)
        self._dispatch = self._redis.register_script(_DISPATCH_LUA)
        self._namespace = namespace
        #: Identifies this sender in the broker's heartbeat set, as a RedisBroker instance would.
        self._broker_id = str(uuid.uuid4())

    async def _enqueue(self, message: dramatiq.Message) -> dramatiq.Message:
        """Send as ``RedisBroker.enqueue`` would, with the bound correlation ids in
        ``options["log_context"]`` (see ``workers.observability.LogContext``)."""
        options: dict[str, object] = {"redis_message_id": str(uuid.uuid4())}
        context = {k: v for k, v in current_context().items() if k != "message_id"}
        if context and "log_context" not in message.options:
            options["log_context"] = context
        message = message.copy(options=options)
        await self._dispatch(
            keys=[self._namespace],
            args=[
                "enqueue",
                current_millis(),
                message.queue_name,
                self._broker_id,
                _SENDER_HEARTBEAT_TIMEOUT_MS,
                dramatiq_redis.DEFAULT_DEAD_MESSAGE_TTL,
                0,  # maintenance is left to the workers
                _MAX_UNPACK_SIZE,
                message.options["redis_message_id"],
                message.encode(),
            ],
        )
        return message

    async def process_payment(self, payment_id: uuid.UUID, sealed_method: str, *, request_id: str | None) -> str:
        """Queue the charge; returns the message id. Raises on a broker failure.

        The correlation ids (request, merchant, payment) travel in ``options["log_context"]``.
        """
        context = {**current_context(), "payment_id": str(payment_id)}
        if request_id:
            context["request_id"] = request_id
        context.pop("message_id", None)
        message = dramatiq.Message(
            queue_name=PAYMENTS_QUEUE,
            actor_name=PROCESS_PAYMENT,
            args=(str(payment_id), sealed_method),
            kwargs={},
            options={"max_age": PAYMENT_MESSAGE_MAX_AGE_MS, "log_context": context},
        )
        return (await self._enqueue(message)).message_id

    @property
    def redis(self) -> Redis:
        """The broker's Redis client (read-only uses: queue stats)."""
        return self._redis

    async def deliver_webhook(self, delivery_id: uuid.UUID, lease_token: uuid.UUID) -> str:
        """Queue one attempt of a claimed delivery on ``webhooks``. Raises on a broker failure."""
        message = dramatiq.Message(
            queue_name=WEBHOOKS_QUEUE,
            actor_name=DELIVER_WEBHOOK,
            args=(str(delivery_id), str(lease_token)),
            kwargs={},
            options={"max_age": WEBHOOK_MESSAGE_MAX_AGE_MS},
        )
        return (await self._enqueue(message)).message_id

    async def ping(self) -> bool:
        return bool(await self._redis.ping())

    async def close(self) -> None:
        await self._redis.aclose()
