"""Worker pool throughput: end-to-end payments per second for several pool sizes, against the
emulator with a fixed processor latency (200 ms by default). Prints a table; asserts nothing.

  python bench/pools.py [--latency-ms 200] [--pools 1x8 2x8 4x8] [--per-thread 25]

For each pool size ``PxT`` (processes × threads): with the workers stopped, ``per-thread × P × T``
payments are accepted through the real API (so every one is recorded and queued as in
production); then the pool starts and drains the backlog. Throughput is counted from PostgreSQL
timestamps, first claim (``processing_started_at``) to last final status (``updated_at``), so the
pool's boot time is excluded. Little's law gives the ceiling: P × T / latency.

Uses its own database (``easypay_bench_pools``) and Redis databases 2 and 3, and free ports.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import BODY, make_key, start  # noqa: E402
from engine.settings import load_settings  # noqa: E402
from tests.conftest import free_port, stop, wait_for_http  # noqa: E402

DB_NAME = "easypay_bench_pools"
CACHE_DB, BROKER_DB = 2, 3
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


async def recreate_database() -> None:
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
    finally:
        await conn.close()


async def accept(api: str, key: str, count: int, concurrency: int = 16) -> None:
    auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(count):
        queue.put_nowait(n)
    async with aiohttp.ClientSession() as session:

        async def client() -> None:
            while not queue.empty():
                queue.get_nowait()
                async with session.post(f"{api}/v1/payments", data=BODY, headers=auth) as response:
                    if response.status != 202:
                        raise RuntimeError(f"accept failed: {response.status} {await response.text()}")

        await asyncio.gather(*(client() for _ in range(concurrency)))


async def wait_drained(count: int, timeout_s: float) -> dict[str, Any]:
    conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:5432/{DB_NAME}")
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            row = await conn.fetchrow(
                "SELECT count(*) FILTER (WHERE status IN ('captured', 'authorized', 'declined', 'failed')) AS done,"
                " count(*) FILTER (WHERE status = 'captured') AS captured,"
                " min(processing_started_at) AS first_claim, max(updated_at) AS last_final FROM payments"
            )
            if row["done"] >= count or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        elapsed_s = (row["last_final"] - row["first_claim"]).total_seconds() if row["first_claim"] else float("nan")
        return {"done": row["done"], "captured": row["captured"], "drain_s": elapsed_s}
    finally:
        await conn.close()


def pool_means(port: int) -> dict[str, float]:
    """Mean job duration and mean processor call, from the pool's own metrics endpoint."""
    from prometheus_client.parser import text_string_to_metric_families

    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in (
                "dramatiq_message_duration_milliseconds_sum", "dramatiq_message_duration_milliseconds_count",
                "easypay_processor_request_duration_seconds_sum", "easypay_processor_request_duration_seconds_count",
            ):
                totals[sample.name] = totals.get(sample.name, 0.0) + sample.value
    job_n = totals.get("dramatiq_message_duration_milliseconds_count") or float("nan")
    call_n = totals.get("easypay_processor_request_duration_seconds_count") or float("nan")
    return {
        "job_mean_ms": totals.get("dramatiq_message_duration_milliseconds_sum", float("nan")) / job_n,
        "processor_mean_ms": 1000 * totals.get("easypay_processor_request_duration_seconds_sum", float("nan")) / call_n,
    }


async def truncate() -> None:
    conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:5432/{DB_NAME}")
    try:
        await conn.execute("TRUNCATE payment_events, idempotency_keys, payments")
    finally:
        await conn.close()


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency-ms", type=int, default=200, help="processor latency injected by the emulator")
    parser.add_argument("--pools", nargs="+", default=["1x8", "2x8", "4x8"], help="PROCESSESxTHREADS")
    parser.add_argument("--per-thread", type=int, default=25, help="payments per worker thread in each run")
    parser.add_argument("--no-pool-metrics", action="store_true", help="run the pools without their metrics endpoint")
    args = parser.parse_args()

    results_dir = ROOT / "bench" / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    logs = results_dir / f"{stamp}-pools-logs"
    logs.mkdir()
    api_port, sandbox_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ANET_", "DATABASE_", "REDIS_", "BROKER_", "WORKER_", "PROMETHEUS_"))}
    env.update({
        "DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{DB_NAME}",
        "REDIS_URL": f"redis://127.0.0.1:6379/{CACHE_DB}",
        "BROKER_URL": f"redis://127.0.0.1:6379/{BROKER_DB}",
        "EASYPAY_SECRET_KEY": "bench-secret-key-0123456789abcdef-0123456789",
        "EASYPAY_REDIS_PREFIX": "easypay-bench-pools",
        "EASYPAY_LOG_LEVEL": "WARNING",
        "EASYPAY_METRICS_DIR": str(logs / "metrics"),
        "SANDBOX_PORT": str(sandbox_port),
        "ANET_READ_TIMEOUT_S": "20",
        "PYTHONUNBUFFERED": "1",
    })
    settings = load_settings(env)
    await recreate_database()
    from engine.db.migrate import upgrade

    await asyncio.to_thread(upgrade, settings.database.url)
    for db in (CACHE_DB, BROKER_DB):
        redis.Redis(host="127.0.0.1", port=6379, db=db).flushdb()
    key = await make_key(settings)
    api = f"http://127.0.0.1:{api_port}"
    report: dict[str, Any] = {
        "when": stamp,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "args": vars(args),
        "runs": [],
    }
    procs = []
    try:
        sandbox = start([sys.executable, "-m", "sandbox", "--port", str(sandbox_port), "--latency-ms", str(args.latency_ms),
                         "--log-level", "WARNING"], env, logs / "sandbox.log")
        procs.append(sandbox)
        wait_for_http(f"http://127.0.0.1:{sandbox_port}/_sandbox/health", proc=sandbox)
        web = start([sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--port", str(api_port),
                     "--no-access-log", "--loop", "uvloop", "--http", "httptools", "--log-level", "warning"], env, logs / "api.log")
        procs.append(web)
        wait_for_http(f"{api}/health/live", proc=web)
        for spec in args.pools:
            processes, threads = (int(x) for x in spec.lower().split("x"))
            count = args.per_thread * processes * threads
            await truncate()
            await accept(api, key, count)
            metrics_port = 0 if args.no_pool_metrics else free_port()
            worker = start(
                [sys.executable, "-m", "easypay.cli", "worker", "--processes", str(processes), "--threads", str(threads)],
                {**env, "WORKER_METRICS_PORT": str(metrics_port)},
                logs / f"worker-{spec}.log",
            )
            started = time.monotonic()
            ceiling = processes * threads / (args.latency_ms / 1000)
            drained = await wait_drained(count, timeout_s=10 + 5 * count / ceiling)
            means = pool_means(metrics_port) if metrics_port else {}
            stop(worker, timeout_s=30)
            rate = drained["done"] / drained["drain_s"] if drained["drain_s"] else float("nan")
            run = {
                "pool": spec, "payments": count, **drained, "payments_per_s": rate,
                "littles_law_ceiling_per_s": ceiling, "ratio_to_ceiling": rate / ceiling,
                "wall_s": time.monotonic() - started, **means,
            }
            report["runs"].append(run)
            print(f"  {spec:6s} {count:5d} payments  {rate:7.1f}/s  ceiling {ceiling:6.1f}/s  "
                  f"({rate / ceiling:.0%})  captured {drained['captured']}/{count}  "
                  f"mean job {means.get('job_mean_ms', float('nan')):.0f} ms, of which processor call "
                  f"{means.get('processor_mean_ms', float('nan')):.0f} ms", flush=True)
    finally:
        for proc in reversed(procs):
            stop(proc)

    out = results_dir / f"{stamp}-pools.json"
    out.write_text(json.dumps(report, indent=2, default=str))
    print(f"\n| pool (processes × threads) | payments | end-to-end payments/s | Little's law P×T/{args.latency_ms / 1000:g} s | ratio |")
    print("|---|---|---|---|---|")
    for run in report["runs"]:
        print(f"| {run['pool']} | {run['payments']} | {run['payments_per_s']:.1f} | {run['littles_law_ceiling_per_s']:.0f} | "
              f"{run['ratio_to_ceiling']:.2f} |")
    print(f"\nraw results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
