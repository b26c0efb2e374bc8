"""Webhook delivery: deliveries/s and CPU per delivery against a raw aiohttp client loop to the
same receiver, and a hanging endpoint's effect on its healthy neighbours. Asserts nothing.

Real processes: a ``webhooks`` worker pool and the dispatcher loop (``easypay webhooks dispatch
--loop``, 1 s interval as registered in the scheduler), PostgreSQL, Redis, and an aiohttp
receiver on loopback. Default pool and limits (1 process x 32 threads, 8 in flight per endpoint,
15 s timeout) unless overridden in the environment.

A. Throughput: ``--webhook-burst`` events for a merchant with several endpoints on the receiver,
   committed at once (one transaction: were they committed in parts, the deliveries of the first
   parts would be made before the clock starts); deliveries/s from the commit until every
   delivery succeeded; CPU per
   delivery of the pool and the dispatcher (process counters). Baseline in the same run: one
   aiohttp session posting the same number of payloads of the same size to the same receiver,
   as many in flight as the pool may have (endpoints × per-endpoint cap, at most its threads).
B. Isolation: events at 20/s to 3 healthy endpoints, twice — alone, then with a fourth endpoint
   of the same merchant that hangs past the timeout. Healthy delivery latency (event committed
   -> 2xx received), p99 of the second run against the first.

``python bench/webhooks.py [run.py options]`` runs only this one.
"""

from __future__ import annotations

import asyncio
import resource
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp

if __name__ == "__main__":  # run as a script: the repository root, not bench/, goes first on the path
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench.common import CpuMeter, Row, free_port, log, pct_ms, wait_for_http  # noqa: E402
from bench.harness import EASYPAY, Bench  # noqa: E402

SECTION = "webhooks"
ISOLATION_RATE = 20.0


async def make_merchant(engine: Any, name: str) -> uuid.UUID:
    from engine.db.accounts import create_merchant

    async with engine.begin() as conn:
        return (await create_merchant(conn, name)).id


async def add_endpoint(engine: Any, settings: Any, merchant_id: uuid.UUID, url: str) -> uuid.UUID:
    from engine.webhooks.endpoints import create_endpoint
    from engine.sealing import SecretBox

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


async def wait_for(predicate: Any, timeout_s: float) -> float:
    started = time.perf_counter()
    while not await predicate():
        if time.perf_counter() - started > timeout_s:
            raise RuntimeError("benchmark did not finish in time")
        await asyncio.sleep(0.02)
    return time.perf_counter() - started


async def throughput(bench: Bench, engine: Any, receiver: str, pids: dict[str, int]) -> dict[str, Any]:
    settings, endpoints, burst = bench.settings, bench.sizes.webhook_endpoints, bench.sizes.webhook_burst
    merchant = await make_merchant(engine, "Throughput shop")
    for n in range(endpoints):
        await add_endpoint(engine, settings, merchant, f"{receiver}/fast/a{n}")
    await emit(engine, merchant, 20)  # warm-up: connections, code paths
    await wait_for(lambda: _all_done(engine, merchant, 20 * endpoints), 60)
    expected = (20 + burst) * endpoints
    await emit(engine, merchant, burst)  # one transaction: no delivery can start before the clock does
    meter = CpuMeter(pids, redis_server=False)
    assert bench.pg is not None
    await meter.start(bench.pg)
    elapsed = await wait_for(lambda: _all_done(engine, merchant, expected), 600)
    cpu = await meter.stop(bench.pg)
    deliveries = burst * endpoints
    return {"deliveries": deliveries, "elapsed_s": elapsed, "per_s": deliveries / elapsed,
            "cpu_ms": {name: 1000 * seconds / deliveries for name, seconds in cpu.items()}}


async def _all_done(engine: Any, merchant: uuid.UUID, expected: int) -> bool:
    return await count_status(engine, merchant, "succeeded") >= expected


async def payload(engine: Any) -> bytes:
    """The body one delivery sends, byte for byte (the raw loop posts the same bytes)."""
    from sqlalchemy import text

    async with engine.connect() as conn:
        return bytes((await conn.execute(text("SELECT body FROM events ORDER BY created_at LIMIT 1"))).scalar_one())


async def raw_loop(receiver: str, body: bytes, deliveries: int, in_flight: int, endpoints: int) -> dict[str, float]:
    """One aiohttp session, ``in_flight`` posts at a time, no queue: the delivery ceiling."""
    remaining = iter(range(deliveries))
    headers = {"Content-Type": "application/json", "webhook-id": "msg_bench", "webhook-timestamp": str(int(time.time())),
               "webhook-signature": "v1," + "A" * 44}
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=in_flight)) as session:

        async def client() -> None:
            for n in remaining:
                async with session.post(f"{receiver}/fast/raw{n % endpoints}", data=body, headers=headers) as response:
                    await response.read()
                    if response.status != 200:
                        raise RuntimeError(f"receiver answered {response.status}")

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(in_flight)))
        elapsed = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu_s = usage.ru_utime + usage.ru_stime - usage0.ru_utime - usage0.ru_stime
    return {"per_s": deliveries / elapsed, "cpu_ms": 1000 * cpu_s / deliveries}


async def open_loop_events(engine: Any, merchant: uuid.UUID, rate: float, duration_s: float) -> int:
    count = max(1, int(rate * duration_s))
    started = time.perf_counter()
    for n in range(count):
        await asyncio.sleep(max(0.0, started + n / rate - time.perf_counter()))
        await emit(engine, merchant, 1)
    return count


async def isolation(bench: Bench, engine: Any, receiver: str) -> dict[str, float]:
    """Healthy endpoints' p99 alone, then next to a hanging endpoint of the same merchant."""
    p99: dict[str, float] = {}
    for label, hanging in (("alone", False), ("hanging", True)):
        merchant = await make_merchant(engine, f"Isolation {label}")
        healthy = [await add_endpoint(engine, bench.settings, merchant, f"{receiver}/fast/{label}{n}") for n in range(3)]
        if hanging:
            await add_endpoint(engine, bench.settings, merchant, f"{receiver}/hang/{label}")
        count = await open_loop_events(engine, merchant, ISOLATION_RATE, bench.sizes.open_loop_s)

        async def healthy_done(healthy: list = healthy, count: int = count) -> bool:
            return len(await healthy_latencies_s(engine, healthy)) >= count * len(healthy)

        await wait_for(healthy_done, 120)
        p99[label] = pct_ms(await healthy_latencies_s(engine, healthy), 0.99)
        log(f"  isolation {label}: healthy p99 {p99[label]:.1f} ms")
    return p99


async def run(bench: Bench) -> list[Row]:
    from engine.db.session import make_engine

    port = free_port()
    receiver = f"http://127.0.0.1:{port}"
    recv = bench.start("receiver", [sys.executable, "bench/webhook_receiver.py", str(port)])
    wait_for_http(f"{receiver}/health", proc=recv)
    worker = bench.start_pool("webhooks")
    dispatcher = bench.start("dispatcher", [EASYPAY, "webhooks", "dispatch", "--loop"])
    engine = make_engine(bench.settings.database)
    try:
        a = await throughput(bench, engine, receiver, {"workers": worker.pid, "dispatcher": dispatcher.pid})
        cfg, hooks = bench.settings.pools["webhooks"], bench.settings.webhooks
        in_flight = min(cfg.threads * cfg.processes, hooks.endpoint_max_in_flight * bench.sizes.webhook_endpoints)
        raw = await raw_loop(receiver, await payload(engine), a["deliveries"], in_flight, bench.sizes.webhook_endpoints)
        worker_ms = a["cpu_ms"]["workers"] + a["cpu_ms"]["dispatcher"]
        log(f"  {a['deliveries']} deliveries: {a['per_s']:.0f}/s, CPU/delivery "
            + ", ".join(f"{k} {v:.2f} ms" for k, v in a["cpu_ms"].items())
            + f"; raw loop {raw['per_s']:.0f}/s at {raw['cpu_ms']:.2f} ms")
        p99 = await isolation(bench, engine, receiver)
    finally:
        await engine.dispose()
    note = f"{a['deliveries']} deliveries, pool {cfg.processes}×{cfg.threads}, {in_flight} in flight"
    return [
        Row(SECTION, "deliveries/s", a["per_s"], "/s", f"raw aiohttp loop, {in_flight} in flight", raw["per_s"], "≥ 0.5×",
            note=note),
        Row(SECTION, "worker CPU per delivery (pool + dispatcher)", worker_ms, "ms", "raw loop's CPU per delivery",
            raw["cpu_ms"], "≤ 1 ms", note=f"PostgreSQL {a['cpu_ms']['postgres']:.2f} ms more"),
        Row(SECTION, "healthy p99 next to a hanging endpoint", p99["hanging"], "ms", "healthy p99 alone", p99["alone"],
            note=f"{ISOLATION_RATE:g} events/s, 3 healthy endpoints"),
    ]


if __name__ == "__main__":
    from bench.run import main

    sys.exit(main(["--only", "webhooks", *sys.argv[1:]]))
