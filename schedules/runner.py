"""The ``scheduler`` process: runs every registered job once per slot of its interval.

Time is cut into slots of ``interval_s`` (slot = floor(unix time / interval)). Before running a
job for a slot, a process claims ``<prefix>:schedule:<job>:<slot>`` with ``SET NX`` and an expiry,
so any number of scheduler copies run each job at most once per slot. A copy that is down simply
lets another one win the next slot. Jobs only enqueue; a failing job is logged and retried next
slot.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import socket
import time
from typing import Callable

from redis.asyncio import Redis

from engine import redis_client
from engine.settings import Settings
from schedules.registry import REGISTRY, Job, JobContext, Registry
from jobs.brokers import connect_sender
from jobs.sender import JobSender
from engine import redis_keys

log = logging.getLogger(__name__)

#: Longest sleep between checks, so a stop request is noticed promptly.
MAX_TICK_S = 1.0


class Scheduler:
    def __init__(
        self,
        settings: Settings,
        registry: Registry,
        *,
        redis: Redis,
        jobs: JobSender,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._registry = registry
        self._redis = redis
        self._ctx = JobContext(settings=settings, jobs=jobs)
        self._clock = clock
        self._last_slot: dict[str, int] = {}
        self.instance = f"{socket.gethostname()}:{os.getpid()}"

    def _key(self, job: Job, slot: int) -> str:
        return redis_keys.schedule_claim(self._settings.redis.key_prefix, job.name, slot)

    async def claim(self, job: Job, slot: int, interval_s: float) -> bool:
        """True if this process won ``slot`` of ``job`` (the key outlives the slot)."""
        ttl_s = max(2, math.ceil(interval_s * 2))
        return bool(await self._redis.set(self._key(job, slot), self.instance, nx=True, ex=ttl_s))

    async def tick(self) -> float:
        """Run the jobs whose slot changed; return seconds until the next slot starts."""
        now = self._clock()
        wait_s = MAX_TICK_S
        for job in self._registry:
            interval_s = job.interval_s(self._settings)
            slot = int(now // interval_s)
            wait_s = min(wait_s, (slot + 1) * interval_s - now)
            if self._last_slot.get(job.name) == slot:
                continue
            try:
                if await self.claim(job, slot, interval_s):
                    await job.run(self._ctx)
                    # DEBUG: the webhook dispatch alone runs every second.
                    log.debug("scheduled job %s ran for slot %d on %s", job.name, slot, self.instance)
                self._last_slot[job.name] = slot
            except Exception as exc:  # noqa: BLE001 - one job must not stop the others
                log.warning("scheduled job %s failed for slot %d: %s", job.name, slot, type(exc).__name__)
        return max(0.01, wait_s)

    async def run(self, stop: asyncio.Event) -> None:
        log.info("scheduler %s started with jobs: %s", self.instance, ", ".join(self._registry.names()))
        while not stop.is_set():
            wait_s = await self.tick()
            try:
                await asyncio.wait_for(stop.wait(), timeout=wait_s)
            except TimeoutError:
                pass


async def serve(settings: Settings, stop: asyncio.Event, registry: Registry | None = None) -> None:
    """Run the scheduler with the engine's jobs until ``stop`` is set."""
    import schedules.jobs  # noqa: F401  (registers the engine's jobs)

    redis = redis_client.connect(settings.redis.cache_url)
    jobs = connect_sender(settings)
    try:
        await Scheduler(settings, registry or REGISTRY, redis=redis, jobs=jobs).run(stop)
    finally:
        await jobs.close()
        await redis.aclose()
