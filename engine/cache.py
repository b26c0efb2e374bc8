"""Payment snapshots in Redis: what ``GET /v1/payments/{id}`` serves before touching PostgreSQL.

Each snapshot carries the row's ``version``; a writer never replaces a newer snapshot with an
older one (a Lua compare-and-set), so a slow writer cannot roll a payment's status back.
Cache failures are never fatal: PostgreSQL stays the source of truth.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any, Sequence

import msgspec
from redis.asyncio import Redis
from redis.exceptions import NoScriptError, RedisError

from engine.redis_commands import RedisCommands
from engine.redis_pipe import send_all
from engine.metrics import CACHE_REQUESTS
from engine.views import PaymentView
from engine import redis_keys

log = logging.getLogger(__name__)


# KEYS[1] = snapshot key; ARGV = version, merchant id, body, ttl seconds, channel (empty: no
# announcement), payment id
_PUT_IF_NEWER = """
local current = redis.call('HGET', KEYS[1], 'v')
if current and tonumber(current) >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'm', ARGV[2], 'b', ARGV[3])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
if ARGV[5] ~= '' then redis.call('PUBLISH', ARGV[5], ARGV[6]) end
return 1
"""

#: The read counters, labelled once (a poll is a cache read).
_GET_HIT, _GET_MISS, _GET_ERROR = (CACHE_REQUESTS.labels(operation="get", result=r) for r in ("hit", "miss", "error"))
_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(PaymentView)


class PaymentCache:
    def __init__(self, redis: Redis, *, prefix: str, ttl_s: int, commands: RedisCommands | None = None) -> None:
        self._redis = redis
        self._prefix = prefix
        self._ttl_s = ttl_s
        self._put = redis.register_script(_PUT_IF_NEWER)
        self._script_loaded = False
        #: Pub/sub channel announcing "payment <id> changed" (payload: the id).
        self.channel = redis_keys.payment_changes_channel(prefix)
        #: Concurrent reads share one pipelined round trip (polls are the most frequent request),
        #: with whatever else the process sends Redis in the same step (a poll's rate-limit hit).
        self._commands = commands or RedisCommands(redis)

    def read_soon(self, payment_id: uuid.UUID | str) -> asyncio.Future[list[Any]]:
        """Start reading a snapshot now (it joins the next round trip); ``get_encoded(..., early=)`` answers from it.

        ``payment_id``: the id, or its canonical text (``str(uuid)``: lower case, dashed)."""
        # A request refused meanwhile (429, 403) never looks at it: a failure is its reply, not the
        # future's exception (``engine.redis_commands``), so nothing is left "never retrieved".
        return self._commands.enqueue([("HMGET", self._key(payment_id), "m", "b")])

    def _key(self, payment_id: uuid.UUID | str) -> str:
        return redis_keys.payment_snapshot(self._prefix, payment_id)

    async def put(self, view: PaymentView, *, version: int, merchant_id: uuid.UUID) -> bool:
        """Store the snapshot unless a newer one is there; False on a cache failure or an older version."""
        try:
            stored = await self._put(
                keys=[self._key(view.id)],
                args=[version, str(merchant_id), _encoder.encode(view), self._ttl_s, self.channel, view.id],
            )
        except RedisError as exc:
            CACHE_REQUESTS.labels(operation="put", result="error").inc()
            log.warning("payment cache write failed for %s: %s", view.id, exc)
            return False
        CACHE_REQUESTS.labels(operation="put", result="stored" if stored else "stale").inc()
        return bool(stored)

    async def put_many(self, snapshots: Sequence[tuple[str, bytes, int, uuid.UUID]], *, announce: bool = True) -> None:
        """Store (payment id, encoded view, version, merchant id) snapshots in one round trip.

        Each one is stored unless a newer one is there, as ``put`` does; failures are logged only.
        ``announce=False``: no change announcement (a payment just created: no long poll can be
        waiting on an id its client has not been answered yet, and ``pending`` ends no wait).
        """
        if not snapshots:
            return
        channel = self.channel if announce else ""
        try:
            if not self._script_loaded:
                await self._redis.script_load(_PUT_IF_NEWER)
                self._script_loaded = True
            # A raw EVALSHA: redis-py's pipelined Script objects check SCRIPT EXISTS on every execute.
            stored = await send_all(self._redis, [
                ("EVALSHA", self._put.sha, 1, self._key(payment_id),
                 version, str(merchant_id), body, self._ttl_s, channel, str(payment_id))
                for payment_id, body, version, merchant_id in snapshots
            ])
        except NoScriptError:  # the server lost its scripts: the next batch loads it again
            self._script_loaded = False
            CACHE_REQUESTS.labels(operation="put", result="error").inc(len(snapshots))
            return
        except RedisError as exc:
            CACHE_REQUESTS.labels(operation="put", result="error").inc(len(snapshots))
            log.warning("payment cache write of %d snapshots failed: %s", len(snapshots), exc)
            return
        fresh = sum(1 for s in stored if s)
        if fresh:
            CACHE_REQUESTS.labels(operation="put", result="stored").inc(fresh)
        if len(stored) - fresh:
            CACHE_REQUESTS.labels(operation="put", result="stale").inc(len(stored) - fresh)

    async def get(self, payment_id: uuid.UUID, *, merchant_id: uuid.UUID | None) -> PaymentView | None:
        """The cached snapshot if it belongs to ``merchant_id`` (None: any merchant); None on a miss or a cache failure."""
        body = await self.get_encoded(payment_id, merchant_id=merchant_id)
        return None if body is None else _decoder.decode(body)

    async def get_encoded(
        self, payment_id: uuid.UUID, *, merchant_id: uuid.UUID | None, early: asyncio.Future[list[Any]] | None = None
    ) -> bytes | None:
        """``get``, as the snapshot's JSON bytes (what the API answers with, unchanged).

        ``early``: this payment's ``read_soon``, already under way."""
        try:
            (reply,) = await (early if early is not None else self._commands.run([("HMGET", self._key(payment_id), "m", "b")]))
            if isinstance(reply, Exception):
                raise reply
            owner, body = reply
        except RedisError as exc:
            _GET_ERROR.inc()
            log.warning("payment cache read failed for %s: %s", payment_id, exc)
            return None
        if owner is None or body is None:
            _GET_MISS.inc()
            return None
        if merchant_id is not None and (owner.decode() if isinstance(owner, bytes) else owner) != str(merchant_id):
            _GET_MISS.inc()
            return None
        _GET_HIT.inc()
        return body if isinstance(body, bytes) else body.encode()
