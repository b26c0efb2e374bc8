"""Webhook delivery benchmark: prints numbers and same-run ratios; asserts nothing.

  EASYPAY_TEST_SLOT=4 python bench/webhooks.py [--burst 2000] [--endpoints 4] [--rate 20] [--duration-s 15]

Real processes: a ``webhooks`` worker pool and the dispatcher loop (``easypay webhooks dispatch
--loop``, 1 s interval as registered in the scheduler), PostgreSQL, Redis, and an aiohttp
receiver on loopback. Default pool and limits (1 process x 32 threads, 8 in flight per endpoint,
15 s timeout) unless overridden in the environment.

A. Throughput: ``--burst`` events for a merchant with ``--endpoints`` endpoints on the receiver,
   committed at once; deliveries/s from the last commit until every delivery succeeded.
B. Isolation: events at ``--rate``/s for ``--duration-s`` to 3 healthy endpoints, twice in the
   same run — alone, then with a fourth endpoint of the same merchant that hangs past the timeout.
   Healthy delivery latency (event committed -> 2xx received) and the ratio of the two runs.

Uses its own database (``easypay_bench_webhooks``) and the Redis databases of EASYPAY_TEST_SLOT.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.settings import load_settings  # noqa: E402
from tests.conftest import free_port, stop, wait_for_http  # noqa: E402

SLOT = int(os.environ.get("EASYPAY_TEST_SLOT", "0"))
DB_NAME = "easypay_bench_webhooks"
CACHE_DB, BROKER_DB = 14 - 2 * SLOT, 15 - 2 * SLOT


async def recreate_database() -> None:
    conn = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
    finally:
        await conn.close()


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_", "BROKER_"))}
    env.update(
        {
            "DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{DB_NAME}",
            "REDIS_URL": f"redis://127.0.0.1:6379/{CACHE_DB}",
            "BROKER_URL": f"redis://127.0.0.1:6379/{BROKER_DB}",
            "EASYPAY_SECRET_KEY": "bench-secret-key-0123456789abcdef-0123456789",
            "EASYPAY_ENV": "development",
            "EASYPAY_LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


async def make_merchant(engine: Any, name: str) -> uuid.UUID:
    from engine.db.accounts import create_merchant

    async with engine.begin() as conn:
        return (await create_merchant(conn, name)).id


async def add_endpoint(engine: Any, settings: Any, merchant_id: uuid.UUID, url: str) -> uuid.UUID:
    from engine.webhooks.endpoints import create_endpoint
    from engine.webhooks.secretbox import SecretBox

    async with engine.begin() as conn:
        row, _ = await create_endpoint(
            conn, SecretBox(settings.secret_key), merchant_id=merchant_id, url=url, event_types=["*"], description=None
        )
    return row.id


async def emit(engine: Any, merchant_id: uuid.UUID, count: int) -> None:
    """``count`` events in one transaction (each fans out to every endpoint)."""
    from engine.events import record_event
    from engine.payments import NewPayment, accept_payment
    from engine.views import payment_view

    async with engine.begin() as conn:
        for _ in range(count):
            row = await accept_payment(
                conn, NewPayment(merchant_id=merchant_id, amount_minor=1250, currency="USD", capture=True, payment_method_type="card")
            )
            await record_event(conn, merchant_id=merchant_id, type="payment.captured", object_type="payment",
                               object_id=row.id, snapshot=payment_view(row))


async def count_status(engine: Any, merchant_id: uuid.UUID, status: str) -> int:
    from sqlalchemy import text

    async with engine.connect() as conn:
        return int((await conn.execute(
            text("SELECT count(*) FROM webhook_deliveries WHERE merchant_id = :m AND status = :s"), {"m": merchant_id, "s": status}
        )).scalar_one())


async def healthy_latencies_s(engine: Any, endpoint_ids: list[uuid.UUID]) -> list[float]:
    """Event committed -> 2xx received, for each succeeded delivery of these endpoints."""
    from sqlalchemy import text

    async with engine.connect() as conn:
        rows = (await conn.execute(text(
            """
            SELECT extract(epoch FROM (a.attempted_at - ev.created_at)) + a.latency_ms / 1000.0 AS latency_s
            FROM webhook_deliveries d JOIN events ev ON ev.id = d.event_id
            JOIN webhook_attempts a ON a.delivery_id = d.id AND a.succeeded
            WHERE d.endpoint_id = ANY(:ids)
            """), {"ids": endpoint_ids})).all()
    return [float(r.latency_s) for r in rows]


def tree_cpu_s(root_pid: int) -> float:
    """User + system CPU seconds of a process and all its live descendants (from /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
        times[int(entry.name)] = (int(fields[11]) + int(fields[12])) / ticks
    members = {root_pid}
    changed = True
    while changed:
        changed = False
        for pid, ppid in parents.items():
            if ppid in members and pid not in members:
                members.add(pid)
                changed = True
    return sum(times.get(pid, 0.0) for pid in members)


def postgres_cpu_s() -> float:
    """CPU seconds of every postgres process (the database is shared by the whole run)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat.split("(", 1)[1].split(")", 1)[0]
        if name.startswith("postgres"):
            fields = stat.rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def describe(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    at = lambda p: ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000  # noqa: E731
    return {"n": len(values), "p50_ms": at(0.5), "p90_ms": at(0.9), "p99_ms": at(0.99), "max_ms": ordered[-1] * 1000}


async def wait_for(predicate: Any, timeout_s: float) -> float:
    started = time.perf_counter()
    while not await predicate():
        if time.perf_counter() - started > timeout_s:
            raise RuntimeError("benchmark did not finish in time")
        await asyncio.sleep(0.02)
    return time.perf_counter() - started


async def throughput(engine: Any, settings: Any, receiver: str, args: argparse.Namespace, pids: dict[str, int]) -> dict[str, Any]:
    merchant = await make_merchant(engine, "Throughput shop")
    for n in range(args.endpoints):
        await add_endpoint(engine, settings, merchant, f"{receiver}/fast/a{n}")
    await emit(engine, merchant, 20)  # warm-up: connections, code paths
    await wait_for(lambda: _all_done(engine, merchant, 20 * args.endpoints), 60)
    expected = (20 + args.burst) * args.endpoints
    batches = [min(500, args.burst - i) for i in range(0, args.burst, 500)]
    for size in batches:
        await emit(engine, merchant, size)
    cpu0 = {name: tree_cpu_s(pid) for name, pid in pids.items()}
    pg0 = postgres_cpu_s()
    elapsed = await wait_for(lambda: _all_done(engine, merchant, expected), 600)
    deliveries = args.burst * args.endpoints
    cpu_ms = {f"{name}_cpu_ms_per_delivery": 1000 * (tree_cpu_s(pid) - cpu0[name]) / deliveries for name, pid in pids.items()}
    cpu_ms["postgres_cpu_ms_per_delivery"] = 1000 * (postgres_cpu_s() - pg0) / deliveries
    return {"deliveries": deliveries, "elapsed_s": elapsed, "deliveries_per_s": deliveries / elapsed, **cpu_ms}


async def _all_done(engine: Any, merchant: uuid.UUID, expected: int) -> bool:
    return await count_status(engine, merchant, "succeeded") >= expected


async def open_loop(engine: Any, merchant: uuid.UUID, rate: float, duration_s: float) -> int:
    count = int(rate * duration_s)
    started = time.perf_counter()
    for n in range(count):
        await asyncio.sleep(max(0.0, started + n / rate - time.perf_counter()))
        await emit(engine, merchant, 1)
    return count


async def isolation(engine: Any, settings: Any, receiver: str, args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for label, hanging in (("alone", False), ("with_hanging_endpoint", True)):
        merchant = await make_merchant(engine, f"Isolation {label}")
        healthy = [await add_endpoint(engine, settings, merchant, f"{receiver}/fast/{label}{n}") for n in range(3)]
        if hanging:
            await add_endpoint(engine, settings, merchant, f"{receiver}/hang/{label}")
        count = await open_loop(engine, merchant, args.rate, args.duration_s)

        async def healthy_done() -> bool:
            return len(await healthy_latencies_s(engine, healthy)) >= count * len(healthy)

        await wait_for(healthy_done, 120)
        latencies = await healthy_latencies_s(engine, healthy)
        results[label] = describe(latencies)
        print(f"  {label:22s} healthy deliveries {len(latencies)}  p50 {results[label]['p50_ms']:.1f} ms  "
              f"p90 {results[label]['p90_ms']:.1f} ms  p99 {results[label]['p99_ms']:.1f} ms", flush=True)
    for key in ("p50_ms", "p90_ms", "p99_ms"):
        results[f"ratio_{key}"] = results["with_hanging_endpoint"][key] / results["alone"][key]
    return results


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    from engine.db.migrate import upgrade
    from engine.db.session import make_engine

    env = environment()
    settings = load_settings(env)
    await recreate_database()
    await asyncio.to_thread(upgrade, settings.database.url)
    redis.Redis(host="127.0.0.1", port=6379, db=BROKER_DB).flushdb()
    port = free_port()
    logs = ROOT / "bench" / "results"
    logs.mkdir(exist_ok=True)
    log = open(logs / "webhooks-processes.log", "wb")
    procs = [
        subprocess.Popen([sys.executable, str(ROOT / "bench" / "webhook_receiver.py"), str(port)], env=env, stdout=log, stderr=subprocess.STDOUT),
        subprocess.Popen([sys.executable, "-m", "easypay.cli", "worker", "--pool", "webhooks"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT),
        subprocess.Popen([sys.executable, "-m", "easypay.cli", "webhooks", "dispatch", "--loop"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT),
    ]
    engine = make_engine(settings.database)
    try:
        await asyncio.to_thread(wait_for_http, f"http://127.0.0.1:{port}/health", 20.0, procs[0])
        receiver = f"http://127.0.0.1:{port}"
        print("A. throughput", flush=True)
        pids = {"receiver": procs[0].pid, "worker": procs[1].pid, "dispatcher": procs[2].pid}
        a = await throughput(engine, settings, receiver, args, pids)
        print(f"  {a['deliveries']} deliveries in {a['elapsed_s']:.2f} s: {a['deliveries_per_s']:.0f} deliveries/s", flush=True)
        print("  CPU per delivery: " + ", ".join(f"{k.split('_cpu')[0]} {v:.2f} ms" for k, v in a.items() if k.endswith("per_delivery")), flush=True)
        print("B. isolation", flush=True)
        b = await isolation(engine, settings, receiver, args)
        print(f"  slowdown with a hanging endpoint: p50 x{b['ratio_p50_ms']:.2f}, p90 x{b['ratio_p90_ms']:.2f}, "
              f"p99 x{b['ratio_p99_ms']:.2f}", flush=True)
    finally:
        await engine.dispose()
        for proc in procs:
            stop(proc)
        log.close()
    hooks = settings.webhooks
    return {
        "config": {"worker_processes": settings.pools["webhooks"].processes,
                   "worker_threads": settings.pools["webhooks"].threads,
                   "endpoint_max_in_flight": hooks.endpoint_max_in_flight, "timeout_s": hooks.total_timeout_s,
                   "cpus": os.cpu_count(), **vars(args)},
        "throughput": a,
        "isolation": b,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--burst", type=int, default=2000, help="events in part A")
    parser.add_argument("--endpoints", type=int, default=4, help="endpoints per event in part A")
    parser.add_argument("--rate", type=float, default=20.0, help="events/s in part B")
    parser.add_argument("--duration-s", type=float, default=15.0, help="length of each part-B run")
    args = parser.parse_args()
    result = asyncio.run(main_async(args))
    out = ROOT / "bench" / "results" / f"webhooks-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps(result, indent=2, default=str))
    print(f"results: {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
