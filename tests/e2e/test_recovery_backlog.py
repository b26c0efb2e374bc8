"""Recovery under a backlog: real scheduler, recovery pool and payments pool.

Hundreds of payments are queued before any worker runs; a few of their messages are then lost.
The scheduler runs every recovery job every second (the pending sweep treats anything older than
a second as stale) while the payments pool drains the backlog. The pending sweep must re-enqueue
exactly the lost ones — not the ones waiting in the queue — and every payment is charged once.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time
from collections import Counter

import pytest
import redis
from sqlalchemy import text

from engine import sweeps
from tests.conftest import BROKER_DB, ROOT, start_worker, stop
from tests.helpers import FAST_RECOVERY, card_payment
from tests.lifecycle_helpers import worker_deps

pytestmark = pytest.mark.redis_broker  # it reads or changes the Redis broker's keys

BACKLOG = 300
LOST = 5
SCHEDULED_ACTORS = {"sync_settlement", "expire_authorizations", "reconcile_due", "sweep_pending", "dispatch_webhook_deliveries"}
DUPLICATE = re.compile(r"payment ([0-9a-f-]{36}) is \w+; duplicate message \S+ ignored")
REQUEUED = re.compile(r"payment ([0-9a-f-]{36}): its queue message is gone; re-enqueued")


def _scheduler(test_env, log_path, **env) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "easypay.cli", "scheduler"],
        cwd=ROOT,
        env={**test_env, **env},
        stdout=open(log_path, "ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def drop_messages_for(broker: redis.Redis, object_id: str, queue: str = "payments") -> int:
    """Delete every queued message mentioning ``object_id`` (a lost message)."""
    dropped = 0
    for key, body in broker.hgetall(f"easypay:{queue}.msgs").items():
        if object_id.encode() in body:
            broker.hdel(f"easypay:{queue}.msgs", key)
            broker.lrem(f"easypay:{queue}", 0, key)
            dropped += 1
    return dropped


async def _post_backlog(api, merchant, count: int) -> list[str]:
    ids: list[str] = []
    for start in range(0, count, 25):
        responses = await asyncio.gather(
            *(
                api.post("/v1/payments", json=card_payment(f"{(n % 90) + 10}.{n % 100:02d}"), headers=merchant.headers)
                for n in range(start, min(count, start + 25))
            )
        )
        assert all(r.status_code == 202 for r in responses), [r.text for r in responses if r.status_code != 202][:3]
        ids += [r.json()["id"] for r in responses]
    return ids


async def _statuses(db, ids: list[str]) -> dict[str, tuple[str, str]]:
    async with db.connect() as conn:
        rows = await conn.execute(
            text("SELECT id::text, status, invoice_number FROM payments WHERE id = ANY(CAST(:ids AS uuid[]))"), {"ids": ids}
        )
        return {r.id: (r.status, r.invoice_number) for r in rows}


async def _settle(sandbox, settings, db, ids: list[str]) -> None:
    """Tidy up: record the settlement of these captures, so later tests' settlement syncs (a batch
    of the oldest unsettled captures) are not starved by them."""
    sandbox.settle()
    async with worker_deps(settings) as deps:
        for _ in range(10):
            async with db.connect() as conn:
                left = (
                    await conn.execute(
                        text("SELECT count(*) FROM payments WHERE id = ANY(CAST(:ids AS uuid[])) AND settled_at IS NULL"),
                        {"ids": ids},
                    )
                ).scalar_one()
            if not left:
                return
            await sweeps.sync_settlement(deps)


async def test_backlog_drains_with_every_payment_charged_once_and_no_duplicate_messages(
    api, merchant, sandbox, settings, db, test_env, log_dir
):
    broker = redis.Redis(host="127.0.0.1", port=6379, db=BROKER_DB)
    dead_before = {q: broker.zcard(f"easypay:{q}.XQ") for q in ("payments", "recovery")}
    ids = await _post_backlog(api, merchant, BACKLOG)
    lost = ids[:: BACKLOG // LOST][:LOST]
    for payment_id in lost:
        assert drop_messages_for(broker, payment_id) == 1

    logs = {name: log_dir / f"backlog-{name}.log" for name in ("scheduler", "recovery", "payments")}
    # Charges take a while, so the sweeps fire many times while the backlog drains.
    sandbox.add_fault("latency", count=-1, delay_ms=50, match={"method": "createTransactionRequest"})
    procs = [
        _scheduler(test_env, logs["scheduler"], **FAST_RECOVERY),
        start_worker(test_env, logs["recovery"], cli_args=("--pool", "recovery"), **FAST_RECOVERY),
    ]
    try:
        await asyncio.sleep(3)  # the sweeps run against the full backlog before any charge is made
        procs.append(start_worker(test_env, logs["payments"], **FAST_RECOVERY))
        deadline = time.monotonic() + 240
        while True:
            statuses = await _statuses(db, ids)
            if all(status not in ("pending", "processing") for status, _ in statuses.values()):
                break
            assert time.monotonic() < deadline, Counter(s for s, _ in statuses.values())
            await asyncio.sleep(0.5)
        await asyncio.sleep(2)  # let any late duplicate show up in the logs
    finally:
        for proc in reversed(procs):
            stop(proc, timeout_s=15)

    # Every payment charged exactly once: the emulator's ledger agrees with the database.
    assert Counter(status for status, _ in statuses.values()) == {"captured": BACKLOG}
    charges = Counter(t["invoice_number"] for t in sandbox.ledger() if t["type"] == "authCaptureTransaction")
    assert all(charges[invoice] == 1 for _, invoice in statuses.values()), [
        (invoice, charges[invoice]) for _, invoice in statuses.values() if charges[invoice] != 1
    ][:5]

    # The sweeps ran many times over the backlog, and re-enqueued exactly the lost payments.
    recovery_log = logs["recovery"].read_text()
    assert recovery_log.count("sweep_pending: {") >= 3, recovery_log[-3000:]
    ours = set(ids)
    requeued = Counter(m.group(1) for m in REQUEUED.finditer(recovery_log) if m.group(1) in ours)
    assert set(requeued) == set(lost), requeued
    # Duplicate messages (a worker finding its payment already claimed) at most 1 % of the backlog.
    ignored_copies = [m.group(1) for m in DUPLICATE.finditer(logs["payments"].read_text()) if m.group(1) in ours]
    extra_enqueues = sum(requeued.values()) - LOST
    assert len(ignored_copies) + extra_enqueues <= BACKLOG // 100, (ignored_copies, requeued)
    # No recovery run (or charge) ended in a dead letter.
    assert {q: broker.zcard(f"easypay:{q}.XQ") for q in ("payments", "recovery")} == dead_before
    sandbox.clear_faults()
    await _settle(sandbox, settings, db, ids)
    _drop_scheduled_runs(broker)


def _drop_scheduled_runs(broker: redis.Redis) -> None:
    """Tidy up: the runs the scheduler enqueued after the recovery pool stopped."""
    for queue in ("recovery", "webhooks"):
        for key, body in broker.hgetall(f"easypay:{queue}.msgs").items():
            if json.loads(body)["actor_name"] in SCHEDULED_ACTORS:
                broker.hdel(f"easypay:{queue}.msgs", key)
                broker.lrem(f"easypay:{queue}", 0, key)
