"""CPU and round trips per charge on the worker side, in-process (the counterpart of ``poll_cost``).

``bench/run.py --only api`` measures the payments pool's CPU from outside, with the API, the
load generator and PostgreSQL on the same cores. This runs the worker's own code in one process
against real PostgreSQL, Redis and the emulator (``easypay sandbox``, its own process, not
counted) and reports per payment:

* ``time.process_time()`` (the process's CPU) while the payments are drained;
* PostgreSQL statements, Redis round trips of the engine (``redis.asyncio``: cache, stash) and
  of the Dramatiq broker (sync ``redis``: fetch, ack, heartbeats);
* with ``--idle-s``, the CPU and broker round trips per second of the same worker with an empty
  queue afterwards (what a pool costs while it waits: it grows with a run's length).

Payments are accepted first through the real API app in this process (raw ASGI, as
``poll_cost`` does; not measured), then drained by a real ``dramatiq.Worker`` with the pool's
broker and middleware (``workers.broker``, ``--threads``, ``WORKER_POLL_TIMEOUT_MS``), or with
``--direct`` by the charge itself (``engine.processing.process_payment``) on one event loop,
``--threads`` at a time: the difference is Dramatiq's share. ``--profile FILE`` writes a cProfile
of every thread of the drain (``python -m pstats FILE``).

    EASYPAY_TEST_SLOT=3 .venv/bin/python -m bench.charge_cost -n 400 --idle-s 3
    EASYPAY_TEST_SLOT=3 .venv/bin/python -m bench.charge_cost -n 400 --direct --profile /tmp/charge.prof

It uses the test slot's database and Redis databases (``EASYPAY_TEST_SLOT``); do not run it while
that slot's tests run.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import resource
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import redis as sync_redis
from redis.asyncio.connection import AbstractConnection
from sqlalchemy import event
from sqlalchemy.engine import Engine

from bench.common import BODY, FINAL_STATUSES, free_port, stop, wait_for_http
from bench.poll_cost import DB, Client, _env

EASYPAY = str(Path(sys.executable).with_name("easypay"))


@dataclass
class Counts:
    statements: int = 0
    redis: int = 0
    broker: int = 0


COUNTS = Counts()
PROFILES: list[cProfile.Profile] = []


def _count_round_trips() -> None:
    """Async Redis (the engine's) and sync Redis (Dramatiq's broker) round trips, SQL statements."""
    original = AbstractConnection.send_packed_command

    async def counted(self: AbstractConnection, command: Any, check_health: bool = True) -> None:
        COUNTS.redis += 1
        await original(self, command, check_health)

    AbstractConnection.send_packed_command = counted  # type: ignore[method-assign]
    sync_original = sync_redis.connection.Connection.send_packed_command

    def sync_counted(self: Any, command: Any, check_health: bool = True) -> None:
        COUNTS.broker += 1
        sync_original(self, command, check_health)

    sync_redis.connection.Connection.send_packed_command = sync_counted  # type: ignore[method-assign]

    @event.listens_for(Engine, "before_cursor_execute")
    def _statement(*_: Any) -> None:
        COUNTS.statements += 1


def _profile_threads() -> None:
    """A cProfile per thread started from now on (Dramatiq's consumers, workers, event loop)."""
    bootstrap = threading.Thread._bootstrap_inner  # type: ignore[attr-defined]

    def profiled(self: threading.Thread) -> None:  # around run(), which subclasses override
        profiler = cProfile.Profile()
        PROFILES.append(profiler)
        profiler.enable()
        try:
            bootstrap(self)
        finally:
            profiler.disable()

    threading.Thread._bootstrap_inner = profiled  # type: ignore[attr-defined]


async def _accept(settings: Any, n: int) -> list[str]:
    from api.app import create_app
    from engine.auth import derive_pepper
    from engine.db.accounts import create_api_key, create_merchant
    from engine.db.session import make_engine

    engine = make_engine(settings.database)
    async with engine.begin() as conn:
        row = await create_merchant(conn, "Charge cost shop")
        issued = await create_api_key(conn, merchant_id=row.id, role="merchant", pepper=derive_pepper(settings.secret_key))
    await engine.dispose()
    headers = [(b"authorization", f"Bearer {issued.token}".encode()), (b"content-type", b"application/json")]
    app = create_app(settings, configure_logs=False)
    client = Client(app)
    ids: list[str] = []
    async with app.lifespan():
        for start in range(0, n, 32):
            answers = await asyncio.gather(*(client.request("POST", "/v1/payments", headers, BODY)
                                             for _ in range(min(32, n - start))))
            for status, body in answers:
                assert status == 202, (status, body)
                ids.append(json.loads(body)["id"])
    from engine.logconfig import configure_logging

    configure_logging(settings.log_level)  # what a worker process has (Litestar installed its own)
    return ids


async def _wait_final(pg: asyncpg.Connection, ids: list[str], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    wanted = [uuid.UUID(i) for i in ids]
    while True:
        done = await pg.fetchval("SELECT count(*) FROM payments WHERE id = ANY($1::uuid[]) AND status = ANY($2::text[])",
                                 wanted, list(FINAL_STATUSES))
        if done >= len(ids):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {done} of {len(ids)} payments final")
        await asyncio.sleep(0.05)


async def _direct(settings: Any, concurrency: int) -> None:
    """Every queued payment message, charged by the engine on this loop, ``concurrency`` at a time."""
    import dramatiq

    from engine.logcontext import bind_context
    from engine.processing import process_payment
    from jobs.names import NAMESPACE, PAYMENTS_QUEUE
    from workers import runtime

    broker = sync_redis.Redis.from_url(settings.redis.broker_url)
    queue = f"{NAMESPACE}:{PAYMENTS_QUEUE}"
    ids = broker.lrange(queue, 0, -1)
    messages = [dramatiq.Message.decode(data) for data in broker.hmget(f"{queue}.msgs", ids) if isinstance(data, bytes)]
    broker.delete(queue, f"{queue}.msgs")
    deps = await runtime.processing_deps()
    gate = asyncio.Semaphore(concurrency)

    async def one(message: dramatiq.Message[Any]) -> None:
        payment_id, sealed = message.args[0], message.args[1]
        async with gate:
            with bind_context(payment_id=payment_id, message_id=message.message_id):
                await process_payment(deps, uuid.UUID(payment_id), sealed, message_id=message.message_id)

    await asyncio.gather(*(one(m) for m in messages))


def _sys_s() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_stime


def _per_payment(before: Counts, cpu_s: float, n: int, sys_s: float) -> str:
    return (f"CPU {1000 * cpu_s / n:.3f} ms/payment (system {1000 * sys_s / n:.3f}); per payment: PostgreSQL statements "
            f"{(COUNTS.statements - before.statements) / n:.2f}, Redis round trips (engine) "
            f"{(COUNTS.redis - before.redis) / n:.2f}, broker round trips {(COUNTS.broker - before.broker) / n:.2f}")


async def main(args: argparse.Namespace) -> None:
    from engine.settings_from_env import load_settings
    from migrations.runner import upgrade

    sandbox_port = free_port()
    env = {**_env(), "SANDBOX_PORT": str(sandbox_port), "WORKER_POLL_TIMEOUT_MS": str(args.poll_ms),
           "EASYPAY_LOG_LEVEL": "WARNING"}
    os.environ.update(env)
    settings = load_settings(env)
    await asyncio.to_thread(upgrade, settings.database.url)
    sandbox = subprocess.Popen([EASYPAY, "sandbox", "--port", str(sandbox_port), "--latency-ms", str(args.latency_ms)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    pg = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:5432/{DB}")
    try:
        wait_for_http(f"http://127.0.0.1:{sandbox_port}/_sandbox/health", proc=sandbox)
        sync_redis.Redis.from_url(settings.redis.broker_url).flushdb()
        warm = await _accept(settings, 16)
        _count_round_trips()
        import dramatiq

        from workers import runtime
        from workers.broker import THREAD_WAKEUP_MS, build_broker

        runtime.configure(settings)
        if args.direct:
            await _direct(settings, args.threads)  # warm-up: connections open, code paths loaded
            await _wait_final(pg, warm, timeout_s=30)
            ids = await _accept(settings, args.n)
            profiler = cProfile.Profile() if args.profile else None
            before = Counts(**vars(COUNTS))
            cpu0, sys0 = time.process_time(), _sys_s()
            if profiler:
                profiler.enable()
            await _direct(settings, args.threads)
            if profiler:
                profiler.disable()
                PROFILES.append(profiler)
            cpu = time.process_time() - cpu0
            await _wait_final(pg, ids, timeout_s=30)
            print(f"direct, {args.threads} at a time, {args.n} payments: {_per_payment(before, cpu, args.n, _sys_s() - sys0)}")
        else:
            broker = build_broker(settings, worker=True, pool=None, poll_timeout_ms=args.poll_ms)
            dramatiq.set_broker(broker)
            import workers.payments  # noqa: F401  (registers the actor on the broker just installed)

            if args.profile:
                _profile_threads()
            worker = dramatiq.Worker(broker, queues={"payments"}, worker_threads=args.threads,
                                     worker_timeout=max(THREAD_WAKEUP_MS, args.poll_ms))  # as easypay worker sets it
            worker.start()
            try:
                await _wait_final(pg, warm, timeout_s=60)  # warm-up
                worker.pause()
                ids = await _accept(settings, args.n)
                for profiler in PROFILES:
                    profiler.clear()
                before = Counts(**vars(COUNTS))
                cpu0, sys0 = time.process_time(), _sys_s()
                worker.resume()
                await _wait_final(pg, ids, timeout_s=120 + args.n)
                cpu = time.process_time() - cpu0
                print(f"worker, {args.threads} threads, {args.n} payments: {_per_payment(before, cpu, args.n, _sys_s() - sys0)}")
                if args.idle_s:
                    idle_before = Counts(**vars(COUNTS))
                    idle0, idle_sys0 = time.process_time(), _sys_s()
                    await asyncio.sleep(args.idle_s)
                    idle = time.process_time() - idle0
                    print(f"idle: CPU {1000 * idle / args.idle_s:.1f} ms/s (system {1000 * (_sys_s() - idle_sys0) / args.idle_s:.1f}), broker round trips "
                          f"{(COUNTS.broker - idle_before.broker) / args.idle_s:.1f}/s")
            finally:
                for profiler in PROFILES:
                    profiler.disable()
                worker.stop()
        if args.profile:
            stats = pstats.Stats(PROFILES[0])
            for profiler in PROFILES[1:]:
                stats.add(profiler)
            stats.dump_stats(args.profile)
            print(f"profiled: {stats.total_calls / args.n:.0f} Python calls per payment")  # type: ignore[attr-defined]
    finally:
        await pg.close()
        stop(sandbox, 5.0)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=400, help="payments measured")
    parser.add_argument("--threads", type=int, default=8, help="worker threads (with --direct: charges at a time)")
    parser.add_argument("--poll-ms", type=int, default=50, help="WORKER_POLL_TIMEOUT_MS (Dramatiq's worker_timeout)")
    parser.add_argument("--latency-ms", type=int, default=0, help="the emulator's processor latency")
    parser.add_argument("--idle-s", type=float, default=0.0, help="then measure the idle worker this long")
    parser.add_argument("--direct", action="store_true", help="the charge alone, without Dramatiq")
    parser.add_argument("--profile", help="write a cProfile of the drain here")
    asyncio.run(main(parser.parse_args()))
