"""EasyPay benchmark: prints numbers and same-run ratios; asserts nothing.

  python bench/run.py [--duration-s 8] [--rounds 3] [--concurrency 32] [--e2e-count 100] [--e2e-rate 5]

A. Accept rate of ``POST /v1/payments`` (closed loop, saturation) next to two baselines served by
   the same API process, interleaved round by round: ``/bench/bare`` (framework floor) and
   ``/bench/parse`` (auth + decode + validate + seal, no PostgreSQL, no queue). Workers are stopped.
B. Time from the ``202`` to the final status at low load (open loop, fixed rate), seen by a client
   long-polling ``GET /v1/payments/{id}?wait=``; baseline: the processor call alone (the same
   client code straight to the emulator). Run with the tuned idle poll (100 ms) and Dramatiq's
   default (1000 ms).

Uses its own database (``easypay_bench``), Redis databases 4 and 5 and free ports; results are
also written to ``bench/results/<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.loadgen import RunResult, closed_loop  # noqa: E402
from engine.settings import load_settings  # noqa: E402
from tests.conftest import free_port, stop, wait_for_http  # noqa: E402

DB_NAME = "easypay_bench"
CACHE_DB, BROKER_DB = 4, 5
BODY = json.dumps(
    {
        "amount": "12.50",
        "currency": "USD",
        "capture": True,
        "payment_method": {
            "type": "card",
            "card": {"number": "4111111111111111", "exp_month": 12, "exp_year": 2031, "cvc": "123"},
        },
        "billing": {"first_name": "Ada", "last_name": "Lovelace", "line1": "1 Main St", "city": "Springfield",
                    "state": "IL", "postal_code": "62701", "country": "US"},
        "customer_id": "cus_bench",
        "description": "Benchmark order with a realistic body size",
        "metadata": {"order_id": "A-1001", "channel": "web", "campaign": "autumn"},
    }
).encode()


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process and its children so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / ticks


async def recreate_database() -> None:
    conn = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
    finally:
        await conn.close()


async def make_key(settings: Any) -> str:
    from engine.auth import derive_pepper
    from engine.db.accounts import create_api_key, create_merchant
    from engine.db.session import make_engine

    engine = make_engine(settings.database)
    async with engine.begin() as conn:
        merchant = await create_merchant(conn, "Bench shop")
        issued = await create_api_key(conn, merchant_id=merchant.id, role="merchant", pepper=derive_pepper(settings.secret_key))
    await engine.dispose()
    return issued.token


def purge_queue() -> None:
    client = redis.Redis(host="127.0.0.1", port=6379, db=BROKER_DB)
    client.flushdb()


async def accept_rounds(api: str, key: str, api_pid: int, args: argparse.Namespace) -> dict[str, Any]:
    auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    targets = {
        "bare": (f"{api}/bench/bare", lambda n: {"Content-Type": "application/json"}),
        "parse": (f"{api}/bench/parse", lambda n: auth),
        "payments": (f"{api}/v1/payments", lambda n: auth),
        "payments+idempotency": (
            f"{api}/v1/payments",
            lambda n, run=uuid.uuid4().hex: {**auth, "Idempotency-Key": f"{run}-{n}"},
        ),
    }
    # Warm-up: connection pools, caches, code paths.
    for name, (url, headers) in targets.items():
        await closed_loop(name, url, body=lambda n: BODY, headers=headers, duration_s=2, concurrency=args.concurrency)
    purge_queue()
    results: dict[str, list[tuple[RunResult, float]]] = {name: [] for name in targets}
    for round_no in range(args.rounds):
        for name, (url, headers) in targets.items():
            cpu0 = cpu_s(api_pid)
            run = await closed_loop(name, url, body=lambda n: BODY, headers=headers, duration_s=args.duration_s, concurrency=args.concurrency)
            api_cpu = cpu_s(api_pid) - cpu0
            results[name].append((run, api_cpu))
            print(f"  round {round_no + 1} {name:22s} {run.rate:8.0f} req/s  errors {run.errors}  "
                  f"p50 {run.pct_ms(0.5):6.1f} ms  p99 {run.pct_ms(0.99):6.1f} ms", flush=True)
            purge_queue()
    summary: dict[str, Any] = {}
    for name, runs in results.items():
        rates = [r.rate for r, _ in runs]
        ok = sum(r.requests - r.errors for r, _ in runs)
        summary[name] = {
            "rate_median": statistics.median(rates),
            "rate_min": min(rates),
            "rate_max": max(rates),
            "errors": sum(r.errors for r, _ in runs),
            "p50_ms_closed_loop": statistics.median(r.pct_ms(0.5) for r, _ in runs),
            "p99_ms_closed_loop": statistics.median(r.pct_ms(0.99) for r, _ in runs),
            "api_cpu_ms_per_request": 1000 * sum(c for _, c in runs) / ok if ok else None,
            "loadgen_cpu_s": sum(r.loadgen_cpu_s for r, _ in runs),
        }
    return summary


async def direct_processor_calls(settings: Any, count: int) -> list[float]:
    """Baseline for part B: the worker's processor client called directly, same emulator."""
    from engine.processor import Card, ChargeRequest, ProcessorClient

    client = ProcessorClient(settings.processor)
    latencies = []
    for n in range(count):
        request = ChargeRequest(
            capture=True, amount_minor=1250, currency="USD", exponent=2,
            invoice_number=f"BD{uuid.uuid4().hex[:18]}", payment=Card("4111111111111111", 12, 2031, "123"),
        )
        t0 = time.perf_counter()
        await client.charge(request)
        latencies.append(time.perf_counter() - t0)
    await client.aclose()
    return latencies


async def end_to_end(api: str, key: str, count: int, rate: float) -> tuple[list[float], list[str]]:
    """Open loop: one payment every 1/rate s; each client long-polls until the final status."""
    auth = {"Authorization": f"Bearer {key}"}
    latencies: list[float] = []
    statuses: list[str] = []

    async def one(session: aiohttp.ClientSession) -> None:
        async with session.post(f"{api}/v1/payments", data=BODY, headers={**auth, "Content-Type": "application/json"}) as r:
            payment = await r.json()
            accepted_at = time.perf_counter()
        status = payment["status"]
        while status in ("pending", "processing"):
            async with session.get(f"{api}/v1/payments/{payment['id']}", params={"wait": "10"}, headers=auth) as r:
                status = (await r.json())["status"]
        latencies.append(time.perf_counter() - accepted_at)
        statuses.append(status)

    async with aiohttp.ClientSession() as session:
        tasks = []
        started = time.perf_counter()
        for n in range(count):
            await asyncio.sleep(max(0.0, started + n / rate - time.perf_counter()))
            tasks.append(asyncio.create_task(one(session)))
        await asyncio.gather(*tasks)
    return latencies, statuses


def idle_broker_calls_per_s(window_s: float) -> float:
    """Redis commands per second the idle worker pool costs (all clients; nothing else is running)."""
    client = redis.Redis(host="127.0.0.1", port=6379)
    before = int(client.info("stats")["total_commands_processed"])
    time.sleep(window_s)
    after = int(client.info("stats")["total_commands_processed"])
    return (after - before - 2) / window_s


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000


def describe(values: list[float]) -> dict[str, float]:
    return {"p50_ms": pct(values, 0.5), "p90_ms": pct(values, 0.9), "p99_ms": pct(values, 0.99),
            "max_ms": max(values) * 1000, "n": len(values)}


def start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=open(log, "ab"), stderr=subprocess.STDOUT, start_new_session=True)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration-s", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--e2e-count", type=int, default=100)
    parser.add_argument("--e2e-rate", type=float, default=5.0, help="payments per second in part B")
    parser.add_argument("--skip-accept", action="store_true")
    parser.add_argument("--poll-ms", type=int, nargs="+", default=[20, 50, 100, 1000],
                        help="worker idle poll intervals to compare in part B")
    args = parser.parse_args()

    results_dir = ROOT / "bench" / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    logs = results_dir / f"{stamp}-logs"
    logs.mkdir()
    api_port, sandbox_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANET_", "DATABASE_", "REDIS_", "BROKER_", "WORKER_"))}
    env.update({
        "DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{DB_NAME}",
        "REDIS_URL": f"redis://127.0.0.1:6379/{CACHE_DB}",
        "BROKER_URL": f"redis://127.0.0.1:6379/{BROKER_DB}",
        "EASYPAY_SECRET_KEY": "bench-secret-key-0123456789abcdef-0123456789",
        "EASYPAY_REDIS_PREFIX": "easypay-bench",
        "EASYPAY_LOG_LEVEL": "WARNING",
        # One key sends every request: limits high enough never to throttle, still counted in Redis.
        "RATE_LIMIT_PER_MINUTE": "100000000",
        "RATE_LIMIT_PER_HOUR": "1000000000",
        "RATE_LIMIT_PER_DAY": "1000000000",
        "SANDBOX_PORT": str(sandbox_port),
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
    procs: list[subprocess.Popen[bytes]] = []
    report: dict[str, Any] = {
        "when": stamp,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "args": vars(args),
    }
    try:
        sandbox = start([sys.executable, "-m", "sandbox", "--port", str(sandbox_port), "--log-level", "WARNING"], env, logs / "sandbox.log")
        procs.append(sandbox)
        wait_for_http(f"http://127.0.0.1:{sandbox_port}/_sandbox/health", proc=sandbox)
        web = start([sys.executable, "-m", "uvicorn", "bench.app:create_bench_app", "--factory", "--port", str(api_port),
                     "--no-access-log", "--loop", "uvloop", "--http", "httptools", "--log-level", "warning"], env, logs / "api.log")
        procs.append(web)
        wait_for_http(f"{api}/health/live", proc=web)

        if not args.skip_accept:
            print(f"A. accept rate: closed loop, concurrency {args.concurrency}, {args.rounds} rounds × {args.duration_s} s, workers stopped", flush=True)
            accept = await accept_rounds(api, key, web.pid, args)
            bare, parse_, real = (accept[n]["rate_median"] for n in ("bare", "parse", "payments"))
            accept["ratios"] = {
                "payments/bare": real / bare,
                "payments/parse": real / parse_,
                "payments+idempotency/payments": accept["payments+idempotency"]["rate_median"] / real,
            }
            report["accept"] = accept

        print(f"B. 202 → final status, open loop {args.e2e_rate}/s × {args.e2e_count}, 1 worker process × 8 threads", flush=True)
        direct = await direct_processor_calls(settings, args.e2e_count)
        report["processor_call_direct"] = describe(direct)
        report["end_to_end"] = {}
        for poll_ms in args.poll_ms:
            worker = start([sys.executable, "-m", "easypay.cli", "worker", "--processes", "1", "--threads", "8"],
                           {**env, "WORKER_POLL_TIMEOUT_MS": str(poll_ms)}, logs / f"worker-{poll_ms}.log")
            time.sleep(3)  # boot
            idle_calls = idle_broker_calls_per_s(3.0)
            latencies, statuses = await end_to_end(api, key, args.e2e_count, args.e2e_rate)
            stop(worker, timeout_s=15)
            entry = describe(latencies)
            entry["idle_broker_calls_per_s"] = idle_calls
            entry["all_captured"] = all(s == "captured" for s in statuses)
            entry["ratio_p50_to_direct_processor_call"] = entry["p50_ms"] / report["processor_call_direct"]["p50_ms"]
            report["end_to_end"][f"poll_{poll_ms}ms"] = entry
    finally:
        for proc in reversed(procs):
            stop(proc)

    out = results_dir / f"{stamp}.json"
    out.write_text(json.dumps(report, indent=2))
    print_report(report)
    print(f"\nraw results: {out}")
    return 0


def print_report(report: dict[str, Any]) -> None:
    print("\n== Results ==")
    if "accept" in report:
        acc = report["accept"]
        print(f"{'endpoint':24s} {'req/s (median)':>15s} {'min-max':>15s} {'API CPU ms/req':>15s} {'errors':>7s}")
        for name in ("bare", "parse", "payments", "payments+idempotency"):
            r = acc[name]
            print(f"{name:24s} {r['rate_median']:15.0f} {r['rate_min']:7.0f}-{r['rate_max']:<7.0f} "
                  f"{r['api_cpu_ms_per_request']:15.2f} {r['errors']:7d}")
        for name, value in acc["ratios"].items():
            print(f"ratio {name:34s} {value:.3f}")
    d = report["processor_call_direct"]
    print(f"\nprocessor call alone (baseline): p50 {d['p50_ms']:.1f} ms  p90 {d['p90_ms']:.1f}  p99 {d['p99_ms']:.1f}")
    for name, e in report["end_to_end"].items():
        print(f"202 → final, worker {name:12s}: p50 {e['p50_ms']:.1f} ms  p90 {e['p90_ms']:.1f}  p99 {e['p99_ms']:.1f}  "
              f"max {e['max_ms']:.1f}  (×{e['ratio_p50_to_direct_processor_call']:.1f} the processor call; "
              f"all captured: {e['all_captured']}; idle Redis load {e['idle_broker_calls_per_s']:.0f} commands/s)")


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
