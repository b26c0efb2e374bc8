"""The job sender for the broker ``BROKER_URL`` names: Redis (``redis://``) or RabbitMQ (``amqp://``)."""

from __future__ import annotations

from engine.settings import Settings
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
