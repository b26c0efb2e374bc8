"""Putting messages in Dramatiq's Redis structures exactly as the broker does (its own Lua)."""

from __future__ import annotations

import uuid

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.common import current_millis

from engine.settings import Settings
from jobs.names import NAMESPACE


def _broker(settings: Settings) -> RedisBroker:
    return RedisBroker(url=settings.redis.broker_url, namespace=NAMESPACE, middleware=[])


def _message(queue: str, *, age_ms: int = 0, subject: str | None = None) -> dramatiq.Message:
    return dramatiq.Message(
        queue_name=queue,
        actor_name="noop",
        args=(subject or str(uuid.uuid4()),),
        kwargs={},
        options={"redis_message_id": str(uuid.uuid4()), "log_context": {"request_id": "req_dead_letter_test"}},
        message_timestamp=current_millis() - age_ms,
    )


def enqueue_noop(settings: Settings, queue: str, *, age_ms: int = 0) -> dramatiq.Message:
    """A waiting message on ``queue`` that was enqueued ``age_ms`` ago."""
    message = _message(queue, age_ms=age_ms)
    broker = _broker(settings)
    try:
        broker.do_enqueue(queue, message.options["redis_message_id"], message.encode())
    finally:
        broker.close()
    return message


def dead_letter_one(settings: Settings, queue: str, *, subject: str | None = None) -> dramatiq.Message:
    """Enqueue, fetch and nack one message: it lands in ``<queue>.XQ`` as a failed message would."""
    message = _message(queue, subject=subject)
    broker = _broker(settings)
    try:
        rid = message.options["redis_message_id"]
        broker.do_enqueue(queue, rid, message.encode())
        # Fetch until ours comes out (another waiting message may be ahead of it), then requeue the rest.
        fetched = [dramatiq.Message.decode(raw) for raw in broker.do_fetch(queue, 100)]
        others = [m.options["redis_message_id"] for m in fetched if m.options["redis_message_id"] != rid]
        broker.do_nack(queue, rid)
        if others:
            broker.do_requeue(queue, *others)
    finally:
        broker.close()
    return message
