"""What survives Redis loss, on real processes: a private ``redis-server`` flushed with card
payments queued and the worker pool stopped.

* Redis as the broker: the queue messages and the stash copies of the sealed cards are gone. The
  scheduler's pending sweep finds each payment pending with no message and no card, before its
  ``CARD_MESSAGE_TTL_S``: every one ends ``failed`` with ``payment_method_lost`` (not expired),
  with its ``payment.failed`` event, ``easypay_payment_methods_lost_total`` counts them, and the
  emulator charged nothing.
* RabbitMQ as the broker: the messages (which carry the sealed card) are in RabbitMQ; only the
  stash copies in Redis are gone. Every payment is charged once.

Each test has a database of its own (on the shared server), so the sweep sees only its payments.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import asyncpg
import httpx
import pytest
import redis
from sqlalchemy import text

from engine.db.session import make_engine
from engine.settings_from_env import load_settings
from tests.conftest import PG_ADMIN_DSN, ROOT, TEST_SLOT, free_port, reset_rabbitmq_vhost, start_web, start_worker, stop
from tests.helpers import card_payment
from tests.ops.metrics_text import scrape_until, value
from tests.private_redis import PrivateRedis

PAYMENTS = 12
#: The pending sweep every second, for payments pending longer than a second.
FAST_SWEEP = {"PENDING_SWEEP_INTERVAL_S": "1", "PENDING_SWEEP_AFTER_S": "1"}


@pytest.fixture
def private_redis(log_dir: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(free_port(), log_dir / "private-redis-loss.log")
    server.start()
    yield server
    server.stop()


async def _drop_database(name: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", name
        )
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
    finally:
        await conn.close()


def _cli(env: dict[str, str], *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "easypay.cli", *args, "--json"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return dict(json.loads(done.stdout))


def _world(test_env: dict[str, str], tmp_path: Path, name: str, **env: str) -> tuple[dict[str, str], dict[str, str]]:
    """An environment on a fresh database of its own, and a merchant's headers in it."""
    database = f"easypay_test_{TEST_SLOT}_{name}"
    asyncio.run(_drop_database(database))
    world = {
        **test_env,
        "DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{database}",
        "EASYPAY_REDIS_PREFIX": f"{name}-{uuid.uuid4().hex[:6]}",
        "EASYPAY_METRICS_DIR": str(tmp_path / "metrics"),
        "WORKER_METRICS_PORT": str(free_port()),
        "RECOVERY_METRICS_PORT": str(free_port()),
        **FAST_SWEEP,
        **env,
    }
    _cli(world, "db", "upgrade")
    merchant = _cli(world, "merchants", "create", "--name", f"{name} shop")
    key = _cli(world, "keys", "create", "--merchant", merchant["id"], "--role", "merchant")["key"]
    return world, {"Authorization": f"Bearer {key}"}


def _accept(base: str, headers: dict[str, str]) -> list[str]:
    with httpx.Client(base_url=base, headers=headers, timeout=20) as client:
        answers = [client.post("/v1/payments", json=card_payment(f"7{n}.25")) for n in range(PAYMENTS)]
    assert [a.status_code for a in answers] == [202] * PAYMENTS, [a.text for a in answers if a.status_code != 202][:2]
    return [a.json()["id"] for a in answers]


async def _rows(env: dict[str, str], ids: list[str]) -> dict[str, Any]:
    engine = make_engine(load_settings(env).database)
    try:
        async with engine.connect() as conn:
            payments = (
                await conn.execute(
                    text("SELECT id::text, status, failure_code, failure_message, invoice_number, processor_attempts "
                         "FROM payments WHERE id = ANY(CAST(:ids AS uuid[]))"),
                    {"ids": ids},
                )
            ).all()
            events = (
                await conn.execute(
                    text("SELECT object_id::text, type FROM events WHERE object_id = ANY(CAST(:ids AS uuid[]))"), {"ids": ids}
                )
            ).all()
    finally:
        await engine.dispose()
    return {"payments": {r.id: r for r in payments}, "events": [(e.object_id, e.type) for e in events]}


def _until_final(env: dict[str, str], ids: list[str], *, timeout_s: float = 120.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        rows = asyncio.run(_rows(env, ids))
        if all(r.status not in ("pending", "processing") for r in rows["payments"].values()):
            return rows
        assert time.monotonic() < deadline, {r.id: r.status for r in rows["payments"].values()}
        time.sleep(0.5)


def _sweep_total(recovery_log: Path, count: str) -> int:
    """The sum of one of the pending sweep's counts over the runs it logged."""
    return sum(int(n) for n in re.findall(rf"sweep_pending: {{[^}}]*'{count}': (\d+)", recovery_log.read_text()))


def _start_recovery(env: dict[str, str], log_dir: Path, name: str) -> tuple[list[subprocess.Popen[bytes]], Path]:
    """The scheduler and the recovery pool, running the pending sweep every second, before any
    payments worker: returns once the sweep has run over the queued payments twice."""
    recovery_log = log_dir / f"recovery-{name}.log"
    procs = [
        start_worker(env, recovery_log, cli_args=("--pool", "recovery")),
        subprocess.Popen(
            [sys.executable, "-m", "easypay.cli", "scheduler"],
            cwd=ROOT, env=env, stdout=open(log_dir / f"scheduler-{name}.log", "ab"), stderr=subprocess.STDOUT,
            start_new_session=True,
        ),
    ]
    deadline = time.monotonic() + 120
    while not (recovery_log.exists() and recovery_log.read_text().count("sweep_pending: {") >= 2):
        assert time.monotonic() < deadline, recovery_log.read_text()[-3000:] if recovery_log.exists() else "no log"
        time.sleep(0.2)
    return procs, recovery_log


@pytest.mark.redis_broker  # a Redis broker of its own, whichever broker the rest of the suite runs on
def test_redis_broker_flushed_with_payments_queued_fails_each_as_lost_not_expired(
    private_redis, test_env, sandbox, log_dir, tmp_path
):
    env, headers = _world(
        test_env, tmp_path, "redisloss",
        REDIS_URL=f"redis://127.0.0.1:{private_redis.port}/0",
        BROKER_URL=f"redis://127.0.0.1:{private_redis.port}/1",
    )
    base, web = start_web(env, log_dir / "web-redis-loss.log")
    procs: list[subprocess.Popen[bytes]] = [web]
    try:
        ids = _accept(base, headers)  # no worker runs: every charge is queued, its card only in Redis
        broker = redis.Redis(port=private_redis.port, db=1)
        assert broker.hlen("easypay:payments.msgs") == PAYMENTS
        private_redis_client = redis.Redis(port=private_redis.port)
        private_redis_client.flushall()  # as a Redis restarted without persistence comes back
        assert private_redis_client.dbsize() == 0 and broker.dbsize() == 0

        recovery, recovery_log = _start_recovery(env, log_dir, "redis-loss")
        procs += recovery
        procs.append(start_worker(env, log_dir / "worker-redis-loss.log"))
        rows = _until_final(env, ids)
        metrics = scrape_until(
            f"http://127.0.0.1:{env['RECOVERY_METRICS_PORT']}/metrics",
            lambda t: value(t, "easypay_payment_methods_lost_total") >= PAYMENTS,
        )
        with httpx.Client(base_url=base, headers=headers, timeout=20) as client:
            seen = [client.get(f"/v1/payments/{pid}").json() for pid in ids]
    finally:
        for proc in reversed(procs):
            stop(proc, timeout_s=15)

    payments = rows["payments"]
    assert {(r.status, r.failure_code) for r in payments.values()} == {("failed", "payment_method_lost")}
    assert all("lost" in r.failure_message and "nothing was charged" in r.failure_message for r in payments.values())
    assert all(r.processor_attempts == 0 for r in payments.values())
    assert {p["failure"]["code"] for p in seen} == {"payment_method_lost"}
    # One payment.failed event each (the merchant's events, what webhooks deliver).
    failed_events = sorted(pid for pid, kind in rows["events"] if kind == "payment.failed")
    assert failed_events == sorted(ids)
    assert value(metrics, "easypay_payment_methods_lost_total") == PAYMENTS
    # Nothing reached the emulator.
    assert all(sandbox.ledger(r.invoice_number) == [] for r in payments.values())
    assert _sweep_total(recovery_log, "lost") == PAYMENTS  # the pending sweep found them
    # The operator's view of one of them.
    shown = _cli(env, "payments", "show", ids[0])
    assert shown["failure"]["code"] == "payment_method_lost"
    assert [e["type"] for e in shown["events"]][-1] == "payment.failed"
    assert shown["events"][-1]["data"]["failure_code"] == "payment_method_lost"


@pytest.mark.rabbitmq_broker
def test_rabbitmq_broker_keeps_queued_payments_when_redis_is_lost(private_redis, test_env, sandbox, log_dir, tmp_path):
    vhost = f"easypay-test{TEST_SLOT}-redisloss"
    reset_rabbitmq_vhost(vhost)
    env, headers = _world(
        test_env, tmp_path, "rabbitredisloss",
        REDIS_URL=f"redis://127.0.0.1:{private_redis.port}/0",
        BROKER_URL=f"amqp://guest:guest@127.0.0.1:5672/{vhost}",
    )
    base, web = start_web(env, log_dir / "web-rabbit-redis-loss.log")
    procs: list[subprocess.Popen[bytes]] = [web]
    try:
        ids = _accept(base, headers)
        client = redis.Redis(port=private_redis.port)
        assert client.dbsize() > 0  # the stash copies (and held counters) were written
        client.flushall()
        # The sweeps run first, with neither stash copies nor held counters to go by: the payments
        # may still be queued (they are), so none is failed.
        recovery, recovery_log = _start_recovery(env, log_dir, "rabbit-redis-loss")
        procs += recovery
        procs.append(start_worker(env, log_dir / "worker-rabbit-redis-loss.log"))
        rows = _until_final(env, ids)
        metrics = scrape_until(f"http://127.0.0.1:{env['RECOVERY_METRICS_PORT']}/metrics", lambda t: "easypay_payment_methods_lost_total" in t)
    finally:
        for proc in reversed(procs):
            stop(proc, timeout_s=15)

    payments = rows["payments"]
    assert {r.status for r in payments.values()} == {"captured"}
    assert all(len(sandbox.ledger(r.invoice_number)) == 1 for r in payments.values())
    assert value(metrics, "easypay_payment_methods_lost_total") == 0
    assert _sweep_total(recovery_log, "maybe_queued") >= PAYMENTS  # each left alone at least once
    assert _sweep_total(recovery_log, "lost") == _sweep_total(recovery_log, "expired") == 0
