"""Fifty simultaneous partial refunds against one payment never refund more than was captured."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from engine import sweeps
from tests.helpers import card_payment, wait_final
from tests.lifecycle_helpers import payment_row, wait_for, worker_deps

pytestmark = pytest.mark.usefixtures("worker")

CONCURRENT = 50


async def test_fifty_concurrent_partial_refunds_never_exceed_the_capture(api, merchant, sandbox, settings, db):
    response = await api.post("/v1/payments", json=card_payment("50.00"), headers=merchant.headers)
    sale = await wait_final(api, merchant.headers, response.json()["id"])
    assert sale["status"] == "captured"
    sandbox.settle()
    async with worker_deps(settings) as deps:
        await sweeps.sync_settlement(deps)

    async def refund(i: int):
        return await api.post(
            f"/v1/payments/{sale['id']}/refunds", json={"amount": "1.50", "reason": f"item {i}"}, headers=merchant.headers
        )

    responses = await asyncio.gather(*(refund(i) for i in range(CONCURRENT)))
    accepted = [r for r in responses if r.status_code == 202]
    refused = [r for r in responses if r.status_code != 202]
    assert len(accepted) == 33, [(r.status_code, r.text[:200]) for r in refused][:3]  # 33 × 1.50 = 49.50 ≤ 50.00 < 34 × 1.50
    assert {(r.status_code, r.json()["code"]) for r in refused} == {(409, "refund_exceeds_captured")}

    for r in accepted:
        done = await wait_for(api, merchant.headers, f"/v1/refunds/{r.json()['id']}", lambda b: b["status"] != "pending")
        assert done["status"] == "succeeded", done

    payment = await wait_for(api, merchant.headers, f"/v1/payments/{sale['id']}", lambda p: p["amount_refunded"] == "49.50")
    assert payment["status"] == "partially_refunded"
    row = await payment_row(db, sale["id"])
    assert row.amount_refunded_minor == 4950 <= row.amount_captured_minor == 5000

    ledger = [t for t in sandbox.ledger() if t["ref_trans_id"] == sale["processor"]["transaction_id"]]
    assert len(ledger) == 33
    assert sum(Decimal(t["amount"]) for t in ledger) == Decimal("49.50")

    # The last 0.50 is still refundable, and nothing more.
    last = await api.post(f"/v1/payments/{sale['id']}/refunds", json={}, headers=merchant.headers)
    assert last.status_code == 202 and last.json()["amount"] == "0.50"
    more = await api.post(f"/v1/payments/{sale['id']}/refunds", json={"amount": "0.01"}, headers=merchant.headers)
    # Refused either way: while the 0.50 is in flight it would exceed the capture; once it has
    # succeeded the payment is fully refunded and takes no refund at all.
    assert more.status_code == 409 and more.json()["code"] in {"refund_exceeds_captured", "payment_not_refundable"}
    await wait_for(api, merchant.headers, f"/v1/payments/{sale['id']}", lambda p: p["status"] == "refunded")
