"""The fault suite: each fault hits a whole running EasyPay while clients stream payments.

Every test prints one line — trials, accepted, final, lost, doubled, seconds until the drain
resumed — and fails on any loss, any double charge, any 5xx but 503, a trial never accepted, or a
drain that does not resume within 30 s after the fault ends. The rig (``tests/faults/rig.py``)
runs on PostgreSQL, Redis and an emulator of its own, so faults never touch the shared services.
"""

from __future__ import annotations

import asyncio
import random
import signal
import time
from pathlib import Path
from typing import Iterator

import pytest
import redis

from tests.faults.rig import Rig, Tally

KILLS = 24


@pytest.fixture
def rig(test_env: dict[str, str], tmp_path: Path) -> Iterator[Rig]:
    rig = Rig(test_env, tmp_path)
    try:
        yield rig
    finally:
        rig.close()


@pytest.fixture
def report(capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    def show(tally: Tally) -> None:
        with capsys.disabled():
            print(f"\n{tally.line()}")
        tally.check()

    return show


async def test_worker_pool_sigkilled_dozens_of_times_during_a_stream(rig: Rig, report) -> None:
    rig.start_all()
    stream = asyncio.create_task(rig.stream(100, rate_per_s=2.5, prefix="kill"))
    rng = random.Random(7)
    for _ in range(KILLS):
        await asyncio.sleep(rng.uniform(1.0, 2.5))
        await asyncio.to_thread(rig.kill, rig.pool)
        rig.start_pool()
    trials = await stream
    report(await rig.tally(f"worker SIGKILL x{KILLS}", trials, fault_ended_at=time.monotonic()))


async def test_redis_flushed_with_payments_queued(rig: Rig, report) -> None:
    rig.start_api()
    trials = await rig.stream(30, rate_per_s=20, prefix="flush")
    redis.Redis(port=rig.redis.port).flushall()
    ended = time.monotonic()
    rig.start_pool()
    rig.start_scheduler()
    report(await rig.tally("Redis flushed, 30 queued", trials, fault_ended_at=ended))


async def test_postgres_stopped_under_load(rig: Rig, report) -> None:
    rig.start_all()
    stream = asyncio.create_task(rig.stream(100, rate_per_s=5, prefix="pg"))
    await asyncio.sleep(5)
    await asyncio.to_thread(rig.pg.stop)
    await asyncio.sleep(10)
    await asyncio.to_thread(rig.pg.start)
    ended = time.monotonic()
    trials = await stream
    report(await rig.tally("PostgreSQL stopped 10 s", trials, fault_ended_at=ended))


async def test_processor_faults_on_about_a_third_of_requests(rig: Rig, report) -> None:
    charge = {"transaction_type": "authCaptureTransaction"}
    # Hangs past the client's read timeout, answers dropped after the charge, 500s, random 503s.
    rig.sandbox.add_fault("hang", delay_ms=5000, count=10, match=charge)
    rig.sandbox.add_fault("drop_after_commit", count=10, match=charge)
    rig.sandbox.add_fault("http_500", count=10, match=charge)
    rig.sandbox.configure(fail_rate=0.1)
    rig.start_all()
    trials = await rig.stream(100, rate_per_s=5, prefix="anet")
    rig.sandbox.configure(fail_rate=0.0)
    rig.sandbox.clear_faults()
    report(await rig.tally("processor faults ~30 %", trials, fault_ended_at=time.monotonic()))


async def test_pool_sigterm_mid_stream(rig: Rig, report) -> None:
    rig.start_all()
    stream = asyncio.create_task(rig.stream(100, rate_per_s=5, prefix="term"))
    await asyncio.sleep(8)
    pool = rig.pool
    assert pool is not None
    rig.kill(pool, signal.SIGTERM)
    started = time.monotonic()
    await asyncio.to_thread(pool.wait, 60)  # raises if the pool outlives its shutdown timeout by far
    stopped_s = time.monotonic() - started
    rig.start_pool()
    ended = time.monotonic()
    trials = await stream
    tally = await rig.tally(f"pool SIGTERM (stopped in {stopped_s:.1f} s)", trials, fault_ended_at=ended)
    report(tally)
    assert stopped_s < 30, tally.line()


async def test_api_sigkilled_mid_stream(rig: Rig, report) -> None:
    rig.start_all()
    stream = asyncio.create_task(rig.stream(100, rate_per_s=5, prefix="api"))
    await asyncio.sleep(6)
    await asyncio.to_thread(rig.kill, rig.api)
    await asyncio.sleep(2)
    await asyncio.to_thread(rig.start_api)
    ended = time.monotonic()
    trials = await stream
    report(await rig.tally("API SIGKILL", trials, fault_ended_at=ended))
