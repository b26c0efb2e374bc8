"""``send_all``: a batch of Redis commands in one write, their replies read back in order.

What redis-py's pipeline does, minus its per-argument encoding in Python and its per-reply
callbacks: the commands are packed by hiredis (in C) and sent on a connection of the client's
own pool, with the client's retry policy (``engine.redis_client``: a broken connection is
retried on a fresh one). The hot paths send several commands per request (enqueue, snapshot,
rate-limit counters): packing them was a third of a group commit's CPU.

Replies are as hiredis reads them (``OK`` is ``b"OK"``, integers are ``int``). An error reply
(``NOSCRIPT``, ``WRONGTYPE``) is raised once every reply has been read, the first one; a failure
on the socket drops the connection, so no reply is left for its next user.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any, Sequence

import hiredis
from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError


async def send_all(redis: Redis, commands: Sequence[tuple[Any, ...]], *, raise_errors: bool = True) -> list[Any]:
    """Each command is a tuple of str, bytes, int or float, e.g. ``("EVALSHA", sha, 1, key, 5)``.

    ``raise_errors=False``: an error reply is returned in its place (as the ``ResponseError``).
    """
    if not commands:
        return []
    pool = redis.connection_pool
    connection = await pool.get_connection()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
    try:
        return await send_on(connection, commands, raise_errors=raise_errors)
    finally:
        await pool.release(connection)


async def send_on(
    connection: AbstractConnection, commands: Sequence[tuple[Any, ...]], *, raise_errors: bool = True, timeout: float | None = None
) -> list[Any]:
    """``send_all`` on a connection the caller holds, used by nothing else meanwhile (taken from
    the client's pool once, not per batch: ``engine.redis_commands``). A broken connection is
    dropped, and the next use connects it again.

    ``timeout``: for the whole exchange, the write and every reply (default: the connection's
    ``socket_timeout``). A holder that sets the connection's own ``socket_timeout`` to None and
    passes it here saves redis-py's timed write (a task and a loop turn per round trip)."""
    if not commands:
        return []
    payload = b"".join([hiredis.pack_command(command) for command in commands])
    limit = connection.socket_timeout if timeout is None else timeout

    async def attempt() -> list[Any]:
        replies: list[Any] = []
        # One timeout for the whole batch, not a timer per reply.
        try:
            async with asyncio.timeout(limit):
                await connection.send_packed_command(payload)
                for _ in commands:
                    try:
                        replies.append(await connection.read_response(timeout=math.inf))
                    except ResponseError as exc:
                        replies.append(exc)
        except asyncio.TimeoutError:
            where = f"{getattr(connection, 'host', '')}:{getattr(connection, 'port', '')}"  # a TCP connection's
            raise RedisTimeoutError(f"Timeout talking to {where}") from None
        return replies

    try:
        replies: list[Any] = await connection.retry.call_with_retry(attempt, lambda error: connection.disconnect())
    except BaseException:
        await connection.disconnect(nowait=True)
        raise
    if raise_errors:
        for reply in replies:
            if isinstance(reply, ResponseError):
                raise reply
    return replies


__all__ = ["send_all", "send_on"]
