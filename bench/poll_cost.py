"""CPU and round trips per ``GET /v1/payments/{id}`` of a finished payment, in-process.

Wall-clock rates on a shared machine are noisy; what one poll costs the API process is not. This
drives the real app (``api.app.create_app``, its lifespan, real PostgreSQL and Redis) with raw
ASGI calls, no server and no client in between, and reports per request:

* ``time.process_time()`` (the process's CPU: the handler path plus its background flushes);
* Redis round trips (writes of a command or a pipeline on any connection of the process);
* PostgreSQL statements and connection checkouts.

Each phase runs ``--rounds`` times and the least CPU is reported (load on a shared machine
only ever adds to it). Sequentially (one request at a time: every batch is of one) and ``--concurrency`` at a time
(what the micro-batches make of a loaded process). ``--profile FILE`` writes a cProfile of the
concurrent phase (``python -m pstats FILE``).

    EASYPAY_TEST_SLOT=1 .venv/bin/python -m bench.poll_cost -n 4000 --concurrency 32 --bare
    EASYPAY_TEST_SLOT=1 .venv/bin/python -m bench.poll_cost -n 500 --path '/v1/payments?limit=20'
    EASYPAY_TEST_SLOT=1 .venv/bin/python -m bench.poll_cost -n 500 --rows 1000 --path '/v1/payments?limit=100'

``--accept`` measures ``POST /v1/payments`` instead (each a new payment with its own
idempotency key, recorded and queued on the slot's Redis broker; no worker runs).

``--rows N`` first loads N captured payments for the merchant in SQL (``bench.lookups.LOAD``), so a
list page is full.

``--bare`` adds the bare Litestar GET of the same JSON (``bench.bare_app``), the baseline of
``bench/run.py --only api``; ``--path`` measures another read (a list page, an event page).

It uses the test slot's database and Redis databases (``EASYPAY_TEST_SLOT``, as the test suite
does); do not run it while that slot's tests run.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import json
import os
import pstats
import time
import uuid
from dataclasses import dataclass
from typing import Any

from redis.asyncio.connection import AbstractConnection
from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlalchemy.pool import Pool

from bench.common import BODY
from engine.settings_from_env import load_settings

SLOT = int(os.environ.get("EASYPAY_TEST_SLOT", "0"))
DB = "easypay_test" if SLOT == 0 else f"easypay_test_{SLOT}"
SECRET = "test-secret-key-0123456789abcdef-0123456789abcdef"


@dataclass
class Counts:
    redis: int = 0
    statements: int = 0
    checkouts: int = 0


COUNTS = Counts()


def _count_round_trips() -> None:
    """Every Redis round trip goes through ``send_packed_command`` (single commands, pipelines and
    ``engine.redis_pipe.send_all`` alike); every SQL statement and checkout through these events."""
    original = AbstractConnection.send_packed_command

    async def counted(self: AbstractConnection, command: Any, check_health: bool = True) -> None:
        COUNTS.redis += 1
        await original(self, command, check_health)

    AbstractConnection.send_packed_command = counted  # type: ignore[method-assign]

    @event.listens_for(Engine, "before_cursor_execute")
    def _statement(*_: Any) -> None:
        COUNTS.statements += 1

    @event.listens_for(Pool, "checkout")
    def _checkout(*_: Any) -> None:
        COUNTS.checkouts += 1


def _env() -> dict[str, str]:
    cache_db, broker_db = 14 - 2 * SLOT, 15 - 2 * SLOT
    return {
        "DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{DB}",
        "REDIS_URL": f"redis://127.0.0.1:6379/{cache_db}",
        "BROKER_URL": f"redis://127.0.0.1:6379/{broker_db}",
        "EASYPAY_SECRET_KEY": SECRET,
        "EASYPAY_ENV": "test",
        "EASYPAY_REDIS_PREFIX": f"easypay-test{SLOT or ''}",
        "EASYPAY_METRICS_DIR": "/tmp/easypay-poll-cost-metrics",
        "RATE_LIMIT_PER_MINUTE": os.environ.get("POLL_COST_RL", "100000000"),
        "RATE_LIMIT_PER_HOUR": os.environ.get("POLL_COST_RL", "1000000000"),
        "RATE_LIMIT_PER_DAY": os.environ.get("POLL_COST_RL", "1000000000"),
    }


class Client:
    """Raw ASGI requests against the app: what a server would hand it, nothing more."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def request(self, method: str, path: str, headers: list[tuple[bytes, bytes]], body: bytes = b"") -> tuple[int, bytes]:
        path, _, query = path.partition("?")
        scope = {
            "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
            "method": method, "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": query.encode(),
            "root_path": "", "headers": headers, "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000),
            "state": {},
        }
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                await asyncio.sleep(3600)
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        status, chunks = 0, []

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        return status, b"".join(chunks)


async def _finished_payment(client: Client, settings: Any, auth: list[tuple[bytes, bytes]]) -> str:
    """A payment accepted through the API, then marked captured in PostgreSQL (no worker runs)."""
    from engine import redis_keys
    from engine.db.session import make_engine
    import redis.asyncio as aioredis

    status, body = await client.request("POST", "/v1/payments", [*auth, (b"content-type", b"application/json")], BODY)
    assert status == 202, (status, body)
    payment_id = json.loads(body)["id"]
    engine = make_engine(settings.database)
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE payments SET status = 'captured', version = version + 1 WHERE id = :id"),
                           {"id": uuid.UUID(payment_id)})
    await engine.dispose()
    r = aioredis.from_url(settings.redis.cache_url)
    await r.delete(redis_keys.payment_snapshot(settings.redis.key_prefix, payment_id))
    await r.aclose()
    return payment_id


async def _load_rows(settings: Any, merchant_id: uuid.UUID, count: int) -> None:
    import asyncpg

    from bench.lookups import LOAD

    conn = await asyncpg.connect(settings.database.url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        start = await conn.fetchval("SELECT count(*) FROM payments") + 1
        # Invoice numbers are unique per merchant: number from past every row already there.
        await conn.execute(LOAD, merchant_id, start, count)
    finally:
        await conn.close()


GC_S = [0.0, 0.0]


def _time_gc(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        GC_S[1] = time.process_time()
    else:
        GC_S[0] += time.process_time() - GC_S[1]


async def _phase(client: Client, path: str, auth: list[tuple[bytes, bytes]], n: int, concurrency: int,
                 accept: bool = False) -> dict[str, float]:
    before = Counts(**vars(COUNTS))
    gc_before = GC_S[0]
    cpu0 = time.process_time()
    wall0 = time.perf_counter()
    done = 0

    async def one() -> None:
        if accept:  # a new payment each time (its own idempotency key), as merchants send them
            headers = [*auth, (b"content-type", b"application/json"), (b"idempotency-key", uuid.uuid4().hex.encode())]
            status, _ = await client.request("POST", "/v1/payments", headers, BODY)
            assert status == 202, status
            return
        status, _ = await client.request("GET", path, auth)
        assert status == 200, status

    while done < n:
        batch = min(concurrency, n - done)
        if batch == 1:
            await one()
        else:
            await asyncio.gather(*(one() for _ in range(batch)))
        done += batch
    cpu = time.process_time() - cpu0
    wall = time.perf_counter() - wall0
    return {
        "cpu_us_per_request": 1e6 * cpu / n,
        "gc_us_per_request": 1e6 * (GC_S[0] - gc_before) / n,
        "wall_us_per_request": 1e6 * wall / n,
        "redis_round_trips_per_request": (COUNTS.redis - before.redis) / n,
        "pg_statements_per_request": (COUNTS.statements - before.statements) / n,
        "pg_checkouts_per_request": (COUNTS.checkouts - before.checkouts) / n,
    }


async def _bare(sample: bytes, path: str, args: argparse.Namespace) -> dict[str, list[dict[str, float]]]:
    """The same phases against ``bench.bare_app`` (a bare Litestar GET answering the same JSON),
    in this process: the baseline ``bench/run.py --only api`` compares the poll with."""
    import tempfile

    from bench.bare_app import create_bare_app

    with tempfile.NamedTemporaryFile(suffix=".json") as file:
        file.write(sample)
        file.flush()
        os.environ["BENCH_PAYMENT_SAMPLE"] = file.name
        bare = Client(create_bare_app())
    bare_path = path.replace("/v1/payments/", "/bare/payments/")
    await _phase(bare, bare_path, [], 200, 1)
    results: dict[str, list[dict[str, float]]] = {}
    for _ in range(args.rounds):
        results.setdefault("sequential", []).append(await _phase(bare, bare_path, [], args.n, 1))
        results.setdefault(f"concurrency {args.concurrency}", []).append(await _phase(bare, bare_path, [], args.n, args.concurrency))
    return results


async def main(args: argparse.Namespace) -> None:
    from api.app import create_app
    from engine.auth import derive_pepper
    from engine.db.accounts import create_api_key, create_merchant
    from engine.db.session import make_engine
    from migrations.runner import upgrade

    settings = load_settings(_env())
    await asyncio.to_thread(upgrade, settings.database.url)
    engine = make_engine(settings.database)
    async with engine.begin() as conn:
        row = await create_merchant(conn, "Poll cost shop")
        issued = await create_api_key(conn, merchant_id=row.id, role="merchant", pepper=derive_pepper(settings.secret_key))
    await engine.dispose()
    if args.rows:
        await _load_rows(settings, row.id, args.rows)
    auth = [(b"authorization", f"Bearer {issued.token}".encode())]

    _count_round_trips()
    gc.callbacks.append(_time_gc)
    app = create_app(settings, configure_logs=False)
    client = Client(app)
    async with app.lifespan():
        payment_id = await _finished_payment(client, settings, auth)
        path = args.path.replace("{id}", payment_id)
        accept = args.accept
        await _phase(client, path, auth, 200, 1, accept)  # warm-up: caches filled, code paths loaded
        results: dict[str, list[dict[str, float]]] = {}
        for _ in range(args.rounds):
            results.setdefault("sequential", []).append(await _phase(client, path, auth, args.n, 1, accept))
            results.setdefault(f"concurrency {args.concurrency}", []).append(
                await _phase(client, path, auth, args.n, args.concurrency, accept)
            )
        sample = await client.request("GET", path, auth)
        if args.profile:
            profiler = cProfile.Profile()
            profiler.enable()
            await _phase(client, path, auth, args.n, args.concurrency, accept)
            profiler.disable()
            profiler.dump_stats(args.profile)
            # Python function calls do not depend on the machine's load, unlike its time.
            calls = pstats.Stats(profiler).total_calls  # type: ignore[attr-defined]
            print(f"profiled: {calls / args.n:.0f} Python function calls per request (concurrency {args.concurrency})")
    bare_results = await _bare(sample[1], path, args) if args.bare else {}
    # The least CPU of the rounds: on a shared machine, load only ever adds to it.
    for name, runs in [*results.items(), *((f"bare {name}", runs) for name, runs in bare_results.items())]:
        best = min(runs, key=lambda r: r["cpu_us_per_request"])
        cpus = sorted(r["cpu_us_per_request"] for r in runs)
        print(f"{name:16s} cpu_us min {best['cpu_us_per_request']:.1f} median {cpus[len(cpus) // 2]:.1f}  "
              + "  ".join(f"{key} {value:.2f}" for key, value in best.items() if key != "cpu_us_per_request"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=4000, help="requests per phase")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5, help="rounds of each phase (the least CPU is reported)")
    parser.add_argument("--path", default="/v1/payments/{id}",
                        help="what to GET ({id}: the finished payment), e.g. '/v1/payments?limit=20' or '/v1/events?limit=20'")
    parser.add_argument("--rows", type=int, default=0, help="payments bulk-loaded for the merchant first (full list pages)")
    parser.add_argument("--accept", action="store_true",
                        help="measure POST /v1/payments instead (a new payment each, queued on the slot's broker)")
    parser.add_argument("--bare", action="store_true", help="also measure the bare Litestar GET of the same JSON")
    parser.add_argument("--profile", help="write a cProfile of the concurrent phase here")
    asyncio.run(main(parser.parse_args()))
