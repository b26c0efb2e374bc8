"""Where a read runs: the read replica (``DATABASE_READ_URL``) when it is current enough, else the primary.

The rule (README "Read replicas"):

* Writes, idempotency lookups, every state change, ``?wait`` long-polls, authentication and every
  worker, sweep and reconciler read never come here: they use the primary engine directly.
* A routed read goes to the replica only when all of these hold, else to the primary:
  the last lag sample reached the replica (``ReplicaLag.up``); the replica holds every commit
  older than ``max_lag_s`` (``ReplicaLag.staleness_s()``, which keeps growing when sampling
  stops); and the reading credential made no write in the last ``max_lag_s`` plus one sampling
  interval (``RecentWrites``). So a client reads its own writes, and other readers see data at
  most ``max_lag_s`` old.
* A read that fails on the replica is asked again on the primary (when the replica is
  unreachable it also counts as down until the next good sample); a single-object read that
  finds nothing on the replica is asked again on the primary (an object created a moment ago by
  someone else: a webhook's receiver fetching the event it was sent, for instance).

Reads are repeatable, so asking again is safe. Each read is one autocommit connection use: a
replica's data and the primary's are never mixed inside one answer.
"""

from __future__ import annotations

import dataclasses
from typing import Awaitable, Callable, TypeVar

from redis.asyncio import Redis
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from engine.db.replica_lag import ReplicaLag
from engine.db.session import autocommit, make_engine
from engine.metrics import DB_READS
from engine.outages import unreachable_dependency
from engine.recent_writes import RecentWrites
from engine.settings import DatabaseSettings

T = TypeVar("T")
Read = Callable[[AsyncConnection], Awaitable[T]]


class ReadRouter:
    def __init__(
        self,
        primary: AsyncEngine,
        replica: AsyncEngine | None = None,
        *,
        lag: ReplicaLag | None = None,
        recent_writes: RecentWrites | None = None,
        max_lag_s: float = 5.0,
    ) -> None:
        if replica is not None and (lag is None or recent_writes is None):
            raise ValueError("a replica needs its lag sampler and the recent-write markers")
        self._primary = autocommit(primary)
        self._replica_engine = replica
        self._replica = autocommit(replica) if replica is not None else None
        self.lag = lag
        self.recent_writes = recent_writes
        self.max_lag_s = max_lag_s

    @classmethod
    def from_settings(
        cls, database: DatabaseSettings, primary: AsyncEngine, redis: Redis, *, key_prefix: str, application_name: str
    ) -> ReadRouter:
        """The router of ``DATABASE_READ_URL`` (reads on ``primary`` only when it is not set)."""
        if database.read_url is None:
            return cls(primary, max_lag_s=database.read_max_lag_s)
        replica = make_engine(dataclasses.replace(database, url=database.read_url), application_name=application_name)
        return cls(
            primary,
            replica,
            lag=ReplicaLag(primary, replica, interval_s=database.read_lag_interval_s),
            # A write is on the replica once it holds everything older than max_lag_s (what
            # routing asks of it); one sampling interval more covers the clocks' rounding.
            recent_writes=RecentWrites(
                redis, prefix=key_prefix, window_s=database.read_max_lag_s + database.read_lag_interval_s
            ),
            max_lag_s=database.read_max_lag_s,
        )

    def start(self) -> None:
        """Start sampling the replica's lag (reads go to the primary until a sample succeeds)."""
        if self.lag is not None:
            self.lag.start()

    async def close(self) -> None:
        if self.lag is not None:
            await self.lag.stop()
        if self._replica_engine is not None:
            await self._replica_engine.dispose()

    async def _replica_refusal(self, actor: str | None) -> str | None:
        """Why this read may not use the replica now; None when it may."""
        if self._replica is None or self.lag is None or self.recent_writes is None:
            return "no_replica"
        if not self.lag.up:
            return "replica_down"
        if self.lag.staleness_s() > self.max_lag_s:
            return "lagging"
        if actor is not None and await self.recent_writes.wrote_recently(actor):
            return "recent_write"
        return None

    async def read(self, fn: Read[T], *, actor: str | None = None, missing: Callable[[T], bool] | None = None) -> T:
        """``fn(connection)`` on the replica or the primary (see the module's rule).

        ``actor``: the credential reading (``actor_key``); None for reads that are nobody's
        (metrics gauges). ``missing``: for single-object reads, says the replica's answer lacks
        the object, so the primary is asked.
        """
        value, _ = await self.read_routed(fn, actor=actor, missing=missing)
        return value

    async def read_routed(
        self, fn: Read[T], *, actor: str | None = None, missing: Callable[[T], bool] | None = None
    ) -> tuple[T, bool]:
        """``read``, also saying whether the answer came from the replica (True) or the primary."""
        refusal = await self._replica_refusal(actor)
        if refusal is not None or self._replica is None or self.lag is None:
            return await self._on_primary(fn, refusal or "no_replica"), False
        try:
            async with self._replica.connect() as conn:
                value = await fn(conn)
        except Exception as exc:  # noqa: BLE001 - asked again on the primary, which raises what is real
            if unreachable_dependency(exc) == "PostgreSQL":
                self.lag.mark_down(type(exc).__name__)
                return await self._on_primary(fn, "replica_error"), False
            # Not an outage: a recovery conflict, or the replica lacking a row the read refers
            # to (a ``starting_after`` cursor made a moment ago).
            return await self._on_primary(fn, "not_found" if not isinstance(exc, DBAPIError) else "replica_error"), False
        if missing is not None and missing(value):
            return await self._on_primary(fn, "not_found"), False
        DB_READS.labels(target="replica", reason="fresh").inc()
        return value, True

    async def _on_primary(self, fn: Read[T], reason: str) -> T:
        DB_READS.labels(target="primary", reason=reason).inc()
        async with self._primary.connect() as conn:
            return await fn(conn)


def actor_key(actor_type: str, actor_id: str) -> str:
    """The credential a recent-write marker belongs to."""
    return f"{actor_type}:{actor_id}"
