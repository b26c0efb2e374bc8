"""The sealed-method copy travels with the enqueue in one round trip, and survives a server that
lost its scripts (NOSCRIPT)."""

from __future__ import annotations

import json
import uuid

import pytest
import redis

from tests.conftest import BROKER_DB
from jobs.brokers import connect_sender
from jobs.sender import _DISPATCH_LUA

pytestmark = pytest.mark.redis_broker  # it reads or changes the Redis broker's keys


def _queued(payment_id: uuid.UUID) -> list[dict]:
    broker = redis.Redis(host="127.0.0.1", port=6379, db=BROKER_DB)
    found = [json.loads(b) for b in broker.hvals("easypay:payments.msgs") if str(payment_id).encode() in b]
    for key, body in broker.hgetall("easypay:payments.msgs").items():  # leave nothing for a worker
        if str(payment_id).encode() in body:
            broker.hdel("easypay:payments.msgs", key)
            broker.lrem("easypay:payments", 0, key)
    return found


async def test_enqueue_with_stash_sets_both(settings, redis_clean):
    sender = connect_sender(settings)
    payment_id = uuid.uuid4()
    try:
        message_id = await sender.process_payment(payment_id, "sealed-token", request_id="r1", stash=(f"t:{payment_id}", 60))
        assert await sender.redis.get(f"t:{payment_id}") == b"sealed-token"
        assert 0 < await sender.redis.ttl(f"t:{payment_id}") <= 60
        [message] = _queued(payment_id)
        assert message["message_id"] == message_id and message["args"] == [str(payment_id), "sealed-token"]
    finally:
        await sender.redis.delete(f"t:{payment_id}")
        await sender.close()


async def test_enqueue_with_stash_recovers_from_noscript(settings, redis_clean):
    sender = connect_sender(settings)
    # A script the server has never seen stands in for one it lost.
    sender._dispatch = sender.redis.register_script(_DISPATCH_LUA + f"\n-- {uuid.uuid4()}\n")
    sender._script_loaded = True
    payment_id = uuid.uuid4()
    try:
        await sender.process_payment(payment_id, "sealed-token", request_id=None, stash=(f"t:{payment_id}", 60))
        assert await sender.redis.get(f"t:{payment_id}") == b"sealed-token"
        assert len(_queued(payment_id)) == 1
        assert sender._script_loaded is False  # reloaded before the next pipelined enqueue
    finally:
        await sender.redis.delete(f"t:{payment_id}")
        await sender.close()
