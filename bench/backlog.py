"""A backlog: ``--backlog`` payments queued through the API while the scheduler runs its periodic
jobs at their production intervals (with the pools that run them: every pool but ``payments``
and ``webhooks`` unless ``--backlog-pools`` says otherwise); then the payments pool starts.

Reported against the same pool draining a small batch with no scheduler running (same run,
same ``--latency-ms`` processor latency, same log level): the drain rate, the duplicate messages the
workers ignored ("duplicate message ... ignored" in their log, per queued payment), and the
dead-lettered messages of every queue, reconciler runs counted apart.
"""

from __future__ import annotations

import json
import re

import redis

from bench.common import BROKER_DB, REDIS_HOST, REDIS_PORT, Row, log
from bench.harness import EASYPAY, Bench
from bench.pools import drain
from jobs.names import NAMESPACE as BROKER_NAMESPACE

SECTION = "backlog"
DUPLICATE = re.compile(rb"duplicate message \S+ ignored")
#: Worker INFO logs carry the duplicate lines; the reference run uses the same level.
INFO_LOGS = {"EASYPAY_LOG_LEVEL": "INFO"}


def dead_letters() -> list[str]:
    """Actor names of every dead-lettered message in the bench broker."""
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=BROKER_DB)
    actors = []
    for key in client.scan_iter(f"{BROKER_NAMESPACE}:*.XQ.msgs"):
        for raw in client.hvals(key):
            try:
                actors.append(str(json.loads(raw).get("actor_name")))
            except ValueError:
                actors.append("?")
    return actors


async def run(bench: Bench) -> list[Row]:
    sizes = bench.sizes
    processes, threads = bench.payments_pool()
    support = sizes.backlog_pools if sizes.backlog_pools is not None else [
        name for name in bench.settings.pools if name not in ("payments", "webhooks")]
    unknown = [name for name in support if name not in bench.settings.pools]
    if unknown:
        raise ValueError(f"unknown pools {unknown}; this version has {sorted(bench.settings.pools)}")
    bench.start_sandbox(bench.sizes.latency_ms)
    bench.start_api()

    reference_count = max(sizes.per_thread, 4) * processes * threads
    reference = await drain(bench, processes, threads, reference_count, name="pool-reference", env=INFO_LOGS)
    log(f"  no backlog: {reference_count} payments, {reference['rate']:.1f}/s")

    await bench.truncate()
    bench.start("scheduler", [EASYPAY, "scheduler"])
    for name in support:
        bench.start_pool(name, env=INFO_LOGS)
    await bench.accept(sizes.backlog)
    log(f"  {sizes.backlog} payments queued; scheduler and pools {', '.join(support) or '-'} running")
    pool = bench.start_pool("payments", processes, threads, name="pool-payments-backlog", env=INFO_LOGS)
    try:
        drained = await bench.wait_final(sizes.backlog, timeout_s=120 + sizes.backlog)
    finally:
        bench.stop(pool)
    duplicates = len(DUPLICATE.findall((bench.logs / "pool-payments-backlog.log").read_bytes()))
    dead = dead_letters()
    reconciler_dead = sum("reconcil" in actor for actor in dead)
    rate = drained["done"] / drained["drain_s"] if drained["drain_s"] > 0 else float("nan")
    log(f"  backlog drained at {rate:.1f}/s; {duplicates} duplicate messages; dead letters {dead or 'none'}")
    pools = f"pools: payments {processes}×{threads}, {', '.join(support) or 'no other'}; scheduler"
    return [
        Row(SECTION, f"drain of {sizes.backlog} queued payments /s", rate, "/s",
            f"same pool, {reference_count} payments, no scheduler", reference["rate"], "≥ 0.8×", note=pools),
        Row(SECTION, "duplicate messages ignored, % of payments", 100 * duplicates / sizes.backlog, "%", target="≤ 1 %",
            note=f"{duplicates} of {sizes.backlog}"),
        Row(SECTION, "reconciler runs dead-lettered", float(reconciler_dead), "", target="0",
            note=f"{len(dead)} dead letters in all"),
    ]
