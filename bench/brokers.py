"""The two brokers side by side, in one run: Redis (``redis://``) and RabbitMQ (``amqp://``).

For each broker, with the API and a payments pool on it (``--payments-pool``, default its
configured size) and the emulator at 7 ms:

- **202 → final at low load**: one payment at a time, ``POST /v1/payments`` then the long-poll
  ``GET ?wait=`` until it is final; p50 and p99 from the client's clock (what a merchant sees);
- **pool throughput**: ``per-thread × P × T`` payments accepted with the pool stopped, then drained
  at ``--latency-ms`` (as in ``pools``), against Little's law;
- **idle CPU**: the pool's processes and the broker server over a quiet window with nothing
  queued (a polling consumer costs CPU while it waits; a pushed one should not).

The RabbitMQ rows take the Redis rows of the same run as their baseline. RabbitMQ runs in a
virtual host of its own on the local server (127.0.0.1:5672, guest), rebuilt with ``rabbitmqctl``.

``python bench/brokers.py [run.py options]`` runs only this one.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

if __name__ == "__main__":  # run as a script: the repository root, not bench/, goes first on the path
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench.common import BODY, DB_NAME, FINAL_STATUSES, Row, log, pct_ms, proc_cpu_s, redis_server_pid, tree_cpu_s
from bench.harness import Bench
from bench.pools import drain

SECTION = "brokers"
VHOST = DB_NAME.replace("_", "-")
RABBITMQ_URL = f"amqp://guest:guest@127.0.0.1:5672/{VHOST}"
#: The processor call the low-load latency is measured against.
LOW_LOAD_LATENCY_MS = 7


def _reset_vhost() -> None:
    subprocess.run(["rabbitmqctl", "-q", "delete_vhost", VHOST], capture_output=True, timeout=60)
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", VHOST], check=True, capture_output=True, timeout=60)
    subprocess.run(["rabbitmqctl", "-q", "set_permissions", "-p", VHOST, "guest", ".*", ".*", ".*"],
                   check=True, capture_output=True, timeout=60)


def _rabbitmq_pids() -> list[int]:
    """The RabbitMQ server's Erlang VM processes."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "beam.smp":
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def _broker_cpu_s(broker: str) -> float:
    if broker == "redis":
        pid = redis_server_pid()
        return proc_cpu_s(pid) if pid else 0.0
    return sum(proc_cpu_s(pid) for pid in _rabbitmq_pids())


async def _low_load_latencies_s(bench: Bench, count: int) -> list[float]:
    auth = {"Authorization": f"Bearer {bench.key}", "Content-Type": "application/json"}
    latencies = []
    async with aiohttp.ClientSession() as session:
        for _ in range(count):
            started = time.perf_counter()
            async with session.post(f"{bench.api}/v1/payments", data=BODY, headers=auth) as response:
                if response.status != 202:
                    raise RuntimeError(f"accept failed: {response.status} {await response.text()}")
                payment_id = (await response.json())["id"]
            while True:
                async with session.get(f"{bench.api}/v1/payments/{payment_id}?wait=10", headers=auth) as response:
                    if (await response.json())["status"] in FINAL_STATUSES:
                        break
            latencies.append(time.perf_counter() - started)
    return latencies


async def _one_broker(bench: Bench, broker: str) -> dict[str, float]:
    sizes = bench.sizes
    env = {"BROKER_URL": RABBITMQ_URL} if broker == "rabbitmq" else {}
    processes, threads = bench.payments_pool()
    await bench.truncate()
    await bench.sandbox_latency(LOW_LOAD_LATENCY_MS)
    bench.api, bench.api_proc = bench.start_uvicorn("api", "bench.app:create_bench_app", env)
    figures: dict[str, float] = {}
    try:
        pool = bench.start_pool("payments", processes, threads, name=f"pool-{broker}", env=env)
        try:
            await _low_load_latencies_s(bench, 3)  # warm-up: connections, caches, the pool's boot
            latencies = await _low_load_latencies_s(bench, sizes.broker_low_load)
            figures["p50_ms"], figures["p99_ms"] = pct_ms(latencies, 0.5), pct_ms(latencies, 0.99)
            await asyncio.sleep(1.0)  # let the last acknowledgements settle
            pool_cpu0, broker_cpu0, t0 = tree_cpu_s(pool.pid), _broker_cpu_s(broker), time.perf_counter()
            await asyncio.sleep(sizes.broker_idle_s)
            elapsed_s = time.perf_counter() - t0
            figures["idle_pool_cpu_ms_per_s"] = (tree_cpu_s(pool.pid) - pool_cpu0) / elapsed_s * 1000
            figures["idle_broker_cpu_ms_per_s"] = (_broker_cpu_s(broker) - broker_cpu0) / elapsed_s * 1000
        finally:
            bench.stop(pool)
        await bench.sandbox_latency(sizes.latency_ms)
        count = sizes.per_thread * processes * threads
        drained = await drain(bench, processes, threads, count, name=f"pool-{broker}-drain", env=env)
        figures["rate"], figures["count"] = drained["rate"], count
    finally:
        bench.stop(bench.api_proc)
        bench.api, bench.api_proc = "", None
    log(f"  {broker}: 202→final p50 {figures['p50_ms']:.1f} ms p99 {figures['p99_ms']:.1f} ms; "
        f"{figures['rate']:.1f} payments/s; idle pool {figures['idle_pool_cpu_ms_per_s']:.1f} ms CPU/s, "
        f"broker {figures['idle_broker_cpu_ms_per_s']:.1f} ms CPU/s")
    return figures


async def run(bench: Bench) -> list[Row]:
    _reset_vhost()
    bench.start_sandbox(LOW_LOAD_LATENCY_MS)
    results = {broker: await _one_broker(bench, broker) for broker in ("redis", "rabbitmq")}
    processes, threads = bench.payments_pool()
    latency_s = bench.sizes.latency_ms / 1000
    rows: list[Row] = []
    for broker, figures in results.items():
        base = results["redis"] if broker == "rabbitmq" else None
        label = "Redis broker, same run" if base else ""
        rows += [
            Row(SECTION, f"{broker}: 202→final p50, one at a time, {LOW_LOAD_LATENCY_MS} ms processor", figures["p50_ms"],
                "ms", label, base and base["p50_ms"]),
            Row(SECTION, f"{broker}: 202→final p99, one at a time", figures["p99_ms"], "ms", label, base and base["p99_ms"]),
            Row(SECTION, f"{broker}: {processes}x{threads} payments/s at {bench.sizes.latency_ms} ms", figures["rate"], "/s",
                f"Little's law {processes}×{threads}/{latency_s:g} s", processes * threads / latency_s,
                note=f"{int(figures['count'])} payments"),
            Row(SECTION, f"{broker}: idle {processes}x{threads} pool CPU", figures["idle_pool_cpu_ms_per_s"], "ms/s",
                label, base and base["idle_pool_cpu_ms_per_s"], note="nothing queued"),
            Row(SECTION, f"{broker}: idle broker server CPU", figures["idle_broker_cpu_ms_per_s"], "ms/s",
                label, base and base["idle_broker_cpu_ms_per_s"], note="with that pool connected"),
        ]
    return rows


if __name__ == "__main__":
    from bench.run import main

    sys.exit(main(["--only", "brokers", *sys.argv[1:]]))
