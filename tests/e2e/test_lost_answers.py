"""Lost processor answers (capture, refund, charge) are reconciled to the truth, with exactly one
effect in the emulator's ledger."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest
from prometheus_client import REGISTRY

from engine import reconcile, sweeps
from tests.helpers import card_payment, wait_final
from tests.lifecycle_helpers import payment_row, refund_rows, wait_for, worker_deps

pytestmark = pytest.mark.usefixtures("worker")

LATER = timedelta(hours=1)  # past every backoff, well inside the 8-hour duplicate window


async def _until_flagged(db, payment_id: str, *, refund: bool = False, timeout_s: float = 60) -> None:
    for _ in range(int(timeout_s / 0.1)):
        if refund:
            rows = await refund_rows(db, payment_id)
            if rows and rows[-1].needs_reconciliation:
                return
        elif (await payment_row(db, payment_id)).needs_reconciliation:
            row = await payment_row(db, payment_id)
            if row.reconcile_next_at is not None:  # marked unknown (not merely in flight)
                return
        await asyncio.sleep(0.1)
    raise AssertionError("never flagged for reconciliation")


async def test_lost_capture_answer_is_reconciled_before_the_next_operation(api, merchant, sandbox, db):
    auth = await wait_final(api, merchant.headers, (await api.post("/v1/payments", json=card_payment("61.00", capture=False), headers=merchant.headers)).json()["id"])
    assert auth["status"] == "authorized"
    sandbox.add_fault("drop_after_commit", count=-1, match={"transaction_type": "priorAuthCaptureTransaction"})
    response = await api.post(f"/v1/payments/{auth['id']}/capture", json={"amount": "60.00"}, headers=merchant.headers)
    assert response.status_code == 202
    await _until_flagged(db, auth["id"])
    assert (await payment_row(db, auth["id"])).status == "authorized"  # unknown is never a guess
    sandbox.clear_faults()

    # Any later operation first reconciles (and is refused meanwhile).
    refused = await api.post(f"/v1/payments/{auth['id']}/void", headers=merchant.headers)
    assert refused.status_code == 409 and refused.json()["code"] == "payment_reconciling"
    captured = await wait_for(api, merchant.headers, f"/v1/payments/{auth['id']}", lambda p: p["status"] == "captured")
    assert captured["amount_captured"] == "60.00"
    [txn] = [t for t in sandbox.ledger() if t["trans_id"] == auth["processor"]["transaction_id"]]
    assert txn["status"] == "capturedPendingSettlement" and txn["settle_amount"] == "60.00"
    assert not (await payment_row(db, auth["id"])).needs_reconciliation


async def test_lost_refund_answer_is_reconciled_with_one_refund(api, merchant, sandbox, settings, db):
    sale = await wait_final(api, merchant.headers, (await api.post("/v1/payments", json=card_payment("62.00"), headers=merchant.headers)).json()["id"])
    sandbox.settle()
    async with worker_deps(settings) as deps:
        await sweeps.sync_settlement(deps)
    sandbox.add_fault("drop_after_commit", count=-1, match={"transaction_type": "refundTransaction", "amount": "7.00"})
    response = await api.post(f"/v1/payments/{sale['id']}/refunds", json={"amount": "7.00"}, headers=merchant.headers)
    assert response.status_code == 202
    await _until_flagged(db, sale["id"], refund=True)
    assert (await api.get(f"/v1/refunds/{response.json()['id']}", headers=merchant.headers)).json()["status"] == "pending"
    sandbox.clear_faults()

    resolved_before = REGISTRY.get_sample_value("easypay_reconciliations_total", {"result": "resolved"}) or 0
    async with worker_deps(settings) as deps:
        counts = await reconcile.reconcile_due(deps, now=datetime.now(timezone.utc) + LATER)
    assert counts.get("resolved") == 1, counts
    # The reconciler's verdicts are counted (easypay_reconciliations_total, in this process here).
    assert REGISTRY.get_sample_value("easypay_reconciliations_total", {"result": "resolved"}) == resolved_before + 1
    refund = (await api.get(f"/v1/refunds/{response.json()['id']}", headers=merchant.headers)).json()
    assert refund["status"] == "succeeded"
    payment = (await api.get(f"/v1/payments/{sale['id']}", headers=merchant.headers)).json()
    assert payment["status"] == "partially_refunded" and payment["amount_refunded"] == "7.00"
    refunds = [t for t in sandbox.ledger() if t["ref_trans_id"] == sale["processor"]["transaction_id"]]
    assert [(t["type"], t["amount"]) for t in refunds] == [("refundTransaction", "7.00")]
    assert (await refund_rows(db, sale["id"]))[0].processor_transaction_id == refunds[0]["trans_id"]


async def test_lost_charge_answer_is_found_by_invoice_number(api, merchant, sandbox, settings, db):
    sandbox.add_fault("drop_after_commit", count=-1, match={"transaction_type": "authCaptureTransaction", "amount": "63.00"})
    payment_id = (await api.post("/v1/payments", json=card_payment("63.00"), headers=merchant.headers)).json()["id"]
    await _until_flagged(db, payment_id)
    row = await payment_row(db, payment_id)
    assert row.status == "processing"
    sandbox.clear_faults()

    async with worker_deps(settings) as deps:
        counts = await reconcile.reconcile_due(deps, now=datetime.now(timezone.utc) + LATER)
    assert counts.get("resolved") == 1, counts
    final = await wait_final(api, merchant.headers, payment_id)
    assert final["status"] == "captured"
    [txn] = sandbox.ledger(row.invoice_number)
    assert final["processor"]["transaction_id"] == txn["trans_id"]


async def test_charge_that_never_arrived_is_resent_by_the_reconciler_once(api, merchant, sandbox, settings, db):
    # Every send hangs past the client's timeout and is then dropped by the emulator (not committed).
    sandbox.add_fault("hang", count=-1, delay_ms=4000, match={"transaction_type": "authCaptureTransaction", "amount": "64.00"})
    payment_id = (await api.post("/v1/payments", json=card_payment("64.00"), headers=merchant.headers)).json()["id"]
    await _until_flagged(db, payment_id)
    row = await payment_row(db, payment_id)
    assert row.status == "processing" and sandbox.ledger(row.invoice_number) == []
    sandbox.clear_faults()
    await asyncio.sleep(4.5)  # let the emulator finish (and drop) the hung requests

    async with worker_deps(settings) as deps:
        counts = await reconcile.reconcile_due(deps, now=datetime.now(timezone.utc) + LATER)
    assert counts.get("resent") == 1, counts
    final = await wait_final(api, merchant.headers, payment_id)  # the real worker resends as the new owner
    assert final["status"] == "captured"
    assert len(sandbox.ledger(row.invoice_number)) == 1


async def test_outcome_that_never_resolves_is_failed_after_the_give_up_time(api, merchant, sandbox, settings, db):
    sandbox.add_fault("hang", count=-1, delay_ms=4000, match={"transaction_type": "authCaptureTransaction", "amount": "65.00"})
    payment_id = (await api.post("/v1/payments", json=card_payment("65.00"), headers=merchant.headers)).json()["id"]
    await _until_flagged(db, payment_id)
    sandbox.clear_faults()
    await asyncio.sleep(4.5)
    async with worker_deps(settings) as deps:
        await deps.stash.delete(payment_id)  # the card is gone: no resend possible
        later = datetime.now(timezone.utc) + LATER
        assert (await reconcile.reconcile_due(deps, now=later)).get("later") == 1
        gave_up = datetime.now(timezone.utc) + timedelta(seconds=settings.lifecycle.reconcile_give_up_s + 60)
        assert (await reconcile.reconcile_due(deps, now=gave_up)).get("given_up") == 1
    final = await wait_final(api, merchant.headers, payment_id)
    assert final["status"] == "failed"
    assert final["failure"]["code"] == "outcome_unknown"
    assert not (await payment_row(db, payment_id)).needs_reconciliation


async def test_lost_void_answer_is_reconciled(api, merchant, sandbox, settings, db):
    auth = await wait_final(api, merchant.headers, (await api.post("/v1/payments", json=card_payment("66.00", capture=False), headers=merchant.headers)).json()["id"])
    sandbox.add_fault("drop_after_commit", count=-1, match={"transaction_type": "voidTransaction"})
    assert (await api.post(f"/v1/payments/{auth['id']}/void", headers=merchant.headers)).status_code == 202
    await _until_flagged(db, auth["id"])
    assert (await payment_row(db, auth["id"])).status == "authorized"
    sandbox.clear_faults()
    async with worker_deps(settings) as deps:
        counts = await reconcile.reconcile_due(deps, now=datetime.now(timezone.utc) + LATER)
    assert counts.get("finished") == 1, counts
    voided = (await api.get(f"/v1/payments/{auth['id']}", headers=merchant.headers)).json()
    assert voided["status"] == "voided"
    [txn] = [t for t in sandbox.ledger() if t["trans_id"] == auth["processor"]["transaction_id"]]
    assert txn["status"] == "voided"
