"""Reconciler runs: a resend still waiting in the queue is never replaced; one run downloads the
unsettled list once for all the payments it looks up; two runs at once do the work once."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from datetime import datetime, timedelta, timezone

import httpx
from sqlalchemy import text

from engine import reconcile
from tests.conftest import start_worker, stop
from tests.helpers import card_payment, wait_final
from tests.lifecycle_helpers import payment_row, worker_deps
from jobs.names import RECOVERY_QUEUE, SYNC_SETTLEMENT
from jobs.brokers import connect_sender

LATER = timedelta(hours=1)  # past every backoff, well inside the 8-hour duplicate window
UNSETTLED = "getUnsettledTransactionListRequest"


async def _flagged(db, payment_id: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        row = await payment_row(db, payment_id)
        if row.needs_reconciliation and row.reconcile_next_at is not None:
            return
        assert time.monotonic() < deadline, "never flagged for reconciliation"
        await asyncio.sleep(0.1)


async def _no_message_held(settings, ids: list[str], timeout_s: float = 30) -> None:
    jobs = connect_sender(settings)
    try:
        deadline = time.monotonic() + timeout_s
        while await jobs.held_subjects([uuid.UUID(i) for i in ids]):
            assert time.monotonic() < deadline, "the worker never acknowledged the charges' messages"
            await asyncio.sleep(0.1)
    finally:
        await jobs.close()


async def _resent_events(db, payment_id: str) -> int:
    async with db.connect() as conn:
        return (
            await conn.execute(
                text("SELECT count(*) FROM payment_events WHERE payment_id = :id AND type = 'payment.charge_resent'"),
                {"id": payment_id},
            )
        ).scalar_one()


def _hits(sandbox, method: str) -> int:
    rules = httpx.get(f"{sandbox.base_url}/_sandbox/faults").json()
    return sum(r["hits"] for r in (rules["faults"] if isinstance(rules, dict) else rules) if r["match"].get("method") == method)


async def test_a_queued_resend_is_never_replaced_and_the_list_is_downloaded_once_per_run(
    api, merchant, sandbox, settings, db, test_env, log_dir
):
    amounts = ("91.00", "92.00", "93.00")
    worker = start_worker(test_env, log_dir / "runs-worker-1.log")
    try:
        # Every send hangs past the client's timeout and is dropped: the charges never happened.
        for amount in amounts:
            sandbox.add_fault("hang", count=-1, delay_ms=4000, match={"transaction_type": "authCaptureTransaction", "amount": amount})
        ids = [(await api.post("/v1/payments", json=card_payment(a), headers=merchant.headers)).json()["id"] for a in amounts]
        for payment_id in ids:
            await _flagged(db, payment_id)
        await _no_message_held(settings, ids)  # the charges' messages are acknowledged, not in hand
    finally:
        stop(worker)
    sandbox.clear_faults()
    await asyncio.sleep(4.5)  # let the emulator finish (and drop) the hung requests
    sandbox.add_fault("latency", count=-1, delay_ms=1, match={"method": UNSETTLED})  # counts the downloads

    async with worker_deps(settings) as deps:
        # No payments worker runs: the reconciler's resends wait in the queue.
        await reconcile.reconcile_due(deps, now=datetime.now(timezone.utc) + LATER)
        assert [await _resent_events(db, p) for p in ids] == [1, 1, 1]
        assert _hits(sandbox, UNSETTLED) == 1  # one download for the whole run, not one per payment
        assert {str(p) for p in await deps.jobs.held_subjects(ids)} == set(ids)

        # Later runs find the resends still queued and leave them alone.
        for hours in (2, 3):
            await reconcile.reconcile_due(deps, now=datetime.now(timezone.utc) + timedelta(hours=hours))
        assert [await _resent_events(db, p) for p in ids] == [1, 1, 1]
        assert _hits(sandbox, UNSETTLED) <= 3
        for payment_id in ids:
            assert (await payment_row(db, payment_id)).status == "processing"
    sandbox.clear_faults()

    worker = start_worker(test_env, log_dir / "runs-worker-2.log")
    try:
        for payment_id in ids:
            assert (await wait_final(api, merchant.headers, payment_id))["status"] == "captured"
            assert len(sandbox.ledger((await payment_row(db, payment_id)).invoice_number)) == 1
    finally:
        stop(worker)
    assert [await _resent_events(db, p) for p in ids] == [1, 1, 1]


async def test_two_runs_at_once_in_the_recovery_pool_do_the_work_once(api, merchant, sandbox, settings, test_env, log_dir):
    worker = start_worker(test_env, log_dir / "runs-worker-3.log")
    try:
        paid = (await api.post("/v1/payments", json=card_payment("94.00"), headers=merchant.headers)).json()["id"]
        assert (await wait_final(api, merchant.headers, paid))["status"] == "captured"
    finally:
        stop(worker)
    # Each settlement lookup is slow, so the first run is still going when the second starts.
    sandbox.add_fault("latency", count=-1, delay_ms=1500, match={"method": "getTransactionDetailsRequest"})
    log_path = log_dir / "runs-recovery.log"
    recovery = start_worker(test_env, log_path, cli_args=("--pool", "recovery"), RECOVERY_THREADS="2")
    jobs = connect_sender(settings)
    try:
        await asyncio.sleep(2)  # the pool is up and polling
        for _ in range(2):
            await jobs.run_job(SYNC_SETTLEMENT, queue_name=RECOVERY_QUEUE)
        deadline = time.monotonic() + 60
        while True:
            text_ = log_path.read_text()
            ran = re.findall(r"sync_settlement: \d+\s*$", text_, re.MULTILINE)
            skipped = text_.count("sync_settlement: previous run still going; this run exits")
            if ran and skipped:
                break
            assert time.monotonic() < deadline, text_[-3000:]
            await asyncio.sleep(0.2)
        await asyncio.sleep(1)
        text_ = log_path.read_text()
        assert len(re.findall(r"sync_settlement: \d+\s*$", text_, re.MULTILINE)) == 1
        assert text_.count("sync_settlement: previous run still going; this run exits") == 1
    finally:
        await jobs.close()
        stop(recovery)
