"""SIGTERM to a pool in every form a supervisor sends it stops the pool within its shutdown
timeout, and no payment it held is lost or charged twice."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid

import pytest
from sqlalchemy import text

from tests.conftest import start_worker, stop
from tests.helpers import card_payment, wait_final

SHUTDOWN_TIMEOUT_S = 20


async def _processing(db, ids: list[str], timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        async with db.connect() as conn:
            statuses = (await conn.execute(text("SELECT status FROM payments WHERE id = ANY(:ids)"), {"ids": [uuid.UUID(i) for i in ids]})).scalars().all()
        if "processing" in statuses:
            return
        assert time.monotonic() < deadline, statuses
        await asyncio.sleep(0.1)


def _exit_within(proc, timeout_s: float) -> float:
    started = time.monotonic()
    while proc.poll() is None:
        if time.monotonic() - started > timeout_s:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            pytest.fail(f"the pool was still running {timeout_s} s after SIGTERM")
        time.sleep(0.1)
    return time.monotonic() - started


@pytest.mark.parametrize("how", ["process group", "master twice"])
async def test_sigterm_stops_the_pool_and_loses_nothing(how, api, merchant, db, sandbox, test_env, log_dir):
    amount = "41.41" if how == "process group" else "42.42"
    sandbox.add_fault("latency", delay_ms=1500, count=-1, match={"amount": amount})
    env = {"WORKER_PROCESSES": "2", "WORKER_THREADS": "4", "WORKER_SHUTDOWN_TIMEOUT_S": str(SHUTDOWN_TIMEOUT_S),
           "WORKER_METRICS_PORT": "0"}
    log_path = log_dir / f"worker-sigterm-{amount}.log"
    pool = start_worker(test_env, log_path, cli_args=("--queues", "payments"), **env)
    ids = []
    for _ in range(6):
        accepted = await api.post("/v1/payments", json=card_payment(amount), headers=merchant.headers)
        assert accepted.status_code == 202
        ids.append(accepted.json()["id"])
    await _processing(db, ids)

    if how == "process group":  # what honcho, systemd (KillMode=control-group) and Ctrl-C do
        os.killpg(pool.pid, signal.SIGTERM)
    else:  # an impatient operator: stop, and stop again
        pool.send_signal(signal.SIGTERM)
        time.sleep(3)
        if pool.poll() is None:
            pool.send_signal(signal.SIGTERM)
    _exit_within(pool, SHUTDOWN_TIMEOUT_S + 5)

    # A new pool finishes whatever the stopped one returned: every payment charged exactly once
    sandbox.clear_faults()
    fresh = start_worker(test_env, log_path, cli_args=("--queues", "payments,recovery"), WORKER_METRICS_PORT="0")
    try:
        for pid in ids:
            final = await wait_final(api, merchant.headers, pid, timeout_s=60)
            assert final["status"] == "captured", final
            async with db.connect() as conn:
                invoice = (await conn.execute(text("SELECT invoice_number FROM payments WHERE id = :id"), {"id": uuid.UUID(pid)})).scalar_one()
            assert len(sandbox.ledger(invoice)) == 1, pid
    finally:
        stop(fresh, timeout_s=15)
