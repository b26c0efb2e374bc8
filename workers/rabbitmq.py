"""Dramatiq's ``RabbitmqBroker`` as the workers use it: our queue arguments, confirmed publishes,
and dead letters without card data.

* Queues are declared with ``jobs.rabbitmq``'s arguments (quorum queues by default), the same
  the API's sender declares.
* ``confirm_delivery``: a retry the worker enqueues (on ``q.DQ``) is confirmed by RabbitMQ before
  the failed copy is acknowledged, so a broker failure between the two cannot drop the job.
* A message that fails for good is dead-lettered by the consumer itself instead of RabbitMQ's
  dead-letter exchange: for an actor whose arguments carry a sealed payment method
  (``jobs.names.SEALED_ARGUMENTS``), a copy without them is published to ``q.XQ`` and the
  original acknowledged on the same channel (AMQP keeps the order of a channel's commands, so
  the copy is routed before the original goes; if the connection drops in between, the original
  comes back and fails again). The copy carries its time of death (``jobs.rabbitmq.DEAD_AT_HEADER``:
  ``easypay dlq`` lists and purges by it). Others are nacked to the dead-letter exchange as
  Dramatiq does (RabbitMQ adds their ``x-death``).
* ``HeldMessages`` keeps the held counters (``jobs.rabbitmq.held_key``) the recovery jobs read:
  +1 for each message this process sends (a retry, a delayed message moved to its queue), -1
  for each it acknowledges or dead-letters.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

import dramatiq
import pika
from dramatiq.brokers.rabbitmq import RabbitmqBroker, _RabbitmqConsumer
from dramatiq.common import current_millis, q_name, xq_name

from jobs.queues import subject_of
from jobs.rabbitmq import DEAD_AT_HEADER, HELD_TTL_S, dead_letter_arguments, held_key, queue_arguments
from workers.dead_letters import scrubbed

log = logging.getLogger(__name__)


class EasypayRabbitmqBroker(RabbitmqBroker):
    def __init__(self, *, url: str, queue_type: str, **kwargs: Any) -> None:
        super().__init__(url=url, confirm_delivery=True, **kwargs)
        self.queue_type = queue_type

    @property
    def consumer_class(self) -> Callable[..., _RabbitmqConsumer]:
        return _DeadLetteringConsumer

    def _build_queue_arguments(self, queue_name: str) -> dict[str, Any]:
        return queue_arguments(queue_name, queue_type=self.queue_type)

    def _declare_xq_queue(self, queue_name: str) -> Any:
        return self.channel.queue_declare(
            queue=xq_name(queue_name), durable=True, arguments=dead_letter_arguments(queue_type=self.queue_type)
        )


class HeldMessages(dramatiq.Middleware):
    """Moves the held counters as this process sends, acknowledges and dead-letters messages."""

    def __init__(self, *, cache_url: str, key_prefix: str) -> None:
        self._cache_url = cache_url
        self._key_prefix = key_prefix
        self._cache: Any = None

    def _move(self, message: Any, step: int) -> None:
        subject = subject_of(message)
        if subject is None:
            return
        try:
            if self._cache is None:
                import redis

                self._cache = redis.Redis.from_url(self._cache_url, socket_timeout=2, socket_connect_timeout=2)
            key = held_key(self._key_prefix, q_name(message.queue_name), subject)
            pipe = self._cache.pipeline(transaction=False)
            pipe.incrby(key, step)
            pipe.expire(key, HELD_TTL_S)
            pipe.execute()
        except Exception as exc:  # noqa: BLE001 - the message's own handling must go on
            log.warning("could not move the held count of %s: %s", subject, type(exc).__name__)

    def after_enqueue(self, broker: Any, message: Any, delay: Any) -> None:
        self._move(message, 1)

    def after_ack(self, broker: Any, message: Any) -> None:
        self._move(message, -1)

    def after_nack(self, broker: Any, message: Any) -> None:
        self._move(message, -1)


class _DeadLetteringConsumer(_RabbitmqConsumer):
    def nack(self, message: Any) -> None:
        clean = scrubbed(message._message)
        if clean is None:
            super().nack(message)
            return
        try:
            self.known_tags.remove(message._tag)
        except KeyError:
            log.warning("failed to dead-letter message %s: not in known tags", message.message_id)
            return
        body, tag, dead_queue = clean.encode(), message._tag, xq_name(self.queue_name)

        def move() -> None:
            try:
                properties = pika.BasicProperties(delivery_mode=2, headers={DEAD_AT_HEADER: current_millis()})
                self.channel.basic_publish(exchange="", routing_key=dead_queue, body=body, properties=properties)
                self.channel.basic_ack(tag)
            except Exception as exc:  # noqa: BLE001 - unacknowledged, the message comes back
                log.error("could not dead-letter message %s: %s", message.message_id, type(exc).__name__)

        self.connection.add_callback_threadsafe(move)
