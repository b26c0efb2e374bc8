"""Dead letters on the Redis broker: ``<ns>:<queue>.XQ``, a sorted set of ids scored by when they
died (milliseconds), and ``<ns>:<queue>.XQ.msgs``, their messages (``jobs.queues`` has the layout).

The functions take a synchronous ``redis.Redis`` (tests and tools use them directly);
``RedisDeadLetters`` runs them in a thread with a short-lived client, so the API's event loop
never waits on them.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, Callable, Sequence, TypeVar

import dramatiq
import redis
from dramatiq.common import current_millis

from jobs.dead_letters import DeadLetter, DeadLetters, Replayed, describe, fresh_copy
from jobs.names import NAMESPACE

T = TypeVar("T")

#: The broker's Redis answers within this.
TIMEOUT_S = 5.0


def dead_letters(client: Any, namespace: str, queue: str, *, limit: int = 100) -> list[DeadLetter]:
    """Newest first, at most ``limit``."""
    xq = f"{namespace}:{queue}.XQ"
    entries = client.zrevrange(xq, 0, limit - 1, withscores=True)
    if not entries:
        return []
    raws = client.hmget(f"{xq}.msgs", [rid for rid, _ in entries])
    found = []
    for (rid, score), raw in zip(entries, raws):
        if raw is None:
            continue
        rid = rid.decode() if isinstance(rid, bytes) else rid
        found.append(describe(dramatiq.Message.decode(raw), queue=queue, dead_letter_id=rid, dead_at_ms=int(score)))
    return found


def retry_dead_letter(client: Any, namespace: str, queue: str, redis_message_id: str) -> str | None:
    """Put a dead letter back on its queue with a fresh retry budget (``jobs.dead_letters.fresh_copy``);
    returns its message id, or None if there is no such dead letter (already retried, or expired).
    The new copy and the removal of the dead one are one transaction."""
    xq = f"{namespace}:{queue}.XQ"
    raw = client.hget(f"{xq}.msgs", redis_message_id)
    if raw is None:
        return None
    fresh = fresh_copy(dramatiq.Message.decode(raw), queue, redis_message_id=str(uuid.uuid4()))
    base = f"{namespace}:{queue}"
    pipe = client.pipeline(transaction=True)
    pipe.hset(f"{base}.msgs", fresh.options["redis_message_id"], fresh.encode())
    pipe.rpush(base, fresh.options["redis_message_id"])
    pipe.zrem(xq, redis_message_id)
    pipe.hdel(f"{xq}.msgs", redis_message_id)
    pipe.execute()
    return fresh.message_id


def purge_dead_letters(client: Any, namespace: str, queue: str, *, older_than_s: float = 0) -> int:
    """Drop the dead letters of ``queue`` that died at least ``older_than_s`` ago; how many went.

    The set is scored by the time of death in milliseconds, so "older than" is one range read;
    the messages and their index entries go in one transaction.
    """
    xq = f"{namespace}:{queue}.XQ"
    cutoff_ms = current_millis() - int(older_than_s * 1000)
    ids = client.zrangebyscore(xq, "-inf", cutoff_ms)
    if not ids:
        return 0
    pipe = client.pipeline(transaction=True)
    pipe.zrem(xq, *ids)
    pipe.hdel(f"{xq}.msgs", *ids)
    removed, _ = pipe.execute()
    return int(removed)


class RedisDeadLetters(DeadLetters):
    def __init__(self, broker_url: str, *, namespace: str = NAMESPACE) -> None:
        self._url = broker_url
        self._namespace = namespace

    async def _run(self, work: Callable[[Any], T]) -> T:
        def go() -> T:
            client = redis.Redis.from_url(self._url, socket_timeout=TIMEOUT_S, socket_connect_timeout=TIMEOUT_S)
            try:
                return work(client)
            finally:
                client.close()

        return await asyncio.to_thread(go)

    async def list(self, queue: str, *, limit: int = 100) -> list[DeadLetter]:
        return await self._run(lambda client: dead_letters(client, self._namespace, queue, limit=limit))

    async def replay(self, queue: str, ids: Sequence[str] | None) -> Replayed:
        def go(client: Any) -> Replayed:
            wanted = list(ids) if ids is not None else [d.id for d in dead_letters(client, self._namespace, queue, limit=100_000)]
            done = Replayed()
            for rid in wanted:
                found = retry_dead_letter(client, self._namespace, queue, rid)
                (done.retried if found else done.not_found).append(rid)
            return done

        return await self._run(go)

    async def purge(self, queue: str, *, older_than_s: float = 0) -> int:
        return await self._run(lambda client: purge_dead_letters(client, self._namespace, queue, older_than_s=older_than_s))


__all__ = ["RedisDeadLetters", "dead_letters", "purge_dead_letters", "retry_dead_letter"]
