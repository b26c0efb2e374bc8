"""Worker pool throughput against its ceilings, measured in the same run.

- At ``--latency-ms`` of processor latency (200 ms by default), for each pool size ``PxT``
  (processes × threads): with the workers stopped, ``per-thread × P × T`` payments are accepted
  through the real API (recorded and queued as in production); then the pool starts and drains
  them. Throughput is counted from PostgreSQL timestamps, first claim (``processing_started_at``)
  to last final status (``updated_at``), so the pool's boot is excluded. Ceiling: Little's law,
  P × T / latency (none at 0 ms).
- At 0 ms, the payments pool (``--payments-pool``, default: its configured size) drains the same
  way, against a Dramatiq no-op actor with the same processes and threads draining as many
  messages from its own Redis database (the broker's own ceiling here, same idle poll interval).

``python bench/pools.py [run.py options]`` runs only this one.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import redis

if __name__ == "__main__":  # run as a script: the repository root, not bench/, goes first on the path
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench.common import NOOP_BROKER_DB, REDIS_HOST, REDIS_PORT, Row, log, pool_shape
from bench.harness import Bench

SECTION = "pools"


async def drain(bench: Bench, processes: int, threads: int, count: int, *, name: str,
                env: dict[str, str] | None = None) -> dict[str, float]:
    """Accept ``count`` payments with no pool running, then start one and wait until all are final."""
    await bench.truncate()
    await bench.accept(count)
    pool = bench.start_pool("payments", processes, threads, name=name, env=env)
    try:
        drained = await bench.wait_final(count, timeout_s=60 + count)
    finally:
        bench.stop(pool)
    drained["rate"] = drained["done"] / drained["drain_s"] if drained["drain_s"] > 0 else float("nan")
    return drained


def noop_drain_rate(bench: Bench, processes: int, threads: int, count: int) -> float:
    """Messages/s a no-op actor drains with the same pool shape (from the first fetch to the last ack)."""
    from bench import noop_actor

    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=NOOP_BROKER_DB)
    client.flushdb()
    for n in range(count):
        noop_actor.noop.send(n)
    waiting, stored = f"{noop_actor.NAMESPACE}:{noop_actor.QUEUE}", f"{noop_actor.NAMESPACE}:{noop_actor.QUEUE}.msgs"
    poll_ms = str(bench.settings.pools["payments"].poll_timeout_ms)
    proc = bench.start("noop-pool", [sys.executable, "-m", "dramatiq", "bench.noop_actor", "--processes", str(processes),
                                     "--threads", str(threads), "--queues", noop_actor.QUEUE],
                       {"dramatiq_worker_timeout": poll_ms})
    try:
        deadline = time.monotonic() + 60 + count / 100
        while client.llen(waiting) >= count:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the no-op pool did not start fetching")
            time.sleep(0.002)
        first_fetch = time.perf_counter()
        while client.hlen(stored):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the no-op pool did not drain its queue")
            time.sleep(0.002)
        return count / (time.perf_counter() - first_fetch)
    finally:
        bench.stop(proc)


async def run(bench: Bench) -> list[Row]:
    sizes = bench.sizes
    latency_ms = sizes.latency_ms
    bench.start_sandbox(latency_ms)
    bench.start_api()
    rows: list[Row] = []
    for spec in sizes.pools:
        processes, threads = pool_shape(spec)
        count = sizes.per_thread * processes * threads
        drained = await drain(bench, processes, threads, count, name=f"pool-{spec}-{latency_ms}ms")
        # Little's law; no ceiling from it without a latency (the 0 ms comparison is the no-op actor).
        ceiling = processes * threads / (latency_ms / 1000) if latency_ms else None
        log(f"  {spec}: {count} payments, {drained['rate']:.1f}/s, ceiling {ceiling or '-'}/s, captured {drained['captured']}")
        rows.append(Row(SECTION, f"{spec} payments/s at {latency_ms} ms", drained["rate"], "/s",
                        f"Little's law {processes}×{threads}/{latency_ms / 1000:g} s" if ceiling else "", ceiling,
                        "≥ 0.85× (2×16)" if spec == "2x16" else "", note=f"{count} payments"))
    await bench.sandbox_latency(0)
    processes, threads = bench.payments_pool()
    count = max(sizes.per_thread, 4) * processes * threads
    drained = await drain(bench, processes, threads, count, name="pool-0ms")
    noop = noop_drain_rate(bench, processes, threads, max(count, sizes.noop_messages))
    log(f"  {processes}x{threads} at 0 ms: {drained['rate']:.1f} payments/s; no-op actor {noop:.0f} messages/s")
    rows.append(Row(SECTION, f"{processes}x{threads} payments/s at 0 ms", drained["rate"], "/s",
                    f"Dramatiq no-op actor {processes}×{threads}", noop, note=f"{count} payments"))
    return rows


if __name__ == "__main__":
    from bench.run import main

    sys.exit(main(["--only", "pools", *sys.argv[1:]]))
