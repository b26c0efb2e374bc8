"""A worker killed with SIGKILL in the middle of a charge: the payment still ends with one charge.

The dead worker's unacknowledged message goes back to the queue once its heartbeat is older
than ``WORKER_HEARTBEAT_TIMEOUT_MS`` (3 s in the tests); the next worker finds the payment
claimed by that very message, resends the identical request and learns the truth from the
duplicate answer — it never charges a second time.
"""

from __future__ import annotations

import asyncio
import os
import signal

import pytest
from sqlalchemy import text

from tests.conftest import start_worker, stop
from tests.helpers import card_payment, wait_final

ROUNDS = 3


async def _invoice(db, payment_id: str) -> str:
    async with db.connect() as conn:
        return (
            await conn.execute(text("SELECT invoice_number FROM payments WHERE id = :id"), {"id": payment_id})
        ).scalar_one()


@pytest.mark.parametrize("round_no", range(ROUNDS))
async def test_sigkill_mid_charge_ends_with_exactly_one_charge(api, merchant, db, sandbox, test_env, log_dir, round_no):
    amount = f"8{round_no}.17"
    sandbox.add_fault("hang_after_commit", delay_ms=60_000, count=1, match={"amount": amount})
    victim = start_worker(test_env, log_dir / f"victim-{round_no}.log")
    try:
        response = await api.post("/v1/payments", json=card_payment(amount), headers=merchant.headers)
        payment_id = response.json()["id"]
        invoice = await _invoice(db, payment_id)
        for _ in range(200):  # until the emulator has charged (and is holding the answer back)
            if sandbox.ledger(invoice):
                break
            await asyncio.sleep(0.05)
        assert len(sandbox.ledger(invoice)) == 1, "the charge should have reached the processor"
    finally:
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait()

    rescuer = start_worker(test_env, log_dir / f"rescuer-{round_no}.log")
    try:
        final = await wait_final(api, merchant.headers, payment_id, timeout_s=60)
    finally:
        stop(rescuer)
    assert final["status"] == "captured"
    ledger = sandbox.ledger(invoice)
    assert len(ledger) == 1, ledger
    assert final["processor"]["transaction_id"] == ledger[0]["trans_id"]
