"""How far a streaming replica is behind its primary, measured by comparing WAL positions.

Every ``interval_s`` the sampler reads the primary's current WAL position (``pg_current_wal_lsn``)
and then the replica's replayed position (``pg_last_wal_replay_lsn``). It keeps the recent
(time, primary position) samples: the newest sample whose position the replica has replayed says
"the replica holds everything the primary had committed at that time" (``complete_as_of``).
Staleness is the time since then. Unlike ``now() - pg_last_xact_replay_timestamp()`` this reads 0
for a caught-up replica of an idle primary, and it grows while replay is paused or slow.

The replica counts as down after a failed sample (or when a reader reports an error) until the
next sample succeeds; a server that is not in recovery (a promoted replica, or the primary itself
by mistake) is treated as down too: its data may have diverged.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import time

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from engine.db.session import autocommit

log = logging.getLogger(__name__)

_PRIMARY_SQL = text("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint")
_REPLICA_SQL = text(
    "SELECT pg_is_in_recovery() AS in_recovery, pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0')::bigint AS replayed"
)
#: Samples kept while the replica is behind (an hour at the default interval); older ones are dropped.
MAX_SAMPLES = 3600
#: Each query of a sample gives up after this long.
QUERY_TIMEOUT_S = 2.0


class ReplicaLag:
    def __init__(self, primary: AsyncEngine, replica: AsyncEngine, *, interval_s: float) -> None:
        self._primary = autocommit(primary)
        self._replica = autocommit(replica)
        self._interval_s = interval_s
        #: (monotonic time, primary WAL position) of recent samples, oldest first.
        self._history: collections.deque[tuple[float, int]] = collections.deque(maxlen=MAX_SAMPLES)
        #: Monotonic time at which the primary had nothing the replica has not replayed; None: unknown.
        self.complete_as_of: float | None = None
        #: Whether the last sample reached a replica in recovery.
        self.up = False
        #: Why the replica counts as down (an exception type or ``not_in_recovery``); None when up.
        self.problem: str | None = "not sampled yet"
        #: At the last successful sample: seconds behind and WAL bytes not replayed.
        self.lag_s: float | None = None
        self.lag_bytes: int | None = None
        self._task: asyncio.Task[None] | None = None

    def staleness_s(self, now: float | None = None) -> float:
        """Seconds of commits the replica may be missing now (infinite when unknown)."""
        if self.complete_as_of is None:
            return math.inf
        return (time.monotonic() if now is None else now) - self.complete_as_of

    def mark_down(self, problem: str) -> None:
        """A reader saw the replica fail: reads go to the primary until a sample succeeds."""
        if self.up:
            log.warning("read replica unavailable (%s): reads go to the primary", problem)
        self.up = False
        self.problem = problem

    async def sample(self) -> None:
        """Measure once; never raises (a failure marks the replica down)."""
        try:
            at, position = await asyncio.wait_for(self._primary_position(), QUERY_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - the primary's own outage shows elsewhere
            log.debug("replica lag: primary position unavailable: %s", type(exc).__name__)
            return  # no new sample: staleness keeps growing from the last known point
        self._history.append((at, position))
        try:
            in_recovery, replayed = await asyncio.wait_for(self._replica_position(), QUERY_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - any failure: the replica is not serving
            self.mark_down(type(exc).__name__)
            return
        if not in_recovery or replayed is None:
            self.mark_down("not_in_recovery")
            return
        self._record(int(replayed), now=time.monotonic())
        if not self.up:
            log.info("read replica available")
        self.up, self.problem = True, None

    async def _primary_position(self) -> tuple[float, int]:
        async with self._primary.connect() as conn:
            # Taken before the query: every commit acknowledged by then is at or before the position.
            at = time.monotonic()
            return at, int((await conn.execute(_PRIMARY_SQL)).scalar_one())

    async def _replica_position(self) -> tuple[bool, int | None]:
        async with self._replica.connect() as conn:
            row = (await conn.execute(_REPLICA_SQL)).one()
        return bool(row.in_recovery), row.replayed

    def _record(self, replayed: int, *, now: float) -> None:
        # The newest sample the replica has replayed, and drop everything older than it.
        while len(self._history) >= 2 and self._history[1][1] <= replayed:
            self._history.popleft()
        if self._history and self._history[0][1] <= replayed:
            covered_at = self._history[0][0]
            if self.complete_as_of is None or covered_at > self.complete_as_of:
                self.complete_as_of = covered_at
        newest_position = self._history[-1][1] if self._history else replayed
        self.lag_bytes = max(0, newest_position - replayed)
        if self.complete_as_of is not None:
            self.lag_s = max(0.0, now - self.complete_as_of)
        else:  # behind since before the first sample: at least this much
            self.lag_s = now - self._history[0][0] if self._history else None

    async def _run(self) -> None:
        while True:
            await self.sample()
            await asyncio.sleep(self._interval_s)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="replica-lag")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
