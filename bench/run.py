"""EasyPay benchmarks: every figure next to its baseline measured in the same run, the ratio, and
the target. Prints one table; asserts no figure.

  python bench/run.py                  # all benchmarks, full sizes (= make bench)
  python bench/run.py --smoke          # all benchmarks at tiny sizes (= make bench-smoke, in CI):
                                       # fails only if one does not run or yields no numbers
  python bench/run.py --only pools backlog --backlog 2000 --lookup-large 100000

Benchmarks (``--only`` names): ``api`` (end-to-end CPU per payment at 0 and 200 ms, accept and
poll against a bare Litestar app), ``pools`` (Little's law at 200 ms, Dramatiq no-op drain at
0 ms), ``backlog`` (a queued backlog with the scheduler running), ``webhooks`` (deliveries against
a raw aiohttp loop), ``lookups`` (GET by id and list p99 at two table sizes), ``brokers`` (Redis
and RabbitMQ side by side: 202 → final at low load, pool throughput, idle CPU).

Uses its own PostgreSQL database (``easypay_bench``), Redis databases 2-4, the RabbitMQ virtual host
``easypay-bench`` and free ports; the
table and the raw figures are also written to ``bench/results/<timestamp>.{md,json}`` and every
process's log to ``bench/results/<timestamp>-logs/``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import sys
import time
import traceback
from pathlib import Path
from typing import Awaitable, Callable

ROOT = Path(__file__).resolve().parent.parent
if __name__ == "__main__":  # run as a script: the repository root, not bench/, goes first on the path
    sys.path[0] = str(ROOT)

from bench.common import Row, Sizes, log, table  # noqa: E402

BENCHMARKS = ("api", "pools", "backlog", "webhooks", "lookups", "brokers")


def _module(name: str) -> Callable[..., Awaitable[list[Row]]]:
    import importlib

    return importlib.import_module({"api": "bench.api_path", "pools": "bench.pools", "backlog": "bench.backlog",
                                    "webhooks": "bench.webhooks", "lookups": "bench.lookups",
                                    "brokers": "bench.brokers"}[name]).run


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--smoke", action="store_true", help="tiny sizes; check every benchmark runs and yields numbers")
    p.add_argument("--only", nargs="+", choices=BENCHMARKS, default=list(BENCHMARKS), metavar="NAME",
                   help=f"benchmarks to run (default: all of {', '.join(BENCHMARKS)})")
    defaults = Sizes()
    p.add_argument("--duration-s", type=float, help=f"each closed-loop round (default {defaults.duration_s})")
    p.add_argument("--rounds", type=int, help=f"interleaved rounds per target (default {defaults.rounds})")
    p.add_argument("--concurrency", type=int, help=f"closed-loop clients (default {defaults.concurrency})")
    p.add_argument("--burst", type=int, help=f"payments in each end-to-end burst (default {defaults.burst})")
    p.add_argument("--pools", nargs="+", metavar="PxT", help=f"pool sizes at 200 ms (default {' '.join(defaults.pools)})")
    p.add_argument("--latency-ms", type=int, help=f"processor latency for pools and backlog (default {defaults.latency_ms})")
    p.add_argument("--per-thread", type=int, help=f"payments per worker thread in a pool run (default {defaults.per_thread})")
    p.add_argument("--payments-pool", metavar="PxT", help="payments pool at 0 ms and in the backlog (default: WORKER_PROCESSES×WORKER_THREADS)")
    p.add_argument("--backlog", type=int, help=f"payments queued before the pool starts (default {defaults.backlog})")
    p.add_argument("--backlog-pools", nargs="+", metavar="POOL",
                   help="pools running during the backlog besides payments (default: every other pool but webhooks)")
    p.add_argument("--webhook-burst", type=int, help=f"events in the webhook burst (default {defaults.webhook_burst})")
    p.add_argument("--lookup-small", type=int, help=f"smaller table size (default {defaults.lookup_small})")
    p.add_argument("--lookup-large", type=int, help=f"larger table size (default {defaults.lookup_large})")
    return p


def sizes_from(args: argparse.Namespace) -> Sizes:
    sizes = Sizes.smoke() if args.smoke else Sizes()
    for name in ("duration_s", "rounds", "concurrency", "burst", "pools", "latency_ms", "per_thread", "payments_pool", "backlog",
                 "webhook_burst", "lookup_small", "lookup_large"):
        if getattr(args, name) is not None:
            setattr(sizes, name, getattr(args, name))
    if args.backlog_pools is not None:
        sizes.backlog_pools = args.backlog_pools
    return sizes


def problems(results: dict[str, list[Row] | str]) -> list[str]:
    """What the smoke run fails on: a benchmark that raised, produced no rows, or a non-number."""
    found = []
    for name, rows in results.items():
        if isinstance(rows, str):
            found.append(f"{name}: {rows}")
        elif not rows:
            found.append(f"{name}: no figures")
        else:
            found += [f"{name}: {r.metric} is {r.value}" for r in rows
                      if not isinstance(r.value, (int, float)) or not math.isfinite(r.value)]
    return found


async def run_all(args: argparse.Namespace) -> int:
    from bench.harness import Bench, logs_dir

    sizes = sizes_from(args)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    logs = logs_dir(stamp)
    started = time.monotonic()
    results: dict[str, list[Row] | str] = {}
    bench = Bench(sizes, logs)
    try:
        await bench.setup()
        for name in args.only:
            log(f"== {name} ==")
            bench.logs = logs / name
            bench.logs.mkdir(parents=True, exist_ok=True)
            try:
                await bench.reset()
                results[name] = await _module(name)(bench)
            except Exception as exc:  # reported in the table and the exit status; the next one still runs
                traceback.print_exc()
                results[name] = f"{type(exc).__name__}: {exc}"
            finally:
                bench.close()
            log(f"   {name} done at {time.monotonic() - started:.0f} s")
    finally:
        bench.close()
        if bench.pg is not None:
            await bench.pg.close()
    rows = [row for value in results.values() if not isinstance(value, str) for row in value]
    mode = "smoke (tiny sizes: the figures mean nothing)" if args.smoke else "full"
    header = (f"EasyPay benchmarks, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {mode}; "
              f"{os.cpu_count()} CPUs, Python {platform.python_version()}; {time.monotonic() - started:.0f} s")
    text = f"{header}\n\n{table(rows)}\n"
    bad = problems(results)
    if bad:
        text += "\nFailed:\n" + "\n".join(f"- {p}" for p in bad) + "\n"
    out = ROOT / "bench" / "results" / stamp
    out.with_suffix(".md").write_text(text)
    out.with_suffix(".json").write_text(json.dumps(
        {"when": stamp, "mode": mode, "sizes": sizes.__dict__, "machine": platform.platform(),
         "rows": [r.as_dict() for r in rows], "failed": bad}, indent=2, default=str))
    print(text)
    print(f"raw results: {out.with_suffix('.json')}; logs: {logs}")
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(run_all(parser().parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
