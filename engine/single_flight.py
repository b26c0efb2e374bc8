"""Single-flight runs of the recovery jobs: a run that is still going is not started again.

The scheduler enqueues a job on every slot of its interval whether or not the previous run has
finished, and several workers may hold copies. Each run first takes ``<prefix>:running:<job>`` in
Redis (redis-py's ``Lock``: ``SET NX PX`` with a random token, released and extended only by its
owner). The lock has a short TTL (``LOCK_TTL_S``) that the run renews every third of it while it
works, so a run of any length keeps it, and a worker that dies (SIGKILL, lost machine) stops
renewing and the lock expires within one TTL: the next scheduled run takes over. A run that finds
the lock taken exits at once with an INFO line ``<job>: previous run still going; this run exits``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Awaitable, Callable, TypeVar

from redis.asyncio import Redis
from redis.asyncio.lock import Lock
from redis.exceptions import LockError, RedisError
from engine import redis_keys

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Lifetime of a run's lock unless renewed; also the longest a dead worker's lock blocks the job.
LOCK_TTL_S = 60.0


def lock_key(prefix: str, job: str) -> str:
    return redis_keys.running_job(prefix, job)


async def run_single_flight(
    redis: Redis, prefix: str, job: str, work: Callable[[], Awaitable[T]], *, ttl_s: float = LOCK_TTL_S
) -> tuple[bool, T | None]:
    """Run ``work()`` unless another run of ``job`` holds the lock; returns (ran, result)."""
    lock = redis.lock(lock_key(prefix, job), timeout=ttl_s, blocking=False, thread_local=False)
    if not await lock.acquire():
        log.info("%s: previous run still going; this run exits", job)
        return False, None
    renewer = asyncio.create_task(_renew(lock, job, ttl_s))
    try:
        return True, await work()
    finally:
        renewer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewer
        try:
            await lock.release()
        except (LockError, RedisError) as exc:  # expired or unreachable: it expires on its own
            log.warning("%s: could not release the run lock: %s", job, type(exc).__name__)


async def _renew(lock: Lock, job: str, ttl_s: float) -> None:
    while True:
        await asyncio.sleep(ttl_s / 3)
        try:
            await lock.reacquire()
        except LockError:
            log.warning("%s: the run lock was lost (expired while this run went on)", job)
            return
        except RedisError as exc:  # keep trying: the lock lasts a whole TTL
            log.warning("%s: could not renew the run lock: %s", job, type(exc).__name__)
