"""The API and the payment path, each next to its baseline from the same run.

1. End to end: a burst of payments through the API while the payments pool runs against the
   emulator, at 0 ms and at 200 ms of processor latency; CPU per payment from the processes'
   own counters (API, worker pool with its children, the bench database's PostgreSQL backends,
   the redis-server), the emulator excluded.
2. Accept: ``POST /v1/payments`` (workers stopped) against a bare Litestar app decoding the same
   msgspec body, served with the same uvicorn flags, interleaved round by round (closed loop:
   throughput); then each at 80 % of the accept path's maximum rate (open loop: p99). ``/bench/parse``
   (the API's guard, decode, validation and sealing without PostgreSQL or the queue) as a third.
3. Poll: ``GET /v1/payments/{id}`` of finished payments against the bare app answering the same
   JSON, interleaved, closed loop.
"""

from __future__ import annotations

import json
import statistics
from typing import Any

from bench.common import BODY, CpuMeter, Row, log
from bench.harness import Bench
from bench.loadgen import RunResult, closed_loop, open_loop

SECTION_E2E, SECTION_ACCEPT, SECTION_POLL = "end to end", "accept", "poll"


async def end_to_end(bench: Bench, pool_pid: int, latency_ms: int) -> tuple[list[Row], list[str]]:
    """A burst of ``sizes.burst`` payments with the payments pool running; returns rows and the ids."""
    assert bench.pg is not None and bench.api_proc is not None
    await bench.sandbox_latency(latency_ms)
    await bench.truncate()
    await bench.accept(8)  # warm-up: connections open, code paths load (the first time: the pool boots)
    await bench.wait_final(8, timeout_s=120)
    await bench.truncate()
    meter = CpuMeter({"api": bench.api_proc.pid, "workers": pool_pid})
    await meter.start(bench.pg)
    ids = await bench.accept(bench.sizes.burst)
    drained = await bench.wait_final(bench.sizes.burst, timeout_s=60 + bench.sizes.burst)
    cpu = await meter.stop(bench.pg)
    n = bench.sizes.burst
    per_payment = {name: 1000 * seconds / n for name, seconds in cpu.items()}
    total = sum(per_payment.values())
    rate = n / drained["since_first_accept_s"]
    breakdown = ", ".join(f"{name} {ms:.2f}" for name, ms in per_payment.items())
    log(f"  e2e {latency_ms} ms: {n} payments, {rate:.1f}/s, CPU {total:.2f} ms/payment ({breakdown}); "
        f"captured {drained['captured']}")
    settings = bench.settings.pools["payments"]
    rows = [
        Row(SECTION_E2E, f"CPU per payment, {latency_ms} ms processor", total, "ms",
            target="≤ 3 ms" if latency_ms == 0 else "",
            note=f"{n} payments, pool {settings.processes}×{settings.threads}; {breakdown}"),
        Row(SECTION_E2E, f"payments/s end to end, {latency_ms} ms processor", rate, "/s",
            note=f"{drained['captured']}/{n} captured"),
    ]
    return rows, ids


def _interleaved(results: dict[str, list[RunResult]]) -> dict[str, dict[str, float]]:
    return {name: {"rate": statistics.median(r.rate for r in runs),
                   "p99_ms": statistics.median(r.pct_ms(0.99) for r in runs),
                   "errors": sum(r.errors for r in runs)}
            for name, runs in results.items()}


async def _rounds(bench: Bench, targets: dict[str, tuple[Any, Any, Any, str, int]], *, purge: bool) -> dict[str, dict[str, float]]:
    sizes = bench.sizes
    for name, (url, headers, body, method, status) in targets.items():  # warm-up
        await closed_loop(name, url, headers=headers, body=body, method=method, expect_status=status,
                          duration_s=min(2.0, sizes.duration_s), concurrency=sizes.concurrency)
    if purge:
        bench.flush_broker()
    results: dict[str, list[RunResult]] = {name: [] for name in targets}
    for round_no in range(sizes.rounds):
        for name, (url, headers, body, method, status) in targets.items():
            run = await closed_loop(name, url, headers=headers, body=body, method=method, expect_status=status,
                                    duration_s=sizes.duration_s, concurrency=sizes.concurrency)
            results[name].append(run)
            log(f"  round {round_no + 1} {name:10s} {run.rate:8.0f} req/s  errors {run.errors}  "
                f"p99 {run.pct_ms(0.99):6.1f} ms")
            if purge:
                bench.flush_broker()
    summary = _interleaved(results)
    for name, figures in summary.items():
        if figures["errors"]:
            raise RuntimeError(f"{name}: {figures['errors']} requests failed")
    return summary


async def accept(bench: Bench, bare: str) -> list[Row]:
    auth = {"Authorization": f"Bearer {bench.key}", "Content-Type": "application/json"}
    plain = {"Content-Type": "application/json"}
    body = lambda n: BODY  # noqa: E731
    targets = {
        "bare": (f"{bare}/bare/payments", lambda n: plain, body, "POST", 202),
        "parse": (f"{bench.api}/bench/parse", lambda n: auth, body, "POST", 202),
        "payments": (f"{bench.api}/v1/payments", lambda n: auth, body, "POST", 202),
    }
    s = await _rounds(bench, targets, purge=True)
    # p99 at 80 % of the accept path's maximum rate, open loop (the latency a client sees under
    # load), the bare app at the same offered rate. (At 80 % of the bare app's own maximum the
    # load generator, on the same two cores, cannot send in time: its lag, not the server, made
    # the bare p99 seconds long.)
    rate = 0.8 * s["payments"]["rate"]
    p99_80: dict[str, RunResult] = {}
    for name in ("bare", "payments"):
        url, headers, _, _, _ = targets[name]
        p99_80[name] = run = await open_loop(f"{name}@80%", url, headers=headers, body=body, rate=rate,
                                             duration_s=bench.sizes.open_loop_s)
        log(f"  {name} at {rate:.0f}/s offered: {run.rate:.0f}/s achieved, p99 {run.pct_ms(0.99):.1f} ms, errors {run.errors}")
        bench.flush_broker()
    bare_s, real = s["bare"], s["payments"]
    achieved = ", ".join(f"{name} {r.rate:.0f}/s of {rate:.0f} offered" for name, r in p99_80.items())
    return [
        Row(SECTION_ACCEPT, "POST /v1/payments req/s (closed loop)", real["rate"], "req/s", "bare Litestar POST, same body",
            bare_s["rate"], "≥ 0.30×"),
        Row(SECTION_ACCEPT, "/bench/parse req/s (guard+decode+seal, no DB/queue)", s["parse"]["rate"], "req/s",
            "bare Litestar POST, same body", bare_s["rate"]),
        Row(SECTION_ACCEPT, "POST /v1/payments p99 at saturation", real["p99_ms"], "ms", "bare p99 at saturation",
            bare_s["p99_ms"]),
        Row(SECTION_ACCEPT, "POST /v1/payments p99 at 80 % of its max (open loop)", p99_80["payments"].pct_ms(0.99), "ms",
            "bare p99 at the same offered rate", p99_80["bare"].pct_ms(0.99), "≤ 2×", note=achieved),
    ]


async def poll(bench: Bench, bare: str, ids: list[str]) -> list[Row]:
    auth = {"Authorization": f"Bearer {bench.key}"}
    targets = {
        "bare GET": (lambda n: f"{bare}/bare/payments/{ids[n % len(ids)]}", lambda n: {}, None, "GET", 200),
        "GET": (lambda n: f"{bench.api}/v1/payments/{ids[n % len(ids)]}", lambda n: auth, None, "GET", 200),
    }
    s = await _rounds(bench, targets, purge=False)
    return [
        Row(SECTION_POLL, "GET /v1/payments/{id} (finished) req/s", s["GET"]["rate"], "req/s",
            "bare Litestar GET, same JSON", s["bare GET"]["rate"], "≥ 0.50×"),
        Row(SECTION_POLL, "GET /v1/payments/{id} p99 at saturation", s["GET"]["p99_ms"], "ms",
            "bare GET p99 at saturation", s["bare GET"]["p99_ms"]),
    ]


async def sample_payment(bench: Bench, payment_id: str) -> bytes:
    import aiohttp

    async with aiohttp.ClientSession() as session:
        async with session.get(f"{bench.api}/v1/payments/{payment_id}",
                               headers={"Authorization": f"Bearer {bench.key}"}) as response:
            response.raise_for_status()
            return await response.read()


async def run(bench: Bench) -> list[Row]:
    bench.start_sandbox()
    bench.start_api()
    rows: list[Row] = []
    ids: list[str] = []
    pool = bench.start_pool("payments", name="pool-payments-e2e")
    try:
        for latency_ms in (0, 200):
            e2e_rows, ids = await end_to_end(bench, pool.pid, latency_ms)
            rows += e2e_rows
    finally:
        bench.stop(pool)
    sample = bench.logs / "payment-sample.json"
    sample.write_bytes(await sample_payment(bench, ids[0]))
    log(f"  payment sample: {len(sample.read_bytes())} bytes ({json.loads(sample.read_bytes())['status']})")
    bare, bare_proc = bench.start_uvicorn("bare", "bench.bare_app:create_bare_app", {"BENCH_PAYMENT_SAMPLE": str(sample)})
    try:
        log("accept: closed loop rounds, workers stopped")
        rows += await accept(bench, bare)
        log("poll: closed loop rounds")
        rows += await poll(bench, bare, ids)
    finally:
        bench.stop(bare_proc)
    return rows

