"""What every benchmark shares: its own database and Redis databases, process start and stop,
CPU counters read from /proc, percentiles, and the result rows the table is printed from.

Resources (kept apart from the test slots, which use ``easypay_test[_N]`` and Redis 6-15):
PostgreSQL database ``easypay_bench``; Redis database 2 (cache), 3 (broker), 4 (the bare
Dramatiq no-op broker). Everything else is on free ports. Two benchmark runs on one machine are
kept apart with ``EASYPAY_BENCH_DB`` (database name) and ``EASYPAY_BENCH_REDIS_PORT`` (a second
redis-server).
"""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import redis

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = os.environ.get("EASYPAY_BENCH_DB", "easypay_bench")
CACHE_DB, BROKER_DB, NOOP_BROKER_DB = 2, 3, 4
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_BENCH = f"postgresql://postgres@127.0.0.1:5432/{DB_NAME}"
REDIS_HOST, REDIS_PORT = "127.0.0.1", int(os.environ.get("EASYPAY_BENCH_REDIS_PORT", "6379"))
FINAL_STATUSES = ("captured", "authorized", "declined", "failed")

#: A realistic ~0.6 kB card payment, sent by every accept benchmark.
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

UVICORN_FLAGS = ["--no-access-log", "--no-server-header", "--loop", "uvloop", "--http", "httptools", "--log-level", "warning"]


# ---------------------------------------------------------------- processes and ports

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_http(url: str, timeout_s: float = 30.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process for {url} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1.0) as response:
                if response.status < 500:
                    return
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout_s} s")


def stop(proc: subprocess.Popen[bytes], timeout_s: float = 15.0) -> None:
    """SIGTERM the process (a worker pool's main process stops its own children), then SIGKILL
    its whole session after the timeout."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, 9)
        except ProcessLookupError:
            pass
        proc.wait()


# ---------------------------------------------------------------- CPU counters (/proc)

_TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of one process, plus its children that have exited."""
    fields = _stat(pid)
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / _TICKS if fields else 0.0


def tree_cpu_s(root_pid: int) -> float:
    """CPU seconds of a process and every live descendant (exited ones are in their parent's)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            parents[int(entry.name)] = int(fields[1])
    members, frontier = {root_pid}, [root_pid]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in members]
        members.update(children)
        frontier.extend(children)
    return sum(proc_cpu_s(pid) for pid in members)


def redis_server_pid() -> int | None:
    pid = int(redis.Redis(host=REDIS_HOST, port=REDIS_PORT).info("server")["process_id"])
    return pid if Path(f"/proc/{pid}").exists() else None


async def pg_backend_pids(conn: asyncpg.Connection) -> list[int]:
    """Server processes serving the bench database, except the one answering this query."""
    rows = await conn.fetch(
        "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", DB_NAME
    )
    return [r["pid"] for r in rows]


class CpuMeter:
    """CPU seconds per group over an interval: process trees we started, the PostgreSQL backends
    of the bench database (a backend that appears during the interval counts from zero) and the
    shared redis-server (its delta includes any other client's load at the same time)."""

    def __init__(self, trees: dict[str, int], *, postgres: bool = True, redis_server: bool = True) -> None:
        self.trees = trees
        self.postgres = postgres
        self.redis_pid = redis_server_pid() if redis_server else None
        self._start: dict[str, float] = {}
        self._pg_start: dict[int, float] = {}

    async def _pg(self, conn: asyncpg.Connection) -> dict[int, float]:
        return {pid: proc_cpu_s(pid) for pid in await pg_backend_pids(conn)}

    async def start(self, conn: asyncpg.Connection) -> None:
        self._start = {name: tree_cpu_s(pid) for name, pid in self.trees.items()}
        if self.redis_pid:
            self._start["redis"] = proc_cpu_s(self.redis_pid)
        if self.postgres:
            self._pg_start = await self._pg(conn)

    async def stop(self, conn: asyncpg.Connection) -> dict[str, float]:
        used = {name: tree_cpu_s(pid) - self._start[name] for name, pid in self.trees.items()}
        if self.redis_pid:
            used["redis"] = proc_cpu_s(self.redis_pid) - self._start["redis"]
        if self.postgres:
            now = await self._pg(conn)
            used["postgres"] = sum(cpu - self._pg_start.get(pid, 0.0) for pid, cpu in now.items())
        return used


# ---------------------------------------------------------------- statistics and results

def pct_ms(values_s: list[float], p: float) -> float:
    if not values_s:
        return float("nan")
    ordered = sorted(values_s)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000


@dataclass
class Row:
    """One line of the table: a figure, the baseline measured in the same run, their ratio, the target."""

    section: str
    metric: str
    value: float
    unit: str
    baseline_label: str = ""
    baseline: float | None = None
    target: str = ""
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or not self.baseline or math.isnan(self.baseline):
            return None
        return self.value / self.baseline

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "ratio": self.ratio}


def _fmt(value: float | None) -> str:
    if value is None:
        return ""
    if math.isnan(value):
        return "nan"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}" if abs(value) >= 0.1 else f"{value:.3f}"


def table(rows: list[Row]) -> str:
    lines = ["| benchmark | figure | value | baseline (same run) | baseline value | ratio | target |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        ratio = f"{r.ratio:.2f}×" if r.ratio is not None else ""
        note = f" ({r.note})" if r.note else ""
        lines.append(f"| {r.section} | {r.metric}{note} | {_fmt(r.value)} {r.unit} | {r.baseline_label} | "
                     f"{_fmt(r.baseline)} | {ratio} | {r.target} |")
    return "\n".join(lines)


@dataclass
class Sizes:
    """How big each benchmark is; ``smoke()`` makes every one tiny (CI checks they run, not figures)."""

    duration_s: float = 8.0
    rounds: int = 3
    concurrency: int = 32
    open_loop_s: float = 10.0
    burst: int = 600
    per_thread: int = 25
    noop_messages: int = 10_000
    backlog: int = 5_000
    webhook_burst: int = 2_000
    webhook_endpoints: int = 4
    lookup_small: int = 10_000
    lookup_large: int = 1_000_000
    lookup_s: float = 15.0
    #: Payments sent one at a time per broker (``brokers``), and its quiet window.
    broker_low_load: int = 100
    broker_idle_s: float = 10.0
    pools: list[str] = field(default_factory=lambda: ["1x8", "2x8", "2x16"])
    #: Processor latency the emulator adds in the pool and backlog benchmarks.
    latency_ms: int = 200
    #: The payments pool at 0 ms and in the backlog, "PxT"; None: its configured size (WORKER_*).
    payments_pool: str | None = None
    #: Pools running during the backlog besides ``payments``; None: every other pool but webhooks.
    backlog_pools: list[str] | None = None

    @classmethod
    def smoke(cls) -> "Sizes":
        return cls(duration_s=1.0, rounds=1, concurrency=8, open_loop_s=1.0, burst=20, per_thread=1,
                   noop_messages=200, backlog=50, webhook_burst=20, webhook_endpoints=2,
                   lookup_small=100, lookup_large=1_000, lookup_s=1.0, pools=["2x2"], payments_pool="1x2",
                   broker_low_load=5, broker_idle_s=1.0)


_STARTED = time.monotonic()


def pool_shape(spec: str) -> tuple[int, int]:
    """``"2x8"`` -> (2 processes, 8 threads)."""
    processes, threads = (int(x) for x in spec.lower().split("x"))
    if processes < 1 or threads < 1:
        raise ValueError(f"pool size {spec!r}: processes and threads must be at least 1")
    return processes, threads


def log(message: str) -> None:
    print(f"[{time.monotonic() - _STARTED:6.1f} s] {message}", file=sys.stderr, flush=True)
