"""``JobSender.held_subjects`` against the real broker: a message is held while it waits, while a
worker has it and while it waits for a retry; not once it is acknowledged, dead-lettered or past
its age limit."""

from __future__ import annotations

import uuid

import dramatiq
import pytest
import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.common import current_millis

from tests.conftest import BROKER_DB
from jobs.names import NAMESPACE, PAYMENTS_QUEUE, PROCESS_PAYMENT
from jobs.brokers import connect_sender

pytestmark = pytest.mark.redis_broker  # it reads or changes the Redis broker's keys


def _message(subject: uuid.UUID, **overrides) -> dramatiq.Message:
    fields = {
        "queue_name": PAYMENTS_QUEUE,
        "actor_name": PROCESS_PAYMENT,
        "args": (str(subject), "sealed"),
        "kwargs": {},
        "options": {"max_age": 60_000},
    }
    return dramatiq.Message(**{**fields, **overrides})


async def test_held_subjects_follow_the_message_through_the_broker(settings, redis_clean):
    sync = redis.Redis(host="127.0.0.1", port=6379, db=BROKER_DB)
    broker = RedisBroker(url=settings.redis.broker_url, namespace=NAMESPACE, middleware=[])
    broker.declare_queue(PAYMENTS_QUEUE)
    sender = connect_sender(settings)
    waiting, delayed, refund, expired, dead, never = (uuid.uuid4() for _ in range(6))
    delayed_copy = dead_copy = None
    try:
        await sender.process_payment(waiting, "sealed", request_id=None)
        delayed_copy = broker.enqueue(_message(delayed), delay=60_000)  # a retry waiting for its backoff (.DQ)
        await sender.process_refund(refund)
        broker.enqueue(_message(expired, message_timestamp=current_millis() - 120_000))  # AgeLimit drops it
        dead_copy = broker.enqueue(_message(dead))
        all_ids = [waiting, delayed, refund, expired, dead, never]
        assert await sender.held_subjects(all_ids) == {waiting, delayed, refund, dead}

        # A worker fetches and holds it (not acknowledged): still held. Dead-lettered: not held.
        consumer = broker.consume(PAYMENTS_QUEUE, prefetch=100, timeout=100)
        fetched = []
        for message in consumer:
            if message is None:
                break
            fetched.append(message)
        assert {m.args[0] for m in fetched} >= {str(waiting), str(dead)}
        assert await sender.held_subjects(all_ids) == {waiting, delayed, refund, dead}
        ours = {str(i) for i in all_ids}
        for message in fetched:
            if message.message_id == dead_copy.message_id:
                consumer.nack(message)
            elif message.args and message.args[0] in ours:
                consumer.ack(message)
            else:  # another test's message: put it back untouched
                consumer.requeue([message])
        consumer.close()
        assert await sender.held_subjects(all_ids) == {delayed}
        assert await sender.held_subjects([]) == set()
    finally:
        if delayed_copy is not None:
            rid = delayed_copy.options["redis_message_id"]
            sync.hdel("easypay:payments.DQ.msgs", rid)
            sync.lrem("easypay:payments.DQ", 0, rid)
        if dead_copy is not None:
            sync.zrem("easypay:payments.XQ", dead_copy.options["redis_message_id"])
            sync.hdel("easypay:payments.XQ.msgs", dead_copy.options["redis_message_id"])
        await sender.close()
        broker.close()
