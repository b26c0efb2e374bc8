"""engine.redis_pipe.send_all against a real Redis: replies in order, an error reply raised only
after every reply was read (the pooled connection stays in step), a lost connection retried."""

from __future__ import annotations

import uuid

import pytest
from redis.exceptions import NoScriptError, ResponseError

from engine import redis_client
from engine.redis_pipe import send_all


@pytest.fixture
async def redis(settings, redis_clean):
    client = redis_client.connect(settings.redis.cache_url)
    yield client
    await client.aclose()


async def test_replies_come_back_in_order(redis):
    key = f"pipe-{uuid.uuid4().hex}"
    replies = await send_all(redis, [("SET", key, b"v\x00", "EX", 60), ("INCRBY", key + ":n", 5), ("GET", key),
                                     ("HMGET", key + ":h", "m", "b")])
    assert replies == [b"OK", 5, b"v\x00", [None, None]]


async def test_an_error_reply_is_raised_after_the_batch_and_the_connection_stays_in_step(redis):
    key = f"pipe-{uuid.uuid4().hex}"
    with pytest.raises(NoScriptError):
        await send_all(redis, [("EVALSHA", "0" * 40, 0), ("SET", key, "after")])
    assert await redis.get(key) == b"after"  # the command after the error still ran
    with pytest.raises(ResponseError):
        await send_all(redis, [("SET", key, "x"), ("INCR", key)])
    for n in range(20):  # every later batch reads its own replies, not a stale one
        assert await send_all(redis, [("SET", f"{key}:{n}", n), ("GET", f"{key}:{n}")]) == [b"OK", str(n).encode()]


async def test_a_dropped_connection_is_retried_on_a_fresh_one(redis, settings):
    key = f"pipe-{uuid.uuid4().hex}"
    [pooled_id] = await send_all(redis, [("CLIENT", "ID")])  # the one pooled connection
    await send_all(redis, [("SET", key, 1)])
    killer = redis_client.connect(settings.redis.cache_url)
    try:
        assert await killer.client_kill_filter(_id=pooled_id) == 1
    finally:
        await killer.aclose()
    assert await send_all(redis, [("INCR", key)]) == [2]
