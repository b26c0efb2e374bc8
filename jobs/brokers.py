"""The job sender and the dead letters of the broker ``BROKER_URL`` names: Redis (``redis://``) or
RabbitMQ (``amqp://``)."""

from __future__ import annotations

from engine.settings import Settings
from jobs.dead_letters import DeadLetters
from jobs.redis_dead_letters import RedisDeadLetters
from jobs.sender import JobSender, RedisJobSender


def connect_sender(settings: Settings) -> JobSender:
    if settings.redis.broker_is_rabbitmq:
        from jobs.rabbitmq_sender import RabbitmqJobSender  # aio-pika only where it is used

        return RabbitmqJobSender(
            settings.redis.broker_url,
            stash_url=settings.redis.cache_url,
            queue_type=settings.redis.broker_queue_type,
            key_prefix=settings.redis.key_prefix,
        )
    return RedisJobSender(settings.redis.broker_url)


def open_dead_letters(settings: Settings, sender: JobSender) -> DeadLetters:
    """The dead letters of the broker ``BROKER_URL`` names; on RabbitMQ a replay publishes through
    ``sender`` (``connect_sender(settings)``'s: confirms and held counters)."""
    if settings.redis.broker_is_rabbitmq:
        from jobs.rabbitmq_dead_letters import RabbitmqDeadLetters
        from jobs.rabbitmq_sender import RabbitmqJobSender

        if not isinstance(sender, RabbitmqJobSender):
            raise TypeError("the broker is RabbitMQ: the sender must be connect_sender's RabbitmqJobSender")
        return RabbitmqDeadLetters(settings.redis.broker_url, sender)
    return RedisDeadLetters(settings.redis.broker_url)
