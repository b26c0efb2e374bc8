"""RabbitMQ as the broker: the queues both sides declare, and what can be read off them.

Dramatiq's ``RabbitmqBroker`` keeps three durable queues per queue name ``q``: ``q`` itself,
``q.DQ`` (retries waiting for their backoff, ETAs) and ``q.XQ`` (dead letters, kept for 7 days),
with ``q`` and ``q.DQ`` dead-lettering into ``q.XQ``. A declaration must carry exactly the same
arguments wherever it is made (RabbitMQ refuses a redeclaration that differs), and the API
declares before it publishes, so the arguments are built here, once, for the workers' broker
(``workers.broker``) and the API's sender (``jobs.rabbitmq_sender``).

Queues are quorum queues by default (``BROKER_QUEUE_TYPE=quorum``: replicated, durable, the type
RabbitMQ recommends for data that must survive); ``classic`` is for servers older than 3.10,
which cannot give a quorum queue a message TTL (the dead-letter queue needs one).

What the AMQP protocol tells about a queue without consuming it is the number of *ready*
messages and of consumers (a passive declare). Messages a worker holds unacknowledged — being
processed, prefetched, or a retry waiting in memory for its backoff — are not counted, so the
queue statistics on RabbitMQ give depth, delayed and dead letters, and no in-progress count or
oldest age.
"""

from __future__ import annotations

from typing import Any

from dramatiq.brokers.rabbitmq import DEAD_MESSAGE_TTL as DEAD_MESSAGE_TTL_MS
from dramatiq.common import dq_name, xq_name

from jobs.names import PAYMENT_MESSAGE_MAX_AGE_MS
from jobs.queues import QueueStats
from engine import redis_keys

QUEUE_TYPES = ("quorum", "classic")
#: Header (epoch milliseconds) of a dead letter the workers publish themselves (one without its
#: sealed arguments, ``workers.rabbitmq``): RabbitMQ adds ``x-death`` only to those it routes.
DEAD_AT_HEADER = "easypay-dead-at-ms"


def queue_arguments(queue_name: str, *, queue_type: str) -> dict[str, Any]:
    """Arguments of ``q`` and ``q.DQ``: dead letters go to ``q.XQ``."""
    arguments: dict[str, Any] = {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": xq_name(queue_name)}
    if queue_type == "quorum":
        arguments["x-queue-type"] = "quorum"
    return arguments


def dead_letter_arguments(*, queue_type: str) -> dict[str, Any]:
    """Arguments of ``q.XQ``: a fixed TTL (RabbitMQ expires messages head-first)."""
    arguments: dict[str, Any] = {"x-message-ttl": DEAD_MESSAGE_TTL_MS}
    if queue_type == "quorum":
        arguments["x-queue-type"] = "quorum"
    return arguments


def declarations(queue_name: str, *, queue_type: str) -> list[tuple[str, dict[str, Any]]]:
    """(name, arguments) of the three queues behind ``queue_name``, in the order Dramatiq declares them."""
    base = queue_arguments(queue_name, queue_type=queue_type)
    return [(queue_name, base), (dq_name(queue_name), base), (xq_name(queue_name), dead_letter_arguments(queue_type=queue_type))]


def held_key(key_prefix: str, queue_name: str, subject: str) -> str:
    """Counter (cache Redis) of the messages RabbitMQ holds about ``subject`` (a payment's or
    refund's id, a message's first argument) on ``queue_name``: what ``held_subjects`` reads,
    since RabbitMQ cannot be asked which messages a queue holds without taking them.

    +1 for each message sent (the API's sender after the confirm, the workers' broker for a
    retry or a delayed message's move), -1 when a worker acknowledges or dead-letters one. A
    message a worker was holding when it died comes back without a change. It expires with the
    longest message age (``HELD_TTL_S``); a count lost with Redis reads as not held, and the
    recovery jobs may then send one message too many, which the charge's claim makes harmless.
    It never reads as "surely gone" (``vouched_unheld``): a pending payment whose stash copy went
    with Redis too is left to its message, which still carries the sealed card.
    """
    return redis_keys.held_messages(key_prefix, queue_name, subject)


#: A held counter outlives every message it counts (``jobs.names.PAYMENT_MESSAGE_MAX_AGE_MS``).
HELD_TTL_S = PAYMENT_MESSAGE_MAX_AGE_MS // 1000 + 3600


def stats_from_counts(queue_name: str, ready: int, delayed_ready: int, dead: int) -> QueueStats:
    """``QueueStats`` from the ready counts of ``q``, ``q.DQ`` and ``q.XQ`` (see the module doc)."""
    return QueueStats(
        queue=queue_name, depth=ready, in_progress=None, delayed=delayed_ready, dead_letters=dead, oldest_age_s=None
    )


def queue_stats_blocking(url: str, queues: list[str] | tuple[str, ...], *, timeout_s: float = 5.0) -> list[QueueStats]:
    """Stats of each queue over a short-lived blocking connection (the CLI, a pool's metrics process).

    A queue that was never declared reads as empty (a passive declare of it fails; nothing is created).
    """
    import pika
    import pika.exceptions

    parameters = pika.URLParameters(url)
    parameters.socket_timeout = timeout_s
    parameters.blocked_connection_timeout = timeout_s
    connection = pika.BlockingConnection(parameters)
    try:
        stats = []
        for queue_name in queues:
            counts = []
            for name in (queue_name, dq_name(queue_name), xq_name(queue_name)):
                channel = connection.channel()
                try:
                    counts.append(channel.queue_declare(queue=name, passive=True).method.message_count)
                    channel.close()
                except pika.exceptions.ChannelClosedByBroker:  # 404: not declared yet
                    counts.append(0)
            stats.append(stats_from_counts(queue_name, *counts))
        return stats
    finally:
        connection.close()


__all__ = ["DEAD_AT_HEADER", "DEAD_MESSAGE_TTL_MS", "QUEUE_TYPES", "HELD_TTL_S", "held_key", "declarations", "dead_letter_arguments", "queue_arguments", "queue_stats_blocking", "stats_from_counts"]
