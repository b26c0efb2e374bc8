"""Every lifecycle path through the API, a real worker pool and the emulator."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from engine import sweeps
from tests.helpers import card_payment, wait_final
from tests.lifecycle_helpers import DAY_S, merchant_events, payment_row, refund_rows, wait_for, worker_deps

pytestmark = pytest.mark.usefixtures("worker")


async def _paid(api, merchant, amount: str, *, capture: bool = True) -> dict:
    response = await api.post("/v1/payments", json=card_payment(amount, capture=capture), headers=merchant.headers)
    assert response.status_code == 202, response.text
    final = await wait_final(api, merchant.headers, response.json()["id"])
    assert final["status"] == ("captured" if capture else "authorized"), final
    return final


async def _settled(api, merchant, sandbox, settings, amount: str) -> dict:
    payment = await _paid(api, merchant, amount)
    sandbox.settle()
    async with worker_deps(settings) as deps:
        assert await sweeps.sync_settlement(deps) >= 1
    return payment


async def _refund(api, merchant, payment_id: str, **body) -> dict:
    response = await api.post(f"/v1/payments/{payment_id}/refunds", json=body, headers=merchant.headers)
    assert response.status_code == 202, response.text
    refund = response.json()
    assert refund["object"] == "refund" and refund["status"] == "pending"
    assert response.headers["location"] == f"/v1/refunds/{refund['id']}"
    return await wait_for(api, merchant.headers, f"/v1/refunds/{refund['id']}", lambda r: r["status"] != "pending")


async def _until(api, merchant, payment_id: str, status: str) -> dict:
    return await wait_for(api, merchant.headers, f"/v1/payments/{payment_id}", lambda p: p["status"] == status)


async def _ledger_for(sandbox, trans_id: str) -> list[dict]:
    return [t for t in sandbox.ledger() if t["trans_id"] == trans_id or t["ref_trans_id"] == trans_id]


async def test_authorize_then_full_capture(api, merchant, sandbox):
    auth = await _paid(api, merchant, "25.00", capture=False)
    response = await api.post(f"/v1/payments/{auth['id']}/capture", headers=merchant.headers)
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "authorized"
    captured = await wait_for(api, merchant.headers, f"/v1/payments/{auth['id']}", lambda p: p["status"] == "captured")
    assert captured["amount_captured"] == "25.00" and captured["amount_refunded"] == "0.00"
    [txn] = await _ledger_for(sandbox, auth["processor"]["transaction_id"])
    assert txn["status"] == "capturedPendingSettlement" and txn["settle_amount"] == "25.00"


async def test_partial_capture_then_settle_then_partial_repeated_and_full_refunds(api, merchant, sandbox, settings, db):
    auth = await _paid(api, merchant, "40.00", capture=False)
    response = await api.post(f"/v1/payments/{auth['id']}/capture", json={"amount": "30.00"}, headers=merchant.headers)
    assert response.status_code == 202, response.text
    captured = await wait_for(api, merchant.headers, f"/v1/payments/{auth['id']}", lambda p: p["status"] == "captured")
    assert captured["amount"] == "40.00" and captured["amount_captured"] == "30.00"

    sandbox.settle()
    async with worker_deps(settings) as deps:
        assert await sweeps.sync_settlement(deps) >= 1
    assert (await payment_row(db, auth["id"])).settled_at is not None

    first = await _refund(api, merchant, auth["id"], amount="10.00", reason="damaged")
    assert first["status"] == "succeeded" and first["reason"] == "damaged" and first["amount"] == "10.00"
    payment = (await api.get(f"/v1/payments/{auth['id']}", headers=merchant.headers)).json()
    assert payment["status"] == "partially_refunded" and payment["amount_refunded"] == "10.00"

    second = await _refund(api, merchant, auth["id"], amount="10.00")
    assert second["status"] == "succeeded"
    rest = await _refund(api, merchant, auth["id"])  # no amount: everything left
    assert rest["status"] == "succeeded" and rest["amount"] == "10.00"

    payment = await _until(api, merchant, auth["id"], "refunded")
    assert payment["amount_captured"] == "30.00" and payment["amount_refunded"] == "30.00"

    listed = (await api.get(f"/v1/payments/{auth['id']}/refunds", headers=merchant.headers)).json()
    assert listed["object"] == "list" and [r["id"] for r in listed["data"]] == [rest["id"], second["id"], first["id"]]

    ledger = await _ledger_for(sandbox, auth["processor"]["transaction_id"])
    refunds = [t for t in ledger if t["type"] == "refundTransaction"]
    assert sorted(t["amount"] for t in refunds) == ["10.00", "10.00", "10.00"]
    assert {t["trans_id"] for t in refunds} == {
        r.processor_transaction_id for r in await refund_rows(db, auth["id"])
    }
    # Merchant events: one per announced change, refunds told by refund.succeeded.
    assert await merchant_events(db, auth["id"]) == ["payment.authorized", "payment.captured", "payment.refunded"]
    assert await merchant_events(db, first["id"]) == ["refund.succeeded"]


async def test_authorize_then_void(api, merchant, sandbox, db):
    auth = await _paid(api, merchant, "18.00", capture=False)
    response = await api.post(f"/v1/payments/{auth['id']}/void", headers=merchant.headers)
    assert response.status_code == 202, response.text
    voided = await _until(api, merchant, auth["id"], "voided")
    assert voided["status"] == "voided" and voided["amount_captured"] == "0.00"
    [txn] = await _ledger_for(sandbox, auth["processor"]["transaction_id"])
    assert txn["status"] == "voided"
    assert await merchant_events(db, auth["id"]) == ["payment.authorized", "payment.voided"]


async def test_void_of_an_unsettled_capture(api, merchant, sandbox):
    sale = await _paid(api, merchant, "19.00")
    response = await api.post(f"/v1/payments/{sale['id']}/void", headers=merchant.headers)
    assert response.status_code == 202, response.text
    voided = await _until(api, merchant, sale["id"], "voided")
    assert voided["status"] == "voided"
    [txn] = await _ledger_for(sandbox, sale["processor"]["transaction_id"])
    assert txn["status"] == "voided"


async def test_refund_before_settlement_partial_is_refused_full_becomes_a_void(api, merchant, sandbox, db):
    sale = await _paid(api, merchant, "21.00")
    before = await payment_row(db, sale["id"])

    refused = await api.post(f"/v1/payments/{sale['id']}/refunds", json={"amount": "5.00"}, headers=merchant.headers)
    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "payment_not_settled"
    assert await refund_rows(db, sale["id"]) == []
    assert (await payment_row(db, sale["id"])).version == before.version

    full = await _refund(api, merchant, sale["id"], reason="cancelled order")
    assert full["status"] == "succeeded" and full["amount"] == "21.00"
    payment = await _until(api, merchant, sale["id"], "voided")
    assert payment["amount_captured"] == "21.00" and payment["amount_refunded"] == "21.00"
    ledger = await _ledger_for(sandbox, sale["processor"]["transaction_id"])
    assert [(t["type"], t["status"]) for t in ledger] == [("authCaptureTransaction", "voided")]  # no refund transaction
    assert (await refund_rows(db, sale["id"]))[0].method == "void"
    assert await merchant_events(db, sale["id"]) == ["payment.captured", "payment.voided"]
    assert await merchant_events(db, full["id"]) == ["refund.succeeded"]


async def test_full_refund_of_a_capture_that_settled_unnoticed_refunds_for_real(api, merchant, sandbox, db):
    sale = await _paid(api, merchant, "22.00")
    sandbox.settle()  # the settlement sync has not run: the engine still believes it unsettled
    refund = await _refund(api, merchant, sale["id"])
    assert refund["status"] == "succeeded"
    payment = await _until(api, merchant, sale["id"], "refunded")
    assert payment["amount_refunded"] == "22.00"
    ledger = await _ledger_for(sandbox, sale["processor"]["transaction_id"])
    assert sorted((t["type"], t["amount"]) for t in ledger) == [("authCaptureTransaction", "22.00"), ("refundTransaction", "22.00")]
    assert (await payment_row(db, sale["id"])).settled_at is not None


async def test_refund_refused_by_the_processor_is_failed_and_releases_its_amount(api, merchant, sandbox, settings, db):
    sale = await _paid(api, merchant, "23.00")
    # The engine believes the capture settled, the processor does not: it answers reason 54.
    async with db.begin() as conn:
        await conn.execute(text("UPDATE payments SET settled_at = now() WHERE id = :id"), {"id": sale["id"]})
    failed = await _refund(api, merchant, sale["id"], amount="3.00")
    assert failed["status"] == "failed"
    assert failed["failure"] == {
        "code": "refund_not_settled",
        "message": "The transaction has not settled yet and cannot be refunded.",
        "processor_code": "54",
    }
    assert await merchant_events(db, failed["id"]) == ["refund.failed"]
    payment = (await api.get(f"/v1/payments/{sale['id']}", headers=merchant.headers)).json()
    assert payment["status"] == "captured" and payment["amount_refunded"] == "0.00"
    # The failed refund's amount is free again: once settled, the whole capture can be refunded.
    sandbox.settle()
    whole = await _refund(api, merchant, sale["id"])
    assert whole["amount"] == "23.00" and whole["status"] == "succeeded"
    ledger = await _ledger_for(sandbox, sale["processor"]["transaction_id"])
    assert sorted(t["type"] for t in ledger) == ["authCaptureTransaction", "refundTransaction"]


async def test_authorization_expires_after_30_days(api, merchant, settings, db):
    auth = await _paid(api, merchant, "26.00", capture=False)
    async with worker_deps(settings) as deps:
        assert await sweeps.expire_authorizations(deps) == 0  # fresh: nothing to do
        from datetime import datetime, timedelta, timezone

        later = datetime.now(timezone.utc) + timedelta(seconds=30 * DAY_S + 60)
        assert await sweeps.expire_authorizations(deps, now=later) >= 1
    await _until(api, merchant, auth["id"], "expired")
    assert "payment.expired" in await merchant_events(db, auth["id"])
    refused = await api.post(f"/v1/payments/{auth['id']}/capture", headers=merchant.headers)
    assert refused.status_code == 409 and refused.json()["code"] == "payment_not_capturable"


async def test_capture_idempotency_key_replays_the_first_answer(api, merchant):
    auth = await _paid(api, merchant, "27.00", capture=False)
    headers = {**merchant.headers, "Idempotency-Key": f"cap-{auth['id']}"}
    first = await api.post(f"/v1/payments/{auth['id']}/capture", json={"amount": "20.00"}, headers=headers)
    again = await api.post(f"/v1/payments/{auth['id']}/capture", json={"amount": "20.00"}, headers=headers)
    assert first.status_code == again.status_code == 202
    assert again.headers["idempotent-replayed"] == "true" and again.content == first.content
    other = await api.post(f"/v1/payments/{auth['id']}/capture", json={"amount": "21.00"}, headers=headers)
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    captured = await wait_for(api, merchant.headers, f"/v1/payments/{auth['id']}", lambda p: p["status"] == "captured")
    assert captured["amount_captured"] == "20.00"


async def test_refund_idempotency_key_creates_one_refund(api, merchant, sandbox, settings, db):
    sale = await _settled(api, merchant, sandbox, settings, "28.00")
    headers = {**merchant.headers, "Idempotency-Key": f"ref-{sale['id']}"}
    first = await api.post(f"/v1/payments/{sale['id']}/refunds", json={"amount": "1.00"}, headers=headers)
    again = await api.post(f"/v1/payments/{sale['id']}/refunds", json={"amount": "1.00"}, headers=headers)
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"]
    assert len(await refund_rows(db, sale["id"])) == 1


async def test_another_merchants_payment_and_refund_are_404(api, merchant, sandbox, settings):
    from tests.conftest import make_merchant

    other = await make_merchant(settings, name="Other shop")
    sale = await _settled(api, merchant, sandbox, settings, "29.00")
    refund = await _refund(api, merchant, sale["id"], amount="1.00")
    for method, path in [
        ("POST", f"/v1/payments/{sale['id']}/capture"),
        ("POST", f"/v1/payments/{sale['id']}/void"),
        ("POST", f"/v1/payments/{sale['id']}/refunds"),
        ("GET", f"/v1/payments/{sale['id']}/refunds"),
        ("GET", f"/v1/refunds/{refund['id']}"),
        ("GET", "/v1/refunds/not-a-uuid"),
    ]:
        response = await api.request(method, path, headers=other.headers)
        assert response.status_code == 404, (path, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")


async def test_batch_jobs_run_on_the_real_worker(api, merchant, sandbox, settings, db, worker):
    """What the scheduler enqueues, a worker carries out (here: the settlement sync)."""
    from jobs.names import EXPIRE_AUTHORIZATIONS, RECONCILE_DUE, RECOVERY_QUEUE, SWEEP_PENDING, SYNC_SETTLEMENT
    from jobs.brokers import connect_sender

    sale = await _paid(api, merchant, "31.00")
    sandbox.settle()
    sender = connect_sender(settings)
    try:
        for actor in (SYNC_SETTLEMENT, EXPIRE_AUTHORIZATIONS, RECONCILE_DUE, SWEEP_PENDING):
            await sender.run_job(actor, queue_name=RECOVERY_QUEUE)
    finally:
        await sender.close()
    for _ in range(300):
        log = worker.read_text()
        if (await payment_row(db, sale["id"])).settled_at is not None and all(
            f"{name}:" in log for name in ("sync_settlement", "expire_authorizations", "reconcile_due", "sweep_pending")
        ):
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the batch jobs did not all run")


async def test_capture_refused_by_the_processor_leaves_the_payment_authorized(api, merchant, db):
    auth = await _paid(api, merchant, "32.00", capture=False)
    async with db.begin() as conn:  # the processor does not know this transaction: reason 16
        await conn.execute(text("UPDATE payments SET processor_transaction_id = '99999999999' WHERE id = :id"), {"id": auth["id"]})
    assert (await api.post(f"/v1/payments/{auth['id']}/capture", headers=merchant.headers)).status_code == 202
    for _ in range(300):
        row = await payment_row(db, auth["id"])
        if row.pending_operation is None:
            break
        await asyncio.sleep(0.1)
    assert row.status == "authorized" and row.pending_operation is None and not row.needs_reconciliation
    async with db.connect() as conn:
        failed = (
            await conn.execute(
                text("SELECT data FROM payment_events WHERE payment_id = :id AND type = 'payment.capture_failed'"), {"id": auth["id"]}
            )
        ).scalar_one()
    assert failed == {"failure_code": "transaction_not_found", "processor_code": "16"}
    # Nothing is stuck: the capture can be requested again (and is refused again by the processor).
    assert (await api.post(f"/v1/payments/{auth['id']}/capture", headers=merchant.headers)).status_code == 202

async def test_capture_after_the_processor_expired_the_authorization_expires_it(api, merchant, sandbox, db):
    """Last in this module: it moves the emulator's clock 31 days forward (the clock never goes back)."""
    auth = await _paid(api, merchant, "30.00", capture=False)
    sandbox.advance_clock(31 * DAY_S)
    response = await api.post(f"/v1/payments/{auth['id']}/capture", headers=merchant.headers)
    assert response.status_code == 202
    expired = await _until(api, merchant, auth["id"], "expired")
    assert expired["amount_captured"] == "0.00"
    row = await payment_row(db, auth["id"])
    assert row.pending_operation is None and not row.needs_reconciliation
    [txn] = await _ledger_for(sandbox, auth["processor"]["transaction_id"])
    assert txn["status"] == "expired"



async def test_a_refund_message_that_arrives_before_its_commit_waits_for_the_row(api, merchant, settings, db):
    """The API enqueues before it commits; a worker that reads first must not drop the refund."""
    import uuid

    from engine import lifecycle
    from jobs.brokers import connect_sender

    sale = await _paid(api, merchant, "14.00")
    sender = connect_sender(settings)
    try:
        async with db.begin() as conn:
            refund = await lifecycle.request_refund(conn, merchant.id, uuid.UUID(sale["id"]), None)
            await sender.process_refund(refund.id)
            await asyncio.sleep(0.5)  # the worker has the message before this transaction commits
    finally:
        await sender.close()
    done = await wait_for(api, merchant.headers, f"/v1/refunds/{refund.id}", lambda r: r["status"] != "pending", timeout_s=20)
    assert done["status"] == "succeeded" and done["amount"] == "14.00"


@pytest.mark.parametrize("operation", ["capture", "void"])
async def test_an_operation_message_that_outruns_the_api_commit_waits_for_it(api, merchant, db, settings, sandbox, operation):
    """The API queues a capture or void before it commits (holding the row lock): a worker that
    reads first waits for that commit and carries the operation out, instead of dropping it."""
    import uuid

    from engine import lifecycle, operations
    from engine.job_deps import Result

    auth = await _paid(api, merchant, "31.00" if operation == "capture" else "32.00", capture=False)
    payment_id = uuid.UUID(auth["id"])
    execute = operations.execute_capture if operation == "capture" else operations.execute_void
    async with worker_deps(settings) as deps:
        async with db.begin() as conn:
            if operation == "capture":
                await lifecycle.request_capture(conn, None, payment_id, None)
            else:
                await lifecycle.request_void(conn, None, payment_id)
            job = asyncio.create_task(execute(deps, payment_id))
            await asyncio.sleep(0.5)
            assert not job.done(), "the job read the payment before the operation was committed"
        assert await asyncio.wait_for(job, 30) == Result.FINISHED
    row = await payment_row(db, auth["id"])
    assert row.status == ("captured" if operation == "capture" else "voided")
    assert row.pending_operation is None
