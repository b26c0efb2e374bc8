"""Publishing jobs to RabbitMQ from an event loop: aio-pika, publisher confirms, Dramatiq's format.

Each message is published persistent, ``mandatory``, on a channel in confirm mode, to the queue
its ``queue_name`` names (the default exchange), with the body Dramatiq's ``RabbitmqBroker``
would send (``Message.encode()``): the workers consume it as their own. A send returns only once
RabbitMQ has confirmed every message of it (for a durable queue: written, and for a quorum
queue: replicated to a majority), so a 202 still means "recorded and queued". A refused,
unroutable or unconfirmed message raises, and the API then answers 503 without recording.

The sender declares each queue (with ``jobs.rabbitmq``'s arguments, the workers' own) before its
first publish, so a message sent before any worker started is kept, not dropped as unroutable.

Messages stay in RabbitMQ until a worker acknowledges them, so a queued payment survives a broker
restart. The cache Redis gets the held counters (``jobs.rabbitmq.held_key``) and the sealed
method's stash copy (``engine.method_stash``), best effort: both serve only the recovery jobs,
and RabbitMQ holds the message.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

import aio_pika
import dramatiq
from redis.asyncio import Redis
from redis.exceptions import RedisError

from engine import redis_client
from jobs.names import PAYMENTS_QUEUE
from jobs.queues import QueueStats, subject_of
from jobs.rabbitmq import HELD_TTL_S, declarations, held_key, stats_from_counts
from jobs.sender import JobSender, Outgoing

log = logging.getLogger(__name__)

#: Opening a connection, and waiting for the confirms of one send.
CONNECT_TIMEOUT_S = 3.0
CONFIRM_TIMEOUT_S = 5.0


class RabbitmqJobSender(JobSender):
    def __init__(self, broker_url: str, *, stash_url: str, queue_type: str, key_prefix: str) -> None:
        self._url = broker_url
        self._queue_type = queue_type
        self._key_prefix = key_prefix
        self._redis = redis_client.connect(stash_url)
        self._connection: aio_pika.abc.AbstractConnection | None = None
        self._channel: aio_pika.abc.AbstractChannel | None = None
        self._declared: set[str] = set()
        self._lock = asyncio.Lock()

    async def _open_channel(self) -> aio_pika.abc.AbstractChannel:
        channel = self._channel
        if channel is not None and not channel.is_closed:
            return channel
        async with self._lock:
            if self._channel is None or self._channel.is_closed:
                await self._drop()
                self._connection = await aio_pika.connect(self._url, timeout=CONNECT_TIMEOUT_S)
                self._channel = await self._connection.channel(publisher_confirms=True, on_return_raises=True)
                self._declared.clear()
            return self._channel

    async def _declare(self, channel: aio_pika.abc.AbstractChannel, queue_name: str) -> list[int]:
        """Declare the queue, its delay and dead-letter queues; their ready-message counts."""
        counts = []
        for name, arguments in declarations(queue_name, queue_type=self._queue_type):
            queue = await channel.declare_queue(name, durable=True, arguments=arguments, timeout=CONFIRM_TIMEOUT_S)
            counts.append(int(queue.declaration_result.message_count or 0))
        self._declared.add(queue_name)
        return counts

    async def _drop(self) -> None:
        """Forget a connection that failed (the next send opens a new one)."""
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and not connection.is_closed:
            try:
                await connection.close()
            except Exception:  # noqa: BLE001 - it is being discarded
                pass

    async def _enqueue_many(self, outgoing: list[Outgoing]) -> list[dramatiq.Message]:
        context = self._bound_context()
        messages = [self._with_context(message, context) for message, _ in outgoing]
        held = [held_key(self._key_prefix, m.queue_name, subject) for m in messages if (subject := subject_of(m))]
        await self._note(held, [also_set for _, also_set in outgoing if also_set is not None], step=1)
        try:
            channel = await self._open_channel()
            for queue_name in {m.queue_name for m in messages} - self._declared:
                await self._declare(channel, queue_name)
            exchange = channel.default_exchange
            await asyncio.gather(
                *(
                    exchange.publish(
                        aio_pika.Message(message.encode(), delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                        routing_key=message.queue_name,
                        mandatory=True,
                        timeout=CONFIRM_TIMEOUT_S,
                    )
                    for message in messages
                )
            )
        except Exception:
            await self._drop()
            await self._note(held, [], step=-1)
            raise
        return messages

    async def _note(self, held: list[str], stash: list[tuple[str, str, int]], *, step: int) -> None:
        """One round trip to the cache Redis: the held counters (``jobs.rabbitmq.held_key``) moved
        by ``step``, and the stash copies. Before the publish (a worker's -1 cannot come first; the
        stash copy is there before the payment can have an outcome that deletes it), undone if the
        publish fails. Best effort: both only help the recovery jobs, and RabbitMQ holds the messages."""
        if not held and not stash:
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key in held:
                    pipe.incrby(key, step)
                    pipe.expire(key, HELD_TTL_S)
                for key, value, ttl_s in stash:
                    pipe.set(key, value, ex=ttl_s)
                await pipe.execute()
        except RedisError as exc:
            log.warning("could not note %d message(s) in Redis: %s", len(held) + len(stash), type(exc).__name__)

    async def held_subjects(self, ids: list[uuid.UUID], *, queue_name: str = PAYMENTS_QUEUE) -> set[uuid.UUID]:
        """Those whose held counter (``jobs.rabbitmq.held_key``) is positive."""
        if not ids:
            return set()
        counts = await self._redis.mget([held_key(self._key_prefix, queue_name, str(i)) for i in ids])
        return {i for i, count in zip(ids, counts) if count is not None and int(count) > 0}

    async def vouched_unheld(self, ids: list[uuid.UUID], *, queue_name: str = PAYMENTS_QUEUE) -> set[uuid.UUID]:
        """Those whose held counter exists (at 0): a counter lost with the cache Redis cannot vouch
        for anything, and RabbitMQ may well still hold the message (with the sealed card in it)."""
        if not ids:
            return set()
        counts = await self._redis.mget([held_key(self._key_prefix, queue_name, str(i)) for i in ids])
        return {i for i, count in zip(ids, counts) if count is not None and int(count) <= 0}

    async def queue_stats(self, queues: list[str]) -> list[QueueStats]:
        channel = await self._open_channel()
        try:
            return [stats_from_counts(q, *(await self._declare(channel, q))) for q in queues]
        except Exception:
            await self._drop()
            raise

    @property
    def redis(self) -> Redis:
        """The cache Redis: stash copies and locks (the broker is RabbitMQ)."""
        return self._redis

    async def ping(self) -> bool:
        await self._open_channel()
        return True

    async def close(self) -> None:
        await self._drop()
        await self._redis.aclose()
