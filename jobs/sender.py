"""Sending jobs without blocking the event loop: the API, the scheduler, the workers' follow-ups.

``JobSender`` builds the messages (Dramatiq's format: a message names its queue and actor, so
senders need no actor code) and leaves the transport to one class per broker:

* ``RedisJobSender`` speaks Dramatiq's Redis protocol over ``redis.asyncio``: the same Lua
  ``dispatch`` script shipped with Dramatiq, the same arguments ``RedisBroker`` passes, the same
  message encoding — so Dramatiq workers consume these messages exactly as their own (the
  end-to-end tests run real workers on them);
* ``jobs.rabbitmq_sender.RabbitmqJobSender`` publishes over AMQP with publisher confirms.

``jobs.brokers.connect_sender(settings)`` picks the one ``BROKER_URL`` names.
"""

from __future__ import annotations

import abc
import uuid
from pathlib import Path
from typing import Any, Sequence

import dramatiq
import dramatiq.brokers.redis as dramatiq_redis
from dramatiq.common import current_millis
from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from engine import redis_client
from engine.redis_pipe import send_all
from engine.logcontext import current_context
from engine.payments import PaymentJob
from jobs.names import (
    CAPTURE_PAYMENT,
    DELIVER_WEBHOOKS,
    JOB_MESSAGE_MAX_AGE_MS,
    NAMESPACE,
    PAYMENT_MESSAGE_MAX_AGE_MS,
    PAYMENTS_QUEUE,
    PROCESS_PAYMENT,
    PROCESS_REFUND,
    RECONCILE_PAYMENT,
    RECOVERY_QUEUE,
    VOID_PAYMENT,
    WEBHOOK_MESSAGE_MAX_AGE_MS,
    WEBHOOKS_QUEUE,
)
from jobs.queues import QueueStats, held_subjects_async, queue_stats_async

#: Sent with every enqueue as RedisBroker does; this sender holds no messages, so its own
#: heartbeat entry only ever expires harmlessly.
_SENDER_HEARTBEAT_TIMEOUT_MS = 60_000

_DISPATCH_LUA = (Path(dramatiq_redis.__file__).parent / "redis" / "dispatch.lua").read_text()
#: Only ``fetch`` unpacks message batches; enqueue never reaches that limit.
_MAX_UNPACK_SIZE = 3999

#: A message and, optionally, (key, value, ttl_s) to SET with it (the sealed method's stash copy).
Outgoing = tuple[dramatiq.Message, "tuple[str, str, int] | None"]


class JobSender(abc.ABC):
    """The messages of the queue contract; subclasses carry them to their broker."""

    async def _enqueue(
        self, message: dramatiq.Message, *, also_set: tuple[str, str, int] | None = None
    ) -> dramatiq.Message:
        """Send one message; ``also_set`` = (key, value, ttl_s) is SET with it."""
        return (await self._enqueue_many([(message, also_set)]))[0]

    @abc.abstractmethod
    async def _enqueue_many(self, outgoing: list[Outgoing]) -> list[dramatiq.Message]:
        """Send every message (and its ``also_set``); returns them as sent. Raises when the broker
        did not take them all."""

    async def resend(self, messages: list[dramatiq.Message]) -> list[dramatiq.Message]:
        """Send messages built elsewhere as they are (a dead letter's fresh copy); raises when the
        broker did not take them all."""
        return await self._enqueue_many([(message, None) for message in messages])

    @abc.abstractmethod
    async def held_subjects(self, ids: list[uuid.UUID], *, queue_name: str = PAYMENTS_QUEUE) -> set[uuid.UUID]:
        """Which of ``ids`` may still have a message held by the broker on ``queue_name``: work
        that is queued, not lost (the recovery jobs leave those alone)."""

    async def vouched_unheld(self, ids: list[uuid.UUID], *, queue_name: str = PAYMENTS_QUEUE) -> set[uuid.UUID]:
        """Of ``ids`` (which ``held_subjects`` did not return), those the broker can vouch it holds
        no message for. The Redis broker's own keys are the truth (a message Redis lost is gone):
        all of them."""
        return set(ids)

    @abc.abstractmethod
    async def queue_stats(self, queues: list[str]) -> list[QueueStats]:
        """Depth, delayed and dead letters (and, where the broker tells, in-progress and age)."""

    @property
    @abc.abstractmethod
    def redis(self) -> Redis:
        """The Redis that keeps the ``engine.method_stash`` copies and the single-flight locks."""

    @abc.abstractmethod
    async def ping(self) -> bool: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    @staticmethod
    def _with_context(message: dramatiq.Message, context: dict[str, Any], **options: Any) -> dramatiq.Message:
        """``message`` with the bound correlation ids in ``options["log_context"]`` (see
        ``workers.observability.LogContext``) unless it carries its own, and ``options``."""
        if context and "log_context" not in message.options:
            options["log_context"] = context
        return message.copy(options=options) if options else message

    @staticmethod
    def _bound_context() -> dict[str, Any]:
        return {k: v for k, v in current_context().items() if k != "message_id"}

    async def process_payment(
        self,
        payment_id: uuid.UUID,
        sealed_method: str,
        *,
        request_id: str | None,
        message_id: str | None = None,
        stash: tuple[str, int] | None = None,
    ) -> str:
        """Queue the charge; returns the message id. Raises on a broker failure.

        ``message_id`` is given when the reconciler hands an existing charge to a new message.
        The correlation ids (request, merchant, payment) travel in ``options["log_context"]``.
        ``stash`` = (key, ttl_s) also stores the sealed method under ``key`` in the same round trip
        (``engine.method_stash``: what the pending sweep re-enqueues a lost message with).
        """
        job = PaymentJob(payment_id, sealed_method, request_id=request_id, context=current_context(), stash=stash)
        return (await self.process_payments([job], message_id=message_id))[0]

    async def process_payments(self, jobs: list[PaymentJob], *, message_id: str | None = None) -> list[str]:
        """Queue many charges in one round trip (an accepted batch); their message ids, in order."""
        outgoing: list[tuple[dramatiq.Message, tuple[str, str, int] | None]] = []
        extra: dict[str, Any] = {"message_id": message_id} if message_id else {}
        for job in jobs:
            context = {**job.context, "payment_id": str(job.payment_id)}
            if job.request_id:
                context["request_id"] = job.request_id
            context.pop("message_id", None)
            message: dramatiq.Message[Any] = dramatiq.Message(
                queue_name=PAYMENTS_QUEUE,
                actor_name=PROCESS_PAYMENT,
                args=(str(job.payment_id), job.sealed_method),
                kwargs={},
                options={"max_age": PAYMENT_MESSAGE_MAX_AGE_MS, "log_context": context},
                **extra,
            )
            also_set = (job.stash[0], job.sealed_method, job.stash[1]) if job.stash else None
            outgoing.append((message, also_set))
        return [message.message_id for message in await self._enqueue_many(outgoing)]

    async def deliver_webhooks(self, claims: Sequence[tuple[uuid.UUID, uuid.UUID]]) -> str:
        """Queue claimed deliveries (``(delivery_id, lease_token)``) in one message on ``webhooks``.
        Raises on a broker failure."""
        message: dramatiq.Message[Any] = dramatiq.Message(
            queue_name=WEBHOOKS_QUEUE,
            actor_name=DELIVER_WEBHOOKS,
            args=([[str(delivery_id), str(token)] for delivery_id, token in claims],),
            kwargs={},
            options={"max_age": WEBHOOK_MESSAGE_MAX_AGE_MS},
        )
        return (await self._enqueue(message)).message_id

    async def send(
        self, actor_name: str, *args: str, max_age_ms: int = PAYMENT_MESSAGE_MAX_AGE_MS, queue_name: str = PAYMENTS_QUEUE
    ) -> str:
        """Queue ``actor_name(*args)`` (on the payments queue by default); returns the message id."""
        message: dramatiq.Message[Any] = dramatiq.Message(
            queue_name=queue_name, actor_name=actor_name, args=args, kwargs={}, options={"max_age": max_age_ms}
        )
        return (await self._enqueue(message)).message_id

    async def capture_payment(self, payment_id: uuid.UUID) -> str:
        return await self.send(CAPTURE_PAYMENT, str(payment_id))

    async def void_payment(self, payment_id: uuid.UUID) -> str:
        return await self.send(VOID_PAYMENT, str(payment_id))

    async def process_refund(self, refund_id: uuid.UUID) -> str:
        return await self.send(PROCESS_REFUND, str(refund_id))

    async def reconcile_payment(self, payment_id: uuid.UUID) -> str:
        return await self.send(RECONCILE_PAYMENT, str(payment_id), queue_name=RECOVERY_QUEUE)

    async def run_job(self, actor_name: str, *, queue_name: str = PAYMENTS_QUEUE) -> str:
        """Queue one run of a batch job (what the scheduler does each slot)."""
        return await self.send(actor_name, max_age_ms=JOB_MESSAGE_MAX_AGE_MS, queue_name=queue_name)


class RedisJobSender(JobSender):
    def __init__(self, broker_url: str, *, namespace: str = NAMESPACE) -> None:
        self._redis = redis_client.connect(broker_url)
        self._dispatch = self._redis.register_script(_DISPATCH_LUA)
        self._namespace = namespace
        #: Identifies this sender in the broker's heartbeat set, as a RedisBroker instance would.
        self._broker_id = str(uuid.uuid4())
        self._script_loaded = False

    async def _enqueue_many(self, outgoing: list[Outgoing]) -> list[dramatiq.Message]:
        """Send every message (and its ``also_set``) in one pipelined round trip."""
        context = self._bound_context()
        sent: list[tuple[dramatiq.Message, tuple[str, str, int] | None, list[Any]]] = []
        for message, also_set in outgoing:
            message = self._with_context(message, context, redis_message_id=str(uuid.uuid4()))
            sent.append((message, also_set, self._dispatch_args(message)))
        if len(sent) == 1 and sent[0][1] is None:
            await self._dispatch(keys=[self._namespace], args=sent[0][2])
            return [sent[0][0]]
        if not self._script_loaded:
            await self._redis.script_load(_DISPATCH_LUA)
            self._script_loaded = True
        # A raw EVALSHA: redis-py's pipelined Script objects check SCRIPT EXISTS on every execute.
        commands: list[tuple[Any, ...]] = []
        for _, also_set, args in sent:
            if also_set is not None:
                key, value, ttl_s = also_set
                commands.append(("SET", key, value, "EX", ttl_s))
            commands.append(("EVALSHA", self._dispatch.sha, 1, self._namespace, *args))
        try:
            await send_all(self._redis, commands)
        except NoScriptError:  # the server lost its scripts (restart, SCRIPT FLUSH)
            self._script_loaded = False
            for _, also_set, args in sent:
                if also_set is not None:
                    key, value, ttl_s = also_set
                    await self._redis.set(key, value, ex=ttl_s)
                await self._dispatch(keys=[self._namespace], args=args)
        return [message for message, _, _ in sent]

    def _dispatch_args(self, message: dramatiq.Message) -> list[Any]:
        return [
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
        ]

    async def held_subjects(self, ids: list[uuid.UUID], *, queue_name: str = PAYMENTS_QUEUE) -> set[uuid.UUID]:
        """Exactly those with a message on ``queue_name`` (``jobs.queues.held_subjects_async``)."""
        found = await held_subjects_async(self._redis, self._namespace, queue_name, [str(i) for i in ids])
        return {uuid.UUID(i) for i in found}

    async def queue_stats(self, queues: list[str]) -> list[QueueStats]:
        return await queue_stats_async(self._redis, self._namespace, queues)

    @property
    def redis(self) -> Redis:
        """The broker's Redis: the ``engine.method_stash`` copies live next to the messages."""
        return self._redis

    async def ping(self) -> bool:
        return bool(await self._redis.ping())

    async def close(self) -> None:
        await self._redis.aclose()
