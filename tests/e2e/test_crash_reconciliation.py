"""Workers SIGKILLed in the middle of charges, ten times: after reconciliation every payment is
final with exactly one charge.

Even rounds: the emulator has charged and holds the answer back (``hang_after_commit``) when the
worker dies. Odd rounds: the request is still held *before* the charge (``hang``) and, its client
gone, never commits. Afterwards a rescuer worker runs while the reconciler passes over the
payments: committed charges are found by invoice number; lost ones are taken over and resent
inside the duplicate window. The rescuer (3 s heartbeat timeout) may also be handed the dead
workers' messages meanwhile — whichever gets there first, there is one charge.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from datetime import datetime, timedelta, timezone

from sqlalchemy import text

from engine import reconcile
from tests.conftest import TEST_BROKER, start_worker, stop
from tests.lifecycle_helpers import payment_row, worker_deps
from tests.helpers import card_payment

ROUNDS = 10


async def _attempts(db, payment_id: str) -> int:
    async with db.connect() as conn:
        return (
            await conn.execute(text("SELECT processor_attempts FROM payments WHERE id = :id"), {"id": payment_id})
        ).scalar_one()


async def _kill_mid_charge(api, merchant, db, sandbox, test_env, log_dir, round_no: int) -> str:
    amount = f"7{round_no}.33"
    committed = round_no % 2 == 0
    fault = "hang_after_commit" if committed else "hang"
    sandbox.add_fault(fault, delay_ms=30_000, count=1, match={"transaction_type": "authCaptureTransaction", "amount": amount})
    # Victims never hand a dead victim's message back (long heartbeat timeout): until the rescuer
    # starts, only the reconciler can finish these payments.
    victim = start_worker(test_env, log_dir / f"crash-victim-{round_no}.log", WORKER_HEARTBEAT_TIMEOUT_MS="600000")
    try:
        payment_id = (await api.post("/v1/payments", json=card_payment(amount), headers=merchant.headers)).json()["id"]
        invoice = (await payment_row(db, payment_id)).invoice_number
        # Generous: a freshly started pool on a loaded two-core machine can take long to consume.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if committed and sandbox.ledger(invoice):
                break
            if not committed and await _attempts(db, payment_id) >= 1:
                await asyncio.sleep(0.3)  # the request is on its way and then held by the emulator
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the charge never reached the processor")
    finally:
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait()
    return payment_id


async def test_sigkill_mid_charge_many_times_then_reconcile(api, merchant, db, sandbox, settings, test_env, log_dir):
    payment_ids = [await _kill_mid_charge(api, merchant, db, sandbox, test_env, log_dir, n) for n in range(ROUNDS)]
    if TEST_BROKER == "redis":
        # The Redis broker hands a dead worker's messages back only after its heartbeat timeout;
        # RabbitMQ at once (the connection closed), so the next victim may already have finished one.
        for payment_id in payment_ids:
            row = await payment_row(db, payment_id)
            assert row.status == "processing" and row.needs_reconciliation

    rescuer = start_worker(test_env, log_dir / "crash-rescuer.log")
    try:
        async with worker_deps(settings) as deps:
            deadline = time.monotonic() + 120
            while True:
                rows = [await payment_row(db, pid) for pid in payment_ids]
                if all(r.status not in ("pending", "processing") for r in rows):
                    break
                assert time.monotonic() < deadline, [(r.id, r.status) for r in rows]
                await reconcile.reconcile_due(deps, now=datetime.now(timezone.utc) + timedelta(hours=1))
                await asyncio.sleep(1)
    finally:
        stop(rescuer)

    for row in rows:
        assert row.status == "captured", (row.id, row.status, row.failure_code)
        ledger = sandbox.ledger(row.invoice_number)
        assert len(ledger) == 1, ledger
        assert ledger[0]["trans_id"] == row.processor_transaction_id
        assert not row.needs_reconciliation
