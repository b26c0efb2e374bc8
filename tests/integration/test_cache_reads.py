"""Concurrent payment-cache reads share one pipelined round trip, and each caller still gets its
own answer: its snapshot, a miss for another merchant's payment or an absent key."""

from __future__ import annotations

import asyncio
import uuid

from redis.asyncio import Redis

from engine.cache import PaymentCache
from engine.redis_commands import RedisCommands


async def test_concurrent_reads_share_a_round_trip_and_keep_their_own_answers(settings, redis_clean):
    redis = Redis.from_url(settings.redis.cache_url)
    commands = RedisCommands(redis)  # counts its round trips (one connection serves them all)
    cache = PaymentCache(redis, prefix=f"cache-reads-{uuid.uuid4().hex[:8]}", ttl_s=60, commands=commands)
    owner, stranger = uuid.uuid4(), uuid.uuid4()
    stored = {str(uuid.uuid4()): f'{{"n":{n}}}'.encode() for n in range(12)}
    try:
        await cache.put_many([(pid, body, 1, owner) for pid, body in stored.items()])
        absent = [uuid.uuid4() for _ in range(4)]
        asks = (
            [(uuid.UUID(pid), owner) for pid in stored]  # hits
            + [(uuid.UUID(pid), stranger) for pid in list(stored)[:4]]  # another merchant's: a miss
            + [(uuid.UUID(pid), None) for pid in list(stored)[4:8]]  # any merchant (admin): hits
            + [(pid, owner) for pid in absent]  # not cached
        )
        before = commands.round_trips
        answers = await asyncio.gather(*(cache.get_encoded(pid, merchant_id=m) for pid, m in asks))
        round_trips = commands.round_trips - before

        expected = (
            list(stored.values())
            + [None] * 4
            + list(stored.values())[4:8]
            + [None] * 4
        )
        assert answers == expected
        # 24 reads issued together: the first goes alone, the rest wait for one batch.
        assert round_trips <= 3, round_trips

        # A lone read still answers at once, on its own.
        before = commands.round_trips
        pid, body = next(iter(stored.items()))
        assert await cache.get_encoded(uuid.UUID(pid), merchant_id=owner) == body
        assert commands.round_trips - before == 1
    finally:
        await redis.aclose()


async def test_put_many_announces_changes_unless_told_not_to(settings, redis_clean):
    """Snapshots of payments just created are stored without an announcement; every other write
    announces each payment id on the change channel (what wakes long polls)."""
    redis = Redis.from_url(settings.redis.cache_url)
    cache = PaymentCache(redis, prefix=f"cache-announce-{uuid.uuid4().hex[:8]}", ttl_s=60)
    owner = uuid.uuid4()
    pubsub = redis.pubsub()
    try:
        await pubsub.subscribe(cache.channel)
        await pubsub.get_message(timeout=1.0)  # the subscribe confirmation
        quiet, loud = str(uuid.uuid4()), str(uuid.uuid4())
        await cache.put_many([(quiet, b'{"n":1}', 1, owner)], announce=False)
        await cache.put_many([(loud, b'{"n":2}', 1, owner)])
        seen = []
        while (message := await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)) is not None:
            seen.append(message["data"].decode())
        assert seen == [loud]
        assert await cache.get_encoded(uuid.UUID(quiet), merchant_id=owner) == b'{"n":1}'
        assert await cache.get_encoded(uuid.UUID(loud), merchant_id=owner) == b'{"n":2}'
    finally:
        await pubsub.aclose()
        await redis.aclose()
