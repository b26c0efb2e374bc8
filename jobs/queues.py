"""Reading Dramatiq's Redis queues: depth, age, in-flight, dead-letter counts.

(``jobs.rabbitmq`` reads the same ``QueueStats`` off RabbitMQ; ``jobs.redis_dead_letters`` lists,
replays and purges the dead letters.)

Key layout of Dramatiq's Redis broker (``dramatiq/brokers/redis/dispatch.lua``), namespace ``ns``:

* ``ns:<queue>`` — list of waiting message ids (RPUSH to enqueue, LPOP to fetch);
* ``ns:<queue>.msgs`` — hash id → message, for waiting *and* fetched-not-yet-acked messages;
* ``ns:<queue>.DQ`` / ``ns:<queue>.DQ.msgs`` — the delay queue (retries with backoff, ETAs);
  workers prefetch delayed messages into memory, so ``.DQ.msgs`` counts them, ``.DQ`` may not;
* ``ns:<queue>.XQ`` — sorted set of dead-lettered ids scored by when they died (kept 7 days),
  ``ns:<queue>.XQ.msgs`` — their messages.

One Lua call reads a queue's counters and the head of its list atomically, so the same
numbers serve the CLI (sync client) and the metrics endpoints (sync and async clients).

``held_subjects_async`` answers "does the broker still hold a message about this id?" for the
recovery jobs: a message is held from its enqueue until its final acknowledgement — waiting,
prefetched, running, on a dead worker waiting to be handed back, or waiting for a retry — and in
all of those it is in ``.msgs`` or ``.DQ.msgs`` (a retry is enqueued on ``.DQ`` before the failed
copy is acknowledged, and a delayed message is moved back before its ``.DQ`` copy is). Retries
get a new ``redis_message_id`` but keep the message's first argument, so the check matches on
that. A message past its ``max_age`` is not held: ``AgeLimit`` drops it when it is fetched.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from typing import Any

import dramatiq
from dramatiq.common import current_millis

#: KEYS = queue, .msgs, .DQ, .DQ.msgs, .XQ; ARGV[1] = how many head messages to sample.
_STATS_LUA = """
local waiting = redis.call('LLEN', KEYS[1])
local stored = redis.call('HLEN', KEYS[2])
local delayed = redis.call('HLEN', KEYS[4])
local dead = redis.call('ZCARD', KEYS[5])
local head = {}
local ids = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
if #ids > 0 then head = redis.call('HMGET', KEYS[2], unpack(ids)) end
return {waiting, stored, delayed, dead, head}
"""
#: Messages at the head of a queue inspected for the oldest age (requeued messages go to the
#: tail, so the very first is not always the oldest).
HEAD_SAMPLE = 20


#: KEYS = .msgs, .DQ.msgs; ARGV[1] = now (ms), ARGV[2..] = ids. Returns the ids that some held,
#: unexpired message has as its first argument. One atomic pass over the stored messages (string
#: matching, no JSON decoding): a message cannot move between the two hashes unseen.
_HELD_LUA = """
local wanted = {}
for i = 2, #ARGV do wanted[ARGV[i]] = true end
local now = tonumber(ARGV[1])
local found = {}
for _, key in ipairs(KEYS) do
  for _, body in ipairs(redis.call('HVALS', key)) do
    local subject = string.match(body, '"args":%["([^"]*)"')
    if subject and wanted[subject] then
      local sent = tonumber(string.match(body, '"message_timestamp":(%d+)') or '0')
      local max_age = tonumber(string.match(body, '"max_age":(%d+)') or '0')
      if max_age == 0 or now - sent < max_age then
        found[#found + 1] = subject
        wanted[subject] = nil
      end
    end
  end
end
return found
"""


@dataclass(frozen=True)
class QueueStats:
    queue: str
    #: Waiting in the list: what an autoscaler should scale on.
    depth: int
    #: Fetched by a worker (running or prefetched) and not yet acknowledged; None where the
    #: broker cannot tell (RabbitMQ, ``jobs.rabbitmq``).
    in_progress: int | None
    #: Waiting for a retry backoff or an ETA.
    delayed: int
    #: Dead-lettered (retries exhausted), kept by the broker for 7 days.
    dead_letters: int
    #: Age of the oldest waiting message, since it was enqueued or last retried; 0 when empty;
    #: None where the broker cannot tell (RabbitMQ).
    oldest_age_s: float | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _keys(namespace: str, queue: str) -> list[str]:
    base = f"{namespace}:{queue}"
    return [base, f"{base}.msgs", f"{base}.DQ", f"{base}.DQ.msgs", f"{base}.XQ"]


def _enqueued_at_ms(raw: bytes | None) -> int | None:
    if raw is None:
        return None
    try:
        message = dramatiq.Message.decode(raw)
    except Exception:  # noqa: BLE001 - a foreign or corrupt entry must not break a scrape
        return None
    requeued = message.options.get("requeue_timestamp")
    return max(message.message_timestamp, int(requeued)) if isinstance(requeued, (int, float)) else message.message_timestamp


def _parse(queue: str, raw: list[Any], now_ms: int) -> QueueStats:
    waiting, stored, delayed, dead, head = raw
    times = [t for t in (_enqueued_at_ms(item) for item in head) if t is not None]
    oldest_age_s = max(0.0, (now_ms - min(times)) / 1000) if times else 0.0
    return QueueStats(
        queue=queue,
        depth=int(waiting),
        in_progress=max(0, int(stored) - int(waiting)),
        delayed=int(delayed),
        dead_letters=int(dead),
        oldest_age_s=round(oldest_age_s, 3),
    )


def queue_stats(redis: Any, namespace: str, queues: list[str] | tuple[str, ...]) -> list[QueueStats]:
    """Stats of each queue with a synchronous ``redis.Redis``."""
    script = redis.register_script(_STATS_LUA)
    return [_parse(q, script(keys=_keys(namespace, q), args=[HEAD_SAMPLE]), current_millis()) for q in queues]


async def queue_stats_async(redis: Any, namespace: str, queues: list[str] | tuple[str, ...]) -> list[QueueStats]:
    """Stats of each queue with a ``redis.asyncio.Redis``."""
    script = redis.register_script(_STATS_LUA)
    stats = []
    for q in queues:
        raw = await script(keys=_keys(namespace, q), args=[HEAD_SAMPLE])
        stats.append(_parse(q, raw, current_millis()))
    return stats


async def held_subjects_async(redis: Any, namespace: str, queue: str, ids: list[str]) -> set[str]:
    """Which of ``ids`` (first arguments: a payment or refund id) still have a message held by the
    broker on ``queue`` (waiting, in a worker's hands, or waiting for a retry); ``redis.asyncio``."""
    if not ids:
        return set()
    base = f"{namespace}:{queue}"
    script = redis.register_script(_HELD_LUA)
    found = await script(keys=[f"{base}.msgs", f"{base}.DQ.msgs"], args=[current_millis(), *ids])
    return {item.decode() if isinstance(item, bytes) else str(item) for item in found}


def subject_of(message: dramatiq.Message) -> str | None:
    """The first argument when it is an id; never other arguments (they may carry sealed data)."""
    if message.args and isinstance(message.args[0], str):
        try:
            return str(uuid.UUID(message.args[0]))
        except ValueError:
            return None
    return None


__all__ = ["QueueStats", "held_subjects_async", "queue_stats", "queue_stats_async", "subject_of"]
