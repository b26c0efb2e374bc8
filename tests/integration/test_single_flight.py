"""Single-flight runs (real Redis): two runs at once do the work once; the lock is renewed while a
run goes on; a holder that dies (SIGKILL) stops blocking the job within one TTL."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid

from redis.asyncio import Redis

from engine.single_flight import lock_key, run_single_flight
from tests.conftest import ROOT


async def test_two_runs_at_once_do_the_work_once(settings, redis_clean):
    redis = Redis.from_url(settings.redis.cache_url)
    prefix = f"sf-{uuid.uuid4().hex[:8]}"
    done: list[int] = []

    async def work() -> int:
        await asyncio.sleep(0.5)
        done.append(1)
        return len(done)

    try:
        results = await asyncio.gather(
            run_single_flight(redis, prefix, "reconcile_due", work), run_single_flight(redis, prefix, "reconcile_due", work)
        )
        assert sorted(results, key=lambda r: r[0]) == [(False, None), (True, 1)]
        assert done == [1]
        assert await redis.exists(lock_key(prefix, "reconcile_due")) == 0  # released at the end
        # Once it is over, the next run goes ahead.
        assert await run_single_flight(redis, prefix, "reconcile_due", work) == (True, 2)
    finally:
        await redis.aclose()


async def test_a_long_run_keeps_its_lock_by_renewing_it(settings, redis_clean):
    redis = Redis.from_url(settings.redis.cache_url)
    prefix = f"sf-{uuid.uuid4().hex[:8]}"
    refused: list[bool] = []

    async def long_work() -> str:
        for _ in range(4):  # four TTLs long
            await asyncio.sleep(0.4)
            ran, _ = await run_single_flight(redis, prefix, "sweep_pending", _nothing, ttl_s=0.4)
            refused.append(not ran)
        return "done"

    try:
        assert await run_single_flight(redis, prefix, "sweep_pending", long_work, ttl_s=0.4) == (True, "done")
        assert refused == [True, True, True, True]
    finally:
        await redis.aclose()


async def _nothing() -> None:
    return None


HOLDER = """
import asyncio, sys
from redis.asyncio import Redis
from engine.single_flight import run_single_flight

async def main():
    redis = Redis.from_url(sys.argv[1])
    async def forever():
        print("holding", flush=True)
        await asyncio.sleep(3600)
    await run_single_flight(redis, sys.argv[2], "reconcile_due", forever, ttl_s=1.0)

asyncio.run(main())
"""


async def test_the_lock_of_a_killed_run_expires(settings, redis_clean):
    redis = Redis.from_url(settings.redis.cache_url)
    prefix = f"sf-{uuid.uuid4().hex[:8]}"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, settings.redis.cache_url, prefix], cwd=ROOT, stdout=subprocess.PIPE, start_new_session=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"holding"
        await asyncio.sleep(1.5)  # past one TTL: only renewal keeps it
        assert (await run_single_flight(redis, prefix, "reconcile_due", _nothing, ttl_s=1.0))[0] is False
        os.killpg(holder.pid, signal.SIGKILL)
        holder.wait()
        deadline = time.monotonic() + 10
        while not (await run_single_flight(redis, prefix, "reconcile_due", _nothing, ttl_s=1.0))[0]:
            assert time.monotonic() < deadline, "the dead run's lock never expired"
            await asyncio.sleep(0.1)
    finally:
        if holder.poll() is None:
            os.killpg(holder.pid, signal.SIGKILL)
            holder.wait()
        await redis.aclose()
