"""One benchmark run's set-up: the bench database and Redis databases, a merchant and an API key
that is counted but never throttled, the processes (emulator, API, worker pools) and their logs.

Every benchmark gets a ``Bench``; processes it starts are stopped by ``close()`` (also on errors).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import redis

from bench.common import (
    BODY, BROKER_DB, CACHE_DB, DB_NAME, FINAL_STATUSES, NOOP_BROKER_DB, PG_ADMIN, PG_BENCH, REDIS_HOST,
    REDIS_PORT, ROOT, UVICORN_FLAGS, Sizes, free_port, pool_shape, stop, wait_for_http,
)

#: The console script of this virtualenv (works wherever the CLI module lives).
EASYPAY = str(Path(sys.executable).with_name("easypay"))
#: Per-key limits high enough never to throttle one key that sends everything (still counted).
UNTHROTTLED = {"minute": 10**9, "hour": 10**9, "day": 10**9}


def bench_environment(sandbox_port: int, metrics_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ANET_", "DATABASE_", "REDIS_", "BROKER_", "WORKER_", "WEBHOOKS_", "SCHEDULER_",
                                "RECOVERY_", "PROMETHEUS_", "EASYPAY_", "dramatiq_"))}
    env.update({
        "DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{DB_NAME}",
        "REDIS_URL": f"redis://{REDIS_HOST}:{REDIS_PORT}/{CACHE_DB}",
        "BROKER_URL": f"redis://{REDIS_HOST}:{REDIS_PORT}/{BROKER_DB}",
        "EASYPAY_SECRET_KEY": "bench-secret-key-0123456789abcdef-0123456789",
        "EASYPAY_ENV": "development",
        "EASYPAY_REDIS_PREFIX": "easypay-bench",
        "EASYPAY_LOG_LEVEL": "WARNING",
        "EASYPAY_METRICS_DIR": str(metrics_dir),
        "SANDBOX_PORT": str(sandbox_port),
        "ANET_READ_TIMEOUT_S": "20",
        "WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",  # the webhooks benchmark's receiver is on loopback
        # Metrics endpoints off unless a benchmark asks for one (no fixed ports on a shared box).
        "WORKER_METRICS_PORT": "0", "WEBHOOKS_METRICS_PORT": "0", "SCHEDULER_METRICS_PORT": "0",
        "RECOVERY_METRICS_PORT": "0",
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": str(ROOT),
    })
    return env


class Bench:
    def __init__(self, sizes: Sizes, logs: Path) -> None:
        from engine.settings_from_env import load_settings

        self.sizes = sizes
        self.logs = logs
        self.sandbox_port = free_port()
        self.env = bench_environment(self.sandbox_port, logs / "metrics")
        self.settings = load_settings(self.env)
        self.procs: list[subprocess.Popen[bytes]] = []
        self.pg: asyncpg.Connection | None = None
        self.merchant_id: uuid.UUID | None = None
        self.key = ""
        self.api = ""
        self.api_proc: subprocess.Popen[bytes] | None = None

    # ------------------------------------------------------------ database and Redis

    async def setup(self) -> None:
        from migrations.runner import upgrade

        admin = await asyncpg.connect(PG_ADMIN)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        finally:
            await admin.close()
        await asyncio.to_thread(upgrade, self.settings.database.url)
        for db in (CACHE_DB, BROKER_DB, NOOP_BROKER_DB):
            redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=db).flushdb()
        self.pg = await asyncpg.connect(PG_BENCH)
        self.merchant_id, self.key = await self._make_key()

    async def _make_key(self) -> tuple[uuid.UUID, str]:
        from engine.auth import derive_pepper
        from engine.db.accounts import create_api_key, create_merchant
        from engine.db.session import make_engine

        engine = make_engine(self.settings.database)
        try:
            async with engine.begin() as conn:
                merchant = await create_merchant(conn, "Bench shop")
                issued = await create_api_key(conn, merchant_id=merchant.id, role="merchant",
                                              pepper=derive_pepper(self.settings.secret_key), rate_limits=UNTHROTTLED)
        finally:
            await engine.dispose()
        return merchant.id, issued.token

    async def truncate(self) -> None:
        """Empty the payment and webhook tables (CASCADE: refunds, events, deliveries follow)."""
        assert self.pg is not None
        await self.pg.execute("TRUNCATE payments, events, idempotency_keys, webhook_endpoints CASCADE")

    async def reset(self) -> None:
        """Between benchmarks (no process running): empty tables, queues and the cache."""
        await self.truncate()
        for db in (CACHE_DB, BROKER_DB, NOOP_BROKER_DB):
            redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=db).flushdb()
        self.api, self.api_proc = "", None

    def flush_broker(self) -> None:
        """Drop every queued message (only while no pool is running: it also drops their bookkeeping)."""
        redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=BROKER_DB).flushdb()

    # ------------------------------------------------------------ processes

    def start(self, name: str, cmd: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        with open(self.logs / f"{name}.log", "ab") as out:
            proc = subprocess.Popen(cmd, cwd=ROOT, env={**self.env, **(env or {})}, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes], timeout_s: float = 30.0) -> None:
        stop(proc, timeout_s)
        if proc in self.procs:
            self.procs.remove(proc)

    def close(self) -> None:
        """At the end of a benchmark nothing needs a graceful stop (a hung delivery would wait its timeout)."""
        for proc in reversed(list(self.procs)):
            self.stop(proc, timeout_s=3.0)

    def start_sandbox(self, latency_ms: int = 0) -> subprocess.Popen[bytes]:
        proc = self.start("sandbox", [EASYPAY, "sandbox", "--port", str(self.sandbox_port), "--latency-ms", str(latency_ms)])
        wait_for_http(f"http://127.0.0.1:{self.sandbox_port}/_sandbox/health", proc=proc)
        return proc

    async def sandbox_latency(self, latency_ms: int) -> None:
        async with aiohttp.ClientSession() as session:
            async with session.post(f"http://127.0.0.1:{self.sandbox_port}/_sandbox/config",
                                    json={"latency_ms": latency_ms}) as response:
                response.raise_for_status()

    def start_uvicorn(self, name: str, app: str, env: dict[str, str] | None = None) -> tuple[str, subprocess.Popen[bytes]]:
        """One uvicorn process, uvloop + httptools, no access log (the production server settings)."""
        port = free_port()
        proc = self.start(name, [sys.executable, "-m", "uvicorn", app, "--factory", "--port", str(port), *UVICORN_FLAGS], env)
        url = f"http://127.0.0.1:{port}"
        wait_for_http(f"{url}/health/live" if name == "api" else f"{url}/health", proc=proc)
        return url, proc

    def start_api(self) -> str:
        self.api, self.api_proc = self.start_uvicorn("api", "bench.app:create_bench_app")
        return self.api

    def start_pool(self, pool: str, processes: int | None = None, threads: int | None = None, *,
                   name: str | None = None, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        cmd = [EASYPAY, "worker", "--pool", pool]
        if processes:
            cmd += ["--processes", str(processes)]
        if threads:
            cmd += ["--threads", str(threads)]
        return self.start(name or f"pool-{pool}", cmd, env)

    def payments_pool(self) -> tuple[int, int]:
        """Processes and threads of the payments pool at 0 ms and in the backlog."""
        if self.sizes.payments_pool:
            return pool_shape(self.sizes.payments_pool)
        cfg = self.settings.pools["payments"]
        return cfg.processes, cfg.threads

    # ------------------------------------------------------------ payments through the real API

    async def accept(self, count: int, concurrency: int = 16) -> list[str]:
        """``count`` payments through ``POST /v1/payments``; each must be answered 202."""
        auth = {"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"}
        remaining = iter(range(count))
        ids: list[str] = []
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

            async def client() -> None:
                for _ in remaining:
                    async with session.post(f"{self.api}/v1/payments", data=BODY, headers=auth) as response:
                        if response.status != 202:
                            raise RuntimeError(f"accept failed: {response.status} {await response.text()}")
                        ids.append((await response.json())["id"])

            await asyncio.gather(*(client() for _ in range(concurrency)))
        return ids

    async def wait_final(self, count: int, timeout_s: float) -> dict[str, Any]:
        """Wait until ``count`` payments have a final status; timestamps come from PostgreSQL."""
        assert self.pg is not None
        deadline = time.monotonic() + timeout_s
        while True:
            row = await self.pg.fetchrow(
                "SELECT count(*) FILTER (WHERE status = ANY($1::text[])) AS done,"
                " count(*) FILTER (WHERE status = 'captured') AS captured, min(created_at) AS first_created,"
                " min(processing_started_at) AS first_claim, max(updated_at) AS last_final FROM payments",
                list(FINAL_STATUSES),
            )
            if row["done"] >= count:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {row['done']} of {count} payments reached a final status in {timeout_s:.0f} s")
            await asyncio.sleep(0.2)
        drain_s = (row["last_final"] - row["first_claim"]).total_seconds()
        return {"done": row["done"], "captured": row["captured"], "drain_s": drain_s,
                "since_first_accept_s": (row["last_final"] - row["first_created"]).total_seconds()}


def logs_dir(stamp: str) -> Path:
    path = ROOT / "bench" / "results" / f"{stamp}-logs"
    path.mkdir(parents=True, exist_ok=True)
    return path

