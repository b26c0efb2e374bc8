"""The periodic work behind ``schedules/``: reconciliation, settlement sync, expiry, pending sweep.

Unknown outcomes (Kill Bill's janitor, Hyperswitch's psync; reference peers.md §6, authorizenet §8):

* A **charge** left in ``processing`` with ``needs_reconciliation`` is looked up: by its
  transaction id if one is known, else in ``getUnsettledTransactionList`` matched on its
  ``invoiceNumber``, then read with ``getTransactionDetails``; the outcome found is recorded.
  Not found and still inside the duplicate window with the sealed payment method available: the
  reconciler takes the charge over (a new owning message id) and re-enqueues it, and the worker
  resends the identical request — a duplicate answer names the first charge, so nothing is
  charged twice. Otherwise it looks again later, with doubling backoff.
* **Policy for an outcome that never resolves**: after ``RECONCILE_GIVE_UP_S`` (default 3 days,
  several settlement cycles) of a charge's claim, the payment becomes ``failed`` with failure code
  ``outcome_unknown`` (event ``payment.failed``; internal event ``payment.reconciliation_abandoned``
  with the evidence, logged at ERROR for manual review). A refund likewise becomes ``failed`` /
  ``outcome_unknown`` (``refund.failed``) and its reserved amount is released.
* A **capture or void** whose answer was lost is simply resent (the gateway answers a repeat with
  "already captured"/"already voided"); it is retried with backoff until the processor answers.
* A **refund** whose answer was lost is found in the unsettled list by its own invoice number, or
  resent inside the duplicate window (a duplicate answer names the first refund).

The API refuses any new operation on a payment that needs reconciliation (``409
payment_reconciling``) and asks for its reconciliation at once.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.engine import Row

from engine import operations
from engine.db import payments as repo
from engine.db import refunds as refund_repo
from engine.metrics import RECONCILIATIONS, record_payment_status
from engine.money import currency_exponent
from engine.processing import ProcessingDeps, Result, details_result, finish_failed, record_outcome
from engine.processor import Outcome, TransactionDetails, TransactionResult
from engine.processor.codes import OUTCOME_UNKNOWN, failure_for
from engine.states import IllegalTransition, PaymentStatus, RefundStatus, Trigger

log = logging.getLogger(__name__)

payments = repo.payments
refunds = refund_repo.refunds

#: Pages of the unsettled list searched for an invoice number (1000 transactions each).
UNSETTLED_PAGES = 5
#: Margin kept before the end of the duplicate window when deciding whether a resend is safe.
WINDOW_MARGIN_S = 300


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(timezone.utc)


async def _find_by_invoice(deps: ProcessingDeps, invoice_number: str, currency: str) -> TransactionDetails | None:
    exponent = currency_exponent(currency)
    for page in range(1, UNSETTLED_PAGES + 1):
        listed = await deps.client.list_unsettled(limit=1000, offset=page, exponent=exponent)
        if not isinstance(listed, list):
            return None
        match = next((t for t in listed if t.invoice_number == invoice_number), None)
        if match is not None:
            details = await deps.client.get_transaction_details(match.transaction_id, exponent=exponent)
            return details if isinstance(details, TransactionDetails) else None
        if len(listed) < 1000:
            return None
    return None


async def _later(table: Any, row: Row[Any], deps: ProcessingDeps, now: datetime) -> None:
    delay_s = operations.backoff_s(deps, row.reconcile_attempts)
    async with deps.engine.begin() as conn:
        await conn.execute(
            update(table)
            .where(table.c.id == row.id)
            .values(reconcile_next_at=now + timedelta(seconds=delay_s), reconcile_attempts=row.reconcile_attempts + 1)
        )


# ------------------------------------------------------------------------------------------------
# One payment / one refund


async def reconcile_payment(deps: ProcessingDeps, payment_id: uuid.UUID, *, now: datetime | None = None) -> str:
    """Settle what an unknown outcome was; returns what happened (for logs and tests)."""
    now = _now(now)
    async with deps.engine.connect() as conn:
        row = await repo.get_payment(conn, payment_id)
    if row is None or not row.needs_reconciliation:
        return "nothing"
    if row.status == PaymentStatus.PROCESSING:
        return await _reconcile_charge(deps, row, now)
    if row.pending_operation == "capture":
        return (await operations.execute_capture(deps, payment_id)).value
    if row.pending_operation == "void":
        return (await operations.execute_void(deps, payment_id)).value
    async with deps.engine.begin() as conn:  # nothing is pending any more
        await conn.execute(update(payments).where(payments.c.id == payment_id).values(needs_reconciliation=False))
    return "nothing"


async def _reconcile_charge(deps: ProcessingDeps, row: Row[Any], now: datetime) -> str:
    age_s = (now - (row.processing_started_at or row.created_at)).total_seconds()
    if age_s < deps.lifecycle.reconcile_min_age_s:
        return "in_flight"  # a worker may still be sending; leave it to finish
    details = None
    if row.processor_transaction_id:
        found = await deps.client.get_transaction_details(row.processor_transaction_id, exponent=currency_exponent(row.currency))
        details = found if isinstance(found, TransactionDetails) else None
    if details is None:
        details = await _find_by_invoice(deps, row.invoice_number, row.currency)
    if details is not None:
        result = details_result(details)
        if result.outcome != Outcome.UNKNOWN:
            log.info("payment %s reconciled: transaction %s is %s", row.id, details.transaction_id, details.status)
            return "resolved" if (await record_outcome(deps, row, result)) == Result.FINISHED else "ignored"
    if age_s < deps.duplicate_window_s - WINDOW_MARGIN_S and deps.stash is not None and deps.jobs is not None:
        sealed = await deps.stash.get(row.id)
        if sealed is not None:
            return await _take_over(deps, row, sealed)
    if age_s >= deps.lifecycle.reconcile_give_up_s:
        return await _give_up_charge(deps, row)
    await _later(payments, row, deps, now)
    return "later"


async def _take_over(deps: ProcessingDeps, row: Row[Any], sealed: str) -> str:
    """Make a new message the owner of the charge and enqueue it: it resends the identical request.

    Committed before the enqueue, so the message always finds itself the owner. If the enqueue
    fails, the next reconciliation pass takes over again.
    """
    message_id = str(uuid.uuid4())
    async with deps.engine.begin() as conn:
        taken = await conn.execute(
            update(payments)
            .where(
                payments.c.id == row.id,
                payments.c.status == PaymentStatus.PROCESSING.value,
                payments.c.processing_message_id == row.processing_message_id,
            )
            .values(
                processing_message_id=message_id,
                reconcile_attempts=row.reconcile_attempts + 1,
                reconcile_next_at=func.now() + timedelta(seconds=operations.backoff_s(deps, row.reconcile_attempts)),
            )
        )
        if taken.rowcount != 1:
            return "ignored"
        await repo.insert_event(
            conn,
            payment_id=row.id,
            merchant_id=row.merchant_id,
            type="payment.charge_resent",
            trigger=None,
            from_status=row.status,
            to_status=row.status,
            data={"message_id": message_id, "previous_message_id": row.processing_message_id},
            request_id=None,
        )
    await deps.jobs.process_payment(row.id, sealed, request_id=None, message_id=message_id)
    log.info("payment %s: charge not found at the processor; resent inside the duplicate window", row.id)
    return "resent"


async def _give_up_charge(deps: ProcessingDeps, row: Row[Any]) -> str:
    async with deps.engine.begin() as conn:
        await repo.insert_event(
            conn,
            payment_id=row.id,
            merchant_id=row.merchant_id,
            type="payment.reconciliation_abandoned",
            trigger=None,
            from_status=row.status,
            to_status=PaymentStatus.FAILED.value,
            data={"attempts": row.reconcile_attempts, "invoice_number": row.invoice_number},
            request_id=None,
        )
    log.error("payment %s: outcome never resolved; marked failed (outcome_unknown) for manual review", row.id)
    await finish_failed(deps, row.id, OUTCOME_UNKNOWN, "reconciliation abandoned")
    return "given_up"


async def reconcile_refund(deps: ProcessingDeps, refund_id: uuid.UUID, *, now: datetime | None = None) -> str:
    now = _now(now)
    async with deps.engine.connect() as conn:
        refund = await refund_repo.get_refund(conn, refund_id)
        payment = await repo.get_payment(conn, refund.payment_id) if refund is not None else None
    if refund is None or payment is None or refund.status != RefundStatus.PENDING or not refund.needs_reconciliation:
        return "nothing"
    if refund.method == "void":
        found = await deps.client.get_transaction_details(payment.processor_transaction_id, exponent=currency_exponent(payment.currency))
        if isinstance(found, TransactionDetails) and found.status == "voided":
            await operations.refund_succeeded_with(deps, refund, payment.processor_transaction_id)
            return "resolved"
        return (await operations.execute_refund(deps, refund_id)).value  # void again (310 if it was)
    details = await _find_by_invoice(deps, refund.invoice_number, refund.currency)
    if details is not None and details.status in ("refundPendingSettlement", "refundSettledSuccessfully"):
        await operations.refund_succeeded_with(deps, refund, details.transaction_id)
        return "resolved"
    age_s = (now - refund.created_at).total_seconds()
    if age_s < deps.duplicate_window_s - WINDOW_MARGIN_S:
        return (await operations.execute_refund(deps, refund_id)).value  # a resend is a duplicate if it landed
    if age_s >= deps.lifecycle.reconcile_give_up_s:
        log.error("refund %s: outcome never resolved; marked failed (outcome_unknown) for manual review", refund_id)
        await operations.refund_failed_with(deps, refund, failure_for(TransactionResult(outcome=Outcome.UNKNOWN)))
        return "given_up"
    await _later(refunds, refund, deps, now)
    return "later"


# ------------------------------------------------------------------------------------------------
# Batch jobs (one queue message each, sent by the scheduler)


async def reconcile_due(deps: ProcessingDeps, *, now: datetime | None = None) -> dict[str, int]:
    """Reconcile every payment and refund whose next look is due; returns counts by result."""
    now = _now(now)
    min_age = now - timedelta(seconds=deps.lifecycle.reconcile_min_age_s)
    limit = deps.lifecycle.batch_size
    async with deps.engine.connect() as conn:
        payment_ids = (
            await conn.execute(
                select(payments.c.id)
                .where(
                    payments.c.needs_reconciliation,
                    or_(payments.c.reconcile_next_at.is_(None), payments.c.reconcile_next_at <= now),
                    or_(
                        payments.c.status != PaymentStatus.PROCESSING.value,
                        func.coalesce(payments.c.processing_started_at, payments.c.created_at) <= min_age,
                    ),
                )
                .order_by(payments.c.reconcile_next_at.asc().nulls_first())
                .limit(limit)
            )
        ).scalars().all()
        refund_ids = (
            await conn.execute(
                select(refunds.c.id)
                .where(
                    refunds.c.needs_reconciliation,
                    refunds.c.status == RefundStatus.PENDING.value,
                    or_(refunds.c.reconcile_next_at.is_(None), refunds.c.reconcile_next_at <= now),
                )
                .limit(limit)
            )
        ).scalars().all()
    counts: dict[str, int] = {}
    for payment_id in payment_ids:
        outcome = await _guarded(reconcile_payment(deps, payment_id, now=now), f"payment {payment_id}")
        counts[outcome] = counts.get(outcome, 0) + 1
    for refund_id in refund_ids:
        outcome = await _guarded(reconcile_refund(deps, refund_id, now=now), f"refund {refund_id}")
        counts[outcome] = counts.get(outcome, 0) + 1
    for outcome, count in counts.items():
        RECONCILIATIONS.labels(result=outcome).inc(count)
    return counts


async def _guarded(work: Any, what: str) -> str:
    """One item's failure (processor down, a bug) must not stop the batch."""
    try:
        return str(await work)
    except Exception as exc:  # noqa: BLE001
        log.warning("reconciling %s failed: %s", what, type(exc).__name__)
        return "error"


async def sync_settlement(deps: ProcessingDeps) -> int:
    """Record captures the processor has settled (refunds need it); returns how many."""
    async with deps.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(payments.c.id, payments.c.processor_transaction_id, payments.c.currency)
                .where(
                    payments.c.settled_at.is_(None),
                    payments.c.status.in_([PaymentStatus.CAPTURED.value, PaymentStatus.PARTIALLY_REFUNDED.value]),
                    payments.c.processor_transaction_id.is_not(None),
                )
                .order_by(payments.c.updated_at)
                .limit(deps.lifecycle.batch_size)
            )
        ).all()
    settled = 0
    for row in rows:
        details = await deps.client.get_transaction_details(row.processor_transaction_id, exponent=currency_exponent(row.currency))
        if isinstance(details, TransactionDetails) and details.status == "settledSuccessfully":
            await operations.mark_settled(deps, row.id)
            settled += 1
    return settled


async def expire_authorizations(deps: ProcessingDeps, *, now: datetime | None = None) -> int:
    """Authorizations older than ``AUTH_EXPIRY_S`` with nothing pending become ``expired``."""
    cutoff = _now(now) - timedelta(seconds=deps.lifecycle.auth_expiry_s)
    async with deps.engine.connect() as conn:
        ids = (
            await conn.execute(
                select(payments.c.id)
                .where(
                    payments.c.status == PaymentStatus.AUTHORIZED.value,
                    payments.c.pending_operation.is_(None),
                    func.coalesce(payments.c.authorized_at, payments.c.created_at) <= cutoff,
                )
                .limit(deps.lifecycle.batch_size)
            )
        ).scalars().all()
    expired = 0
    for payment_id in ids:
        async with deps.engine.begin() as conn:
            row = await repo.get_payment(conn, payment_id, for_update=True)
            if row is None or row.pending_operation is not None or row.status != PaymentStatus.AUTHORIZED:
                continue
            row = await repo.transition(conn, payment_id, Trigger.EXPIRE, data={"reason": "not captured in time"}, locked=row)
        record_payment_status(row.status)
        await operations.refresh_cache(deps, row)
        expired += 1
    return expired


async def sweep_pending(deps: ProcessingDeps, *, now: datetime | None = None) -> dict[str, int]:
    """Re-enqueue work whose queue message was lost.

    * payments still ``pending``: re-enqueued with the stashed sealed method; when it is gone (past
      ``CARD_MESSAGE_TTL_S``) nothing can be charged and the payment fails with
      ``payment_method_expired`` (it never reached the processor);
    * captures/voids and refunds still pending without an unknown outcome: re-enqueued (resending
      them is safe, see ``engine.operations``).
    """
    now = _now(now)
    limit = deps.lifecycle.batch_size
    stale_pending = now - timedelta(seconds=deps.lifecycle.pending_sweep_after_s)
    stale_work = now - timedelta(seconds=deps.lifecycle.reconcile_min_age_s)
    async with deps.engine.connect() as conn:
        pending_ids = (
            await conn.execute(
                select(payments.c.id)
                .where(payments.c.status == PaymentStatus.PENDING.value, payments.c.created_at <= stale_pending)
                .order_by(payments.c.created_at)
                .limit(limit)
            )
        ).scalars().all()
        operation_rows = (
            await conn.execute(
                select(payments.c.id, payments.c.pending_operation)
                .where(
                    payments.c.pending_operation.is_not(None),
                    ~payments.c.needs_reconciliation,
                    payments.c.updated_at <= stale_work,
                )
                .limit(limit)
            )
        ).all()
        refund_ids = (
            await conn.execute(
                select(refunds.c.id)
                .where(
                    refunds.c.status == RefundStatus.PENDING.value,
                    ~refunds.c.needs_reconciliation,
                    refunds.c.updated_at <= stale_work,
                )
                .limit(limit)
            )
        ).scalars().all()
    counts = {"requeued": 0, "expired": 0, "operations": 0, "refunds": 0}
    for payment_id in pending_ids:
        sealed = await deps.stash.get(payment_id) if deps.stash is not None else None
        if sealed is not None:
            # At most once per PENDING_SWEEP_AFTER_S, so a long backlog is not multiplied.
            if await deps.stash.mark_resent(payment_id, ttl_s=deps.lifecycle.pending_sweep_after_s):
                await deps.jobs.process_payment(payment_id, sealed, request_id=None)
                counts["requeued"] += 1
        elif await _expire_pending(deps, payment_id):
            counts["expired"] += 1
    for row in operation_rows:
        sender = deps.jobs.capture_payment if row.pending_operation == "capture" else deps.jobs.void_payment
        await sender(row.id)
        counts["operations"] += 1
    for refund_id in refund_ids:
        await deps.jobs.process_refund(refund_id)
        counts["refunds"] += 1
    return counts


async def _expire_pending(deps: ProcessingDeps, payment_id: uuid.UUID) -> bool:
    """Fail a pending payment whose sealed method is gone: claimed by the sweep, then failed."""
    try:
        async with deps.engine.begin() as conn:
            await repo.transition(
                conn,
                payment_id,
                Trigger.CLAIM,
                changes={"processing_message_id": "pending-sweep", "processing_started_at": func.now()},
                data={"message_id": "pending-sweep"},
                expected_status=PaymentStatus.PENDING,
            )
    except IllegalTransition:
        return False  # a worker claimed it meanwhile
    await finish_failed(deps, payment_id, "payment_method_expired", "sealed payment method expired before processing")
    return True


__all__ = [
    "expire_authorizations",
    "reconcile_due",
    "reconcile_payment",
    "reconcile_refund",
    "sweep_pending",
    "sync_settlement",
]
