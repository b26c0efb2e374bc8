"""workers.broker.EasypayRedisBroker's commands (Dramatiq's Lua dispatch, packed by hiredis)
against a real Redis: messages sent by the API's sender are fetched, acknowledged and nacked as
Dramatiq's own broker does; a server without the script gets it through Dramatiq's path."""

from __future__ import annotations

import dramatiq
import pytest
import redis
from dramatiq.brokers.redis import RedisBroker

from jobs.names import NAMESPACE
from workers.broker import EasypayRedisBroker

QUEUE = "dispatch-test"


@pytest.fixture
def brokers(settings, redis_clean):
    if settings.redis.broker_is_rabbitmq:
        pytest.skip("the Redis broker's commands")
    ours = EasypayRedisBroker(poll_timeout_ms=50, url=settings.redis.broker_url, namespace=NAMESPACE, middleware=[])
    theirs = RedisBroker(url=settings.redis.broker_url, namespace=NAMESPACE, middleware=[])
    for broker in (ours, theirs):
        broker.declare_queue(QUEUE)
    yield ours, theirs
    ours.close()
    theirs.close()


def _message(n: int) -> dramatiq.Message:
    return dramatiq.Message(queue_name=QUEUE, actor_name="noop", args=(n,), kwargs={}, options={})


def test_fetch_ack_and_nack_do_what_dramatiqs_broker_does(brokers, settings):
    ours, theirs = brokers
    client = redis.Redis.from_url(settings.redis.broker_url)
    # Given: three messages enqueued by Dramatiq's own broker
    sent = [theirs.enqueue(_message(n)) for n in range(3)]
    # When: ours fetches two, acknowledges one and rejects the other
    fetched = [dramatiq.Message.decode(data) for data in ours.do_fetch(QUEUE, 2)]
    assert [m.message_id for m in fetched] == [m.message_id for m in sent[:2]]
    ours.do_ack(QUEUE, fetched[0].options["redis_message_id"])
    ours.do_nack(QUEUE, fetched[1].options["redis_message_id"])
    # Then: the first is gone, the second is dead-lettered, the third still waits
    assert client.hkeys(f"{NAMESPACE}:{QUEUE}.msgs") == [sent[2].options["redis_message_id"].encode()]
    assert client.zcard(f"{NAMESPACE}:{QUEUE}.XQ") == 1
    assert [dramatiq.Message.decode(d).message_id for d in theirs.do_fetch(QUEUE, 5)] == [sent[2].message_id]
    # And: with nothing left, a fetch answers an empty list, many times over on the same pool
    for _ in range(50):
        assert ours.do_fetch(QUEUE, 5) == []


def test_a_server_without_the_script_gets_it_through_dramatiqs_path(brokers):
    ours, theirs = brokers
    sent = theirs.enqueue(_message(7))
    ours.dispatch_sha = "0" * 40  # as after a Redis restart: EVALSHA answers NOSCRIPT
    fetched = ours.do_fetch(QUEUE, 1)
    assert [dramatiq.Message.decode(data).message_id for data in fetched] == [sent.message_id]
    assert ours.do_fetch(QUEUE, 1) == []  # the connection stayed in step
