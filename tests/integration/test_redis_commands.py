"""``RedisCommands``: the commands of one event-loop step in one round trip, each caller's replies its own."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import redis.asyncio as aioredis
from redis.exceptions import NoScriptError

from engine.redis_commands import RedisCommands
from tests.conftest import CACHE_DB


@pytest.fixture
async def commands():
    client = aioredis.Redis(host="127.0.0.1", port=6379, db=CACHE_DB)
    yield RedisCommands(client)
    await client.aclose()


async def test_callers_of_one_step_share_a_round_trip(commands):
    key = f"redis-commands-test:{uuid.uuid4().hex}"
    # One caller: a read started ahead, then its own command (what a poll does).
    early = commands.enqueue([("SET", key, "1", "EX", 60)])
    assert await commands.run([("INCR", key)]) == [2]
    assert await early == [b"OK"]
    assert commands.round_trips == 1
    # Several callers of one step.
    second, third = await asyncio.gather(commands.run([("INCR", key)]), commands.run([("GET", key), ("INCR", key)]))
    assert second == [3] and third == [b"3", 4]
    assert commands.round_trips == 2
    assert await commands.run([("DEL", key)]) == [1]
    assert commands.round_trips == 3


async def test_an_error_reply_is_its_callers_only(commands):
    key = f"redis-commands-test:{uuid.uuid4().hex}"
    failing, fine = await asyncio.gather(
        commands.run([("EVALSHA", "0" * 40, 0)]), commands.run([("SET", key, "x", "EX", 60), ("GET", key)])
    )
    assert isinstance(failing[0], NoScriptError)  # the limiter reloads its script on this
    assert fine == [b"OK", b"x"]
    assert commands.round_trips == 1


async def test_the_rate_limiter_reloads_a_script_redis_lost(commands):
    """A Redis restart forgets scripts: the hit that meets NOSCRIPT loads it again and counts once."""
    from engine.ratelimit import RateLimiter

    limiter = RateLimiter(commands.redis, prefix=f"redis-commands-test-{uuid.uuid4().hex[:8]}", defaults={"minute": 2},
                          commands=commands)
    assert (await limiter.hit("api_key:one")).remaining == 1
    limiter._hit_sha = "0" * 40  # as if the server had restarted since the script was loaded
    second = await limiter.hit("api_key:one")
    assert second.allowed and second.remaining == 0
    third = await limiter.hit("api_key:one")
    assert not third.allowed and 1 <= third.reset_after_s <= 60


async def test_a_failed_round_trip_is_every_command_s_reply():
    """Redis unreachable: each caller gets the failure as its replies (as an error reply), never as
    the future's exception, so a read nobody awaits (a refused poll's snapshot) leaves nothing unretrieved."""
    from redis.exceptions import ConnectionError as RedisConnectionError

    client = aioredis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)
    unreachable = RedisCommands(client)
    try:
        ignored = unreachable.enqueue([("HMGET", "k", "m", "b")])
        replies = await unreachable.run([("GET", "a"), ("GET", "b")])
        assert len(replies) == 2 and all(isinstance(r, RedisConnectionError) for r in replies)
        assert ignored.done() and ignored.exception() is None
        assert isinstance(ignored.result()[0], RedisConnectionError)
    finally:
        await client.aclose()


async def test_the_held_connection_is_reconnected_after_it_was_dropped(settings, redis_clean):
    """One connection serves every batch; killed under it, the next batch goes out on a new one."""
    from engine import redis_client

    client = redis_client.connect(settings.redis.cache_url)
    held = RedisCommands(client)
    key = f"redis-commands-test:{uuid.uuid4().hex}"
    try:
        [first_id] = await held.run([("CLIENT", "ID")])
        [same_id] = await held.run([("CLIENT", "ID")])
        assert same_id == first_id  # not a connection per batch
        killer = redis_client.connect(settings.redis.cache_url)
        try:
            assert await killer.client_kill_filter(_id=first_id) == 1
        finally:
            await killer.aclose()
        assert await held.run([("SET", key, 1, "EX", 60), ("INCR", key)]) == [b"OK", 2]
        [new_id] = await held.run([("CLIENT", "ID")])
        assert new_id != first_id
    finally:
        await client.aclose()


async def test_a_server_that_never_answers_times_out_the_exchange():
    """The held connection's writes are not timed one by one: the exchange as a whole is, with the
    client's socket timeout, and a silent server's batch ends as a timeout reply."""
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff
    from redis.exceptions import TimeoutError as RedisTimeoutError

    commands_seen: list[bytes] = []

    async def answers_the_handshake_only(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(1 << 16):
                commands_seen.append(data)
                if b"GET" not in data:  # the connection's handshake: no RESP3 here, +OK to the rest
                    writer.write(b"-ERR unknown command 'HELLO'\r\n" * data.count(b"HELLO") + b"+OK\r\n" * data.count(b"SETINFO"))
        except (asyncio.CancelledError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(answers_the_handshake_only, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = aioredis.Redis(host="127.0.0.1", port=port, socket_timeout=0.2, retry=Retry(NoBackoff(), 0))
    held = RedisCommands(client)
    try:
        replies = await held.run([("GET", "a")])
        assert isinstance(replies[0], RedisTimeoutError), replies
        assert any(b"GET" in data for data in commands_seen), (replies, commands_seen)  # sent, then nothing came back
    finally:
        await client.aclose()
        server.close()
