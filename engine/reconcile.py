"""Reconciliation: settling what an unknown outcome was, for one payment, one refund, or every due one.

Unknown outcomes (the approach of Kill Bill's janitor and Hyperswitch's psync):

* A **charge** left in ``processing`` with ``needs_reconciliation`` is looked up: by its
  transaction id if one is known, else in ``getUnsettledTransactionList`` matched on its
  ``invoiceNumber``, then read with ``getTransactionDetails``; the outcome found is recorded.
  Not found and still inside the duplicate window with the sealed payment method available: the
  reconciler takes the charge over (a new owning message id) and re-enqueues it, and the worker
  resends the identical request — a duplicate answer names the first charge, so nothing is
  charged twice. Otherwise it looks again later, with doubling backoff.
* **Queued work is never replaced.** Before taking a charge over (or giving it up) the reconciler
  asks the broker whether it still holds a message for the payment — the previous resend still
  waiting in a long queue, or a dead worker's message not yet handed back
  (``JobSender.held_subjects``). If it does, that message will do the work: the payment is left
  alone (``in_flight``) and looked at again after the backoff. Only a message that is gone is
  replaced, so a backlog cannot turn one lost answer into a chain of resends.
* **Policy for an outcome that never resolves**: after ``RECONCILE_GIVE_UP_S`` (default 3 days,
  several settlement cycles) of a charge's claim, the payment becomes ``failed`` with failure code
  ``outcome_unknown`` (event ``payment.failed``; internal event ``payment.reconciliation_abandoned``
  with the evidence, logged at ERROR for manual review). A refund likewise becomes ``failed`` /
  ``outcome_unknown`` (``refund.failed``) and its reserved amount is released.
* A **capture or void** whose answer was lost is simply resent (the gateway answers a repeat with
  "already captured"/"already voided"); it is retried with backoff until the processor answers.
* A **refund** whose answer was lost is found in the unsettled list by its own invoice number, or
  resent inside the duplicate window (a duplicate answer names the first refund).

A run (``reconcile_due``) looks each due payment up once, downloads the unsettled list at most
once for all of them (``engine.unsettled``), asks the broker once which of them are still queued,
and stops starting new items after ``RUN_BUDGET_S`` (the rest are due in the next run). Runs are
single-flight (``engine.single_flight``, applied by the worker).

The API refuses any new operation on a payment that needs reconciliation (``409
payment_reconciling``) and asks for its reconciliation at once.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any


from engine import operations
from engine.db import payments as repo
from engine.db import recovery as recovery_repo
from engine.db import refunds as refund_repo
from engine.db.records import PaymentRecord, RefundRecord
from engine.metrics import RECONCILIATIONS
from engine.money import currency_exponent
from engine.job_deps import ProcessingDeps, Result
from engine.outcomes import finish_failed, reconcile_backoff_s, record_outcome
from engine.transaction_outcomes import details_result
from engine.processor import Outcome, TransactionDetails, TransactionResult
from engine.processor.codes import OUTCOME_UNKNOWN, failure_for
from engine.states import PaymentStatus, RefundStatus
from engine.unsettled import UnsettledIndex

log = logging.getLogger(__name__)

#: Margin kept before the end of the duplicate window when deciding whether a resend is safe.
WINDOW_MARGIN_S = 300
#: A run starts no new item after this long (well inside the worker's time limit).
RUN_BUDGET_S = 120.0


@dataclass
class Run:
    """What one reconciliation run shares across the payments it looks at."""

    unsettled: UnsettledIndex
    #: Payments with a charge message still held by the broker, asked once for the whole run;
    #: None: ask per payment.
    queued: set[uuid.UUID] | None = None
    started_s: float = field(default_factory=time.monotonic)

    @classmethod
    def start(cls, deps: ProcessingDeps) -> Run:
        return cls(unsettled=UnsettledIndex(deps.client))


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(timezone.utc)


async def _find_by_invoice(deps: ProcessingDeps, run: Run, invoice_number: str, currency: str) -> TransactionDetails | None:
    match = await run.unsettled.find(invoice_number)
    if match is None:
        return None
    details = await deps.client.get_transaction_details(match.transaction_id, exponent=currency_exponent(currency))
    return details if isinstance(details, TransactionDetails) else None


async def _charge_queued(deps: ProcessingDeps, run: Run, payment_id: uuid.UUID) -> bool:
    """True while the broker still holds a message for this payment (it will do the work)."""
    if deps.jobs is None:
        return False
    if run.queued is not None:
        return payment_id in run.queued
    return payment_id in await deps.jobs.held_subjects([payment_id])


async def _later(kind: str, row: PaymentRecord | RefundRecord, deps: ProcessingDeps, now: datetime) -> None:
    delay_s = reconcile_backoff_s(deps.lifecycle, row.reconcile_attempts)
    async with deps.engine.begin() as conn:
        await recovery_repo.reschedule(
            conn, kind, row.id, attempts=row.reconcile_attempts + 1, next_at=now + timedelta(seconds=delay_s)
        )


# ------------------------------------------------------------------------------------------------
# One payment / one refund


async def reconcile_payment(
    deps: ProcessingDeps, payment_id: uuid.UUID, *, now: datetime | None = None, run: Run | None = None
) -> str:
    """Settle what an unknown outcome was; returns what happened (for logs and tests)."""
    now = _now(now)
    run = run or Run.start(deps)
    async with deps.engine.connect() as conn:
        row = await repo.get_payment(conn, payment_id)
    if row is None or not row.needs_reconciliation:
        return "nothing"
    if row.status == PaymentStatus.PROCESSING:
        return await _reconcile_charge(deps, run, row, now)
    if row.pending_operation == "capture":
        return (await operations.execute_capture(deps, payment_id)).value
    if row.pending_operation == "void":
        return (await operations.execute_void(deps, payment_id)).value
    async with deps.engine.begin() as conn:  # nothing is pending any more
        await recovery_repo.clear_reconciliation(conn, payment_id)
    return "nothing"


async def _reconcile_charge(deps: ProcessingDeps, run: Run, row: PaymentRecord, now: datetime) -> str:
    age_s = (now - (row.processing_started_at or row.created_at)).total_seconds()
    if age_s < deps.lifecycle.reconcile_min_age_s:
        return "in_flight"  # a worker may still be sending; leave it to finish
    details = None
    if row.processor_transaction_id:
        found = await deps.client.get_transaction_details(row.processor_transaction_id, exponent=currency_exponent(row.currency))
        details = found if isinstance(found, TransactionDetails) else None
    if details is None:
        details = await _find_by_invoice(deps, run, row.invoice_number, row.currency)
    if details is not None:
        result = details_result(details)
        if result.outcome != Outcome.UNKNOWN:
            log.info("payment %s reconciled: transaction %s is %s", row.id, details.transaction_id, details.status)
            return "resolved" if (await record_outcome(deps, row, result)) == Result.FINISHED else "ignored"
    if await _charge_queued(deps, run, row.id):
        log.info("payment %s: its charge message is still queued; left to it", row.id)
        await _later("payment", row, deps, now)
        return "in_flight"
    if age_s < deps.duplicate_window_s - WINDOW_MARGIN_S and deps.stash is not None and deps.jobs is not None:
        sealed = await deps.stash.get(row.id)
        if sealed is not None:
            return await _take_over(deps, row, sealed)
    if age_s >= deps.lifecycle.reconcile_give_up_s:
        return await _give_up_charge(deps, row)
    await _later("payment", row, deps, now)
    return "later"


async def _take_over(deps: ProcessingDeps, row: PaymentRecord, sealed: str) -> str:
    """Make a new message the owner of the charge and enqueue it: it resends the identical request.

    Committed before the enqueue, so the message always finds itself the owner. If the enqueue
    fails, the next reconciliation pass takes over again.
    """
    message_id = str(uuid.uuid4())
    async with deps.engine.begin() as conn:
        taken = await recovery_repo.take_over_charge(
            conn,
            row,
            message_id=message_id,
            attempts=row.reconcile_attempts + 1,
            next_in_s=reconcile_backoff_s(deps.lifecycle, row.reconcile_attempts),
        )
        if not taken:
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


async def _give_up_charge(deps: ProcessingDeps, row: PaymentRecord) -> str:
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


async def reconcile_refund(
    deps: ProcessingDeps, refund_id: uuid.UUID, *, now: datetime | None = None, run: Run | None = None
) -> str:
    now = _now(now)
    run = run or Run.start(deps)
    async with deps.engine.connect() as conn:
        refund = await refund_repo.get_refund(conn, refund_id)
        payment = await repo.get_payment(conn, refund.payment_id) if refund is not None else None
    if refund is None or payment is None or refund.status != RefundStatus.PENDING or not refund.needs_reconciliation:
        return "nothing"
    if refund.method == "void":
        transaction_id = operations.transaction_id_of(payment)
        found = await deps.client.get_transaction_details(transaction_id, exponent=currency_exponent(payment.currency))
        if isinstance(found, TransactionDetails) and found.status == "voided":
            await operations.refund_succeeded_with(deps, refund, transaction_id)
            return "resolved"
        return (await operations.execute_refund(deps, refund_id)).value  # void again (310 if it was)
    details = await _find_by_invoice(deps, run, refund.invoice_number, refund.currency)
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
    await _later("refund", refund, deps, now)
    return "later"


# ------------------------------------------------------------------------------------------------
# One run over everything due (the scheduler's ``reconcile`` job)


async def reconcile_due(deps: ProcessingDeps, *, now: datetime | None = None) -> dict[str, int]:
    """Reconcile every payment and refund whose next look is due; returns counts by result."""
    now = _now(now)
    limit = deps.lifecycle.batch_size
    async with deps.engine.connect() as conn:
        payment_ids = await recovery_repo.due_payment_ids(
            conn, now=now, min_age=now - timedelta(seconds=deps.lifecycle.reconcile_min_age_s), limit=limit
        )
        refund_ids = await recovery_repo.due_refund_ids(conn, now=now, limit=limit)
    run = Run.start(deps)
    if payment_ids and deps.jobs is not None:
        run.queued = await deps.jobs.held_subjects(payment_ids)
    work = [(reconcile_payment, i, "payment") for i in payment_ids] + [(reconcile_refund, i, "refund") for i in refund_ids]
    counts: dict[str, int] = {}
    for reconcile_one, item_id, kind in work:
        if time.monotonic() - run.started_s > RUN_BUDGET_S:
            log.info("reconcile_due: run budget of %.0f s spent; the rest is due next run", RUN_BUDGET_S)
            break
        outcome = await _guarded(reconcile_one(deps, item_id, now=now, run=run), f"{kind} {item_id}")
        counts[outcome] = counts.get(outcome, 0) + 1
    for outcome, count in counts.items():
        RECONCILIATIONS.labels(result=outcome).inc(count)
    if run.unsettled.pages:
        log.info("reconcile_due: unsettled list downloaded once (%d pages)", run.unsettled.pages)
    return counts


async def _guarded(work: Any, what: str) -> str:
    """One item's failure (processor down, a bug) must not stop the batch."""
    try:
        return str(await work)
    except Exception as exc:  # noqa: BLE001
        log.warning("reconciling %s failed: %s", what, type(exc).__name__)
        return "error"


__all__ = ["Run", "reconcile_due", "reconcile_payment", "reconcile_refund"]
