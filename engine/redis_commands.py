"""``RedisCommands``: the Redis commands of every caller of one event-loop step, in one round trip.

A poll needs its rate-limit counters and its payment snapshot: two users of Redis that each
batched their own callers still cost two round trips per request at low load (measured at about
a third of a poll's CPU, sequentially). Going through one ``RedisCommands`` per client, whatever
they enqueue in the same step goes in one write (``engine.redis_pipe.send_all``) and their
replies are handed back to each, in order.

Each caller's commands are its own: an error reply (``NOSCRIPT``) is returned in place of that
command's reply, as the exception, and fails no other caller. A failed round trip (Redis
unreachable) is returned the same way, as every command's reply: a future of this module holds a
result, never an exception, so one whose caller never looks at it (a poll refused by its rate
limit leaves its snapshot read) needs no callback to retrieve it.
"""

from __future__ import annotations

import asyncio
from typing import Any, Sequence

from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection

from engine.batching import MicroBatcher
from engine.redis_pipe import send_on

Command = tuple[Any, ...]


class RedisCommands:
    def __init__(self, redis: Redis, *, max_batch: int = 256) -> None:
        self.redis = redis
        #: Round trips made (one per batch), for tests and the poll benchmark.
        self.round_trips = 0
        #: One connection of the client's pool, held: one batch at a time goes out (the batcher's
        #: one runner), so taking and returning a pooled connection per batch (its lock, health
        #: and bookkeeping calls) bought nothing. A broken one is dropped and connects again.
        self._connection: AbstractConnection | None = None
        self._timeout: float | None = None
        self._batcher: MicroBatcher[Sequence[Command], list[Any]] = MicroBatcher(
            self._send, max_batch=max_batch, name="redis commands"
        )

    def enqueue(self, commands: Sequence[Command]) -> asyncio.Future[list[Any]]:
        """Queue ``commands`` for the next round trip now; the future gets their replies."""
        return self._batcher.enqueue(commands)

    def run(self, commands: Sequence[Command]) -> asyncio.Future[list[Any]]:
        """Await it for the replies of ``commands`` (an error reply is its exception, returned, not
        raised): ``enqueue``, so that awaiting it is no coroutine of its own (a call per use)."""
        return self._batcher.enqueue(commands)

    async def _send(self, jobs: list[Sequence[Command]]) -> list[list[Any]]:
        flat = [command for job in jobs for command in job]
        self.round_trips += 1
        try:
            if self._connection is None:
                connection = await self.redis.connection_pool.get_connection()  # type: ignore[no-untyped-call]
                # The whole exchange is timed by ``send_on`` with the connection's socket timeout;
                # left on the connection, redis-py would also time each write (a task per write).
                self._timeout, connection.socket_timeout = connection.socket_timeout, None
                self._connection = connection
            replies = iter(await send_on(self._connection, flat, raise_errors=False, timeout=self._timeout))
        except Exception as exc:  # noqa: BLE001 - every command's reply, as an error reply is
            return [[exc] * len(job) for job in jobs]
        return [[next(replies) for _ in job] for job in jobs]


__all__ = ["RedisCommands"]
