"""Carrying out captures, voids and refunds: the worker's use cases.

Each operation was recorded by the API (``engine.lifecycle``); here the processor is called and
the answer recorded through the state machines. Resending is safe for all three, which is what
makes a lost answer harmless:

* ``priorAuthCaptureTransaction`` again → "already captured" (311, approved), no second capture;
* ``voidTransaction`` again → "already voided" (310, approved);
* ``refundTransaction`` carries a per-refund ``invoiceNumber`` and ``duplicateWindow``: the resend
  is refused as a duplicate naming the first refund's transaction, read back with
  ``getTransactionDetails``.

An answer still unknown after the resends leaves the operation pending with
``needs_reconciliation`` set; the reconciler (``engine.reconcile``) finishes it.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any, Awaitable, Callable

from sqlalchemy import func

from engine.db import payments as repo
from engine.db import refunds as refund_repo
from engine.db.records import PaymentRecord, RefundRecord
from engine.metrics import record_payment_status
from engine.money import currency_exponent
from engine import resends
from engine import job_snapshots as snapshots
from engine.job_deps import VISIBILITY_WAIT_S, PaymentNotVisible, ProcessingDeps, Result
from engine.outcomes import mark_operation_unknown, mark_refund_unknown
from engine.processor import Outcome, TransactionDetails, TransactionResult
from engine.processor.codes import TRANSACTION_NOT_FOUND, Failure, failure_for
from engine.states import IllegalTransition, PaymentStatus, RefundStatus, RefundTrigger, Trigger

log = logging.getLogger(__name__)

_SETTLED = frozenset({"settledSuccessfully"})
_REFUNDED = frozenset({"refundPendingSettlement", "refundSettledSuccessfully"})

_CLEAR_OPERATION = {
    "pending_operation": None,
    "pending_operation_amount_minor": None,
    "needs_reconciliation": False,
    "reconcile_next_at": None,
    "reconcile_attempts": 0,
}


async def send_with_resends(
    deps: ProcessingDeps, call: Callable[[], Awaitable[TransactionResult]], *, maybe_sent: bool = False
) -> TransactionResult | None:
    """``engine.resends.send_with_resends`` with the job's resend budget. None: still unknown."""
    result = await resends.send_with_resends(
        call, resends=deps.unknown_outcome_resends, backoff_s=deps.resend_backoff_s, sleep=deps.sleep, maybe_sent=maybe_sent
    )
    return None if resends.unanswered(result) else result


async def _operation_failed(deps: ProcessingDeps, payment_id: uuid.UUID, operation: str, failure: Failure) -> None:
    async with deps.engine.begin() as conn:
        await repo.get_payment(conn, payment_id, for_update=True)
        row = await repo.annotate(
            conn,
            payment_id,
            changes=_CLEAR_OPERATION,
            event_type=f"payment.{operation}_failed",
            data={"failure_code": failure.code, "processor_code": failure.processor_code},
        )
    await snapshots.write_now(deps.cache, row)
    log.warning("payment %s: %s failed (%s, processor %s)", payment_id, operation, failure.code, failure.processor_code)


def transaction_id_of(payment: PaymentRecord) -> str:
    """The processor transaction a capture, void or refund acts on, set once the charge succeeded.
    Without one the processor client would refuse the call with a ValueError all the same."""
    if payment.processor_transaction_id is None:
        raise ValueError(f"payment {payment.id} has no processor transaction id")
    return payment.processor_transaction_id


async def _details_status(deps: ProcessingDeps, transaction_id: str, currency: str) -> TransactionDetails | None:
    details = await deps.client.get_transaction_details(transaction_id, exponent=currency_exponent(currency))
    return details if isinstance(details, TransactionDetails) else None


async def _transition(
    deps: ProcessingDeps, payment_id: uuid.UUID, trigger: Trigger, changes: dict[str, Any], data: dict[str, Any]
) -> Result:
    try:
        async with deps.engine.begin() as conn:
            row = await repo.transition(conn, payment_id, trigger, changes=changes, data=data)
    except IllegalTransition as exc:
        log.warning("payment %s: %s not recorded (%s)", payment_id, trigger.value, exc)
        return Result.IGNORED
    record_payment_status(row.status)
    await snapshots.write_now(deps.cache, row)
    return Result.FINISHED


# ------------------------------------------------------------------------------------------------
# Capture and void


async def _operation_row(deps: ProcessingDeps, payment_id: uuid.UUID) -> PaymentRecord | None:
    """The payment as the API's operation left it. The API queues a capture or void before it
    commits, holding the payment's row lock; a locking read waits for that commit (or rollback)
    and then sees its outcome, where a plain read could still see the row without the operation
    and drop the message. The lock is released at once."""
    async with deps.engine.begin() as conn:
        return await repo.get_payment(conn, payment_id, for_update=True)


async def execute_capture(deps: ProcessingDeps, payment_id: uuid.UUID) -> Result:
    row = await _operation_row(deps, payment_id)
    if row is None or row.pending_operation != "capture" or row.status != PaymentStatus.AUTHORIZED:
        return Result.IGNORED
    amount = row.pending_operation_amount_minor
    transaction_id = transaction_id_of(row)
    result = await send_with_resends(
        deps,
        lambda: deps.client.capture(
            transaction_id,
            amount,
            row.currency,
            currency_exponent(row.currency),
            invoice_number=row.invoice_number,
        ),
        maybe_sent=bool(row.needs_reconciliation),
    )
    if result is None:
        await mark_operation_unknown(deps, payment_id, "capture")
        return Result.UNKNOWN
    data = {"processor_code": result.reason_code, "transaction_id": result.transaction_id}
    if result.outcome == Outcome.APPROVED:
        changes = {**_CLEAR_OPERATION, "amount_captured_minor": amount}
        return await _transition(deps, payment_id, Trigger.CAPTURE, changes, data)
    failure = failure_for(result)
    if failure.code == TRANSACTION_NOT_FOUND:
        details = await _details_status(deps, transaction_id, row.currency)
        if details is not None and details.status == "expired":
            return await _transition(deps, payment_id, Trigger.EXPIRE, _CLEAR_OPERATION, {**data, "reason": "expired at the processor"})
    await _operation_failed(deps, payment_id, "capture", failure)
    return Result.FINISHED


async def execute_void(deps: ProcessingDeps, payment_id: uuid.UUID) -> Result:
    row = await _operation_row(deps, payment_id)
    if row is None or row.pending_operation != "void":
        return Result.IGNORED
    transaction_id = transaction_id_of(row)
    result = await send_with_resends(
        deps, lambda: deps.client.void(transaction_id), maybe_sent=bool(row.needs_reconciliation)
    )
    if result is None:
        await mark_operation_unknown(deps, payment_id, "void")
        return Result.UNKNOWN
    data = {"processor_code": result.reason_code, "transaction_id": result.transaction_id}
    if result.outcome == Outcome.APPROVED:
        return await _transition(deps, payment_id, Trigger.VOID, dict(_CLEAR_OPERATION), data)
    failure = failure_for(result)
    if failure.code == TRANSACTION_NOT_FOUND:
        details = await _details_status(deps, transaction_id, row.currency)
        if details is not None and details.status in _SETTLED:
            await mark_settled(deps, payment_id)
    await _operation_failed(deps, payment_id, "void", failure)
    return Result.FINISHED


async def mark_settled(deps: ProcessingDeps, payment_id: uuid.UUID) -> None:
    async with deps.engine.begin() as conn:
        await repo.get_payment(conn, payment_id, for_update=True)
        row = await repo.annotate(
            conn, payment_id, changes={"settled_at": func.now()}, event_type="payment.settled", data={}
        )
    await snapshots.write_now(deps.cache, row)


# ------------------------------------------------------------------------------------------------
# Refunds


async def _visible_refund(deps: ProcessingDeps, refund_id: uuid.UUID) -> tuple[RefundRecord, PaymentRecord | None]:
    """The refund and its payment. The API enqueues before it commits (a 202 means queued), so a
    fast worker can read before the row is visible: wait for it as the charge job does, then let
    the broker retry; a row that never appears belongs to a commit that failed."""
    waited_s = 0.0
    while True:
        async with deps.engine.connect() as conn:
            refund = await refund_repo.get_refund(conn, refund_id)
            if refund is not None:
                return refund, await repo.get_payment(conn, refund.payment_id)
        if waited_s >= VISIBILITY_WAIT_S:
            raise PaymentNotVisible(str(refund_id))
        await deps.sleep(0.05)
        waited_s += 0.05


async def execute_refund(deps: ProcessingDeps, refund_id: uuid.UUID) -> Result:
    refund, payment = await _visible_refund(deps, refund_id)
    if payment is None or refund.status != RefundStatus.PENDING:
        return Result.IGNORED
    transaction_id = transaction_id_of(payment)
    maybe_sent = bool(refund.needs_reconciliation)
    if refund.method == "void":
        result = await send_with_resends(deps, lambda: deps.client.void(transaction_id), maybe_sent=maybe_sent)
        if result is None:
            await mark_refund_unknown(deps, refund)
            return Result.UNKNOWN
        if result.outcome == Outcome.APPROVED:
            return await _refund_succeeded(deps, refund, transaction_id, as_void=True)
        details = await _details_status(deps, transaction_id, payment.currency)
        if details is None or details.status not in _SETTLED:
            return await _refund_failed(deps, refund, failure_for(result))
        # It settled meanwhile: refund it for real.
        await mark_settled(deps, payment.id)
        async with deps.engine.begin() as conn:
            refund = await refund_repo.annotate_refund(conn, refund_id, {"method": "refund"})
        maybe_sent = False

    last4 = payment.card_last4
    if not last4:
        details = await _details_status(deps, transaction_id, payment.currency)
        last4 = details.account_number if details is not None else None
    if not last4:
        return await _refund_failed(deps, refund, failure_for(TransactionResult(outcome=Outcome.ERROR, reason_code="6")))
    result = await send_with_resends(
        deps,
        lambda: deps.client.refund(
            transaction_id,
            refund.amount_minor,
            refund.currency,
            currency_exponent(refund.currency),
            last4,
            invoice_number=refund.invoice_number,
        ),
        maybe_sent=maybe_sent,
    )
    if result is not None and result.outcome == Outcome.DUPLICATE:
        result = await _resolve_refund_duplicate(deps, refund, result)
    if result is None:
        await mark_refund_unknown(deps, refund)
        return Result.UNKNOWN
    if result.outcome == Outcome.APPROVED:
        return await _refund_succeeded(deps, refund, result.transaction_id, as_void=False)
    return await _refund_failed(deps, refund, failure_for(result))


async def _resolve_refund_duplicate(deps: ProcessingDeps, refund: RefundRecord, duplicate: TransactionResult) -> TransactionResult | None:
    """A resend refused as a duplicate: the first refund went through if its transaction did."""
    if not duplicate.transaction_id:
        return None
    details = await _details_status(deps, duplicate.transaction_id, refund.currency)
    if details is None or (details.invoice_number and details.invoice_number != refund.invoice_number):
        return None
    if details.status in _REFUNDED:
        return TransactionResult(outcome=Outcome.APPROVED, transaction_id=details.transaction_id, reason_code=details.reason_code)
    if details.status == "declined":
        return TransactionResult(outcome=Outcome.DECLINED, transaction_id=details.transaction_id, reason_code=details.reason_code)
    return None


async def refund_succeeded_with(deps: ProcessingDeps, refund: RefundRecord, transaction_id: str | None) -> Result:
    return await _refund_succeeded(deps, refund, transaction_id, as_void=refund.method == "void")


async def _refund_succeeded(deps: ProcessingDeps, refund: RefundRecord, transaction_id: str | None, *, as_void: bool) -> Result:
    """In one transaction: the payment's amounts and status, then the refund's status and event."""
    async with deps.engine.begin() as conn:
        payment = await repo.get_payment(conn, refund.payment_id, for_update=True)
        current = await refund_repo.get_refund(conn, refund.id, for_update=True)
        if payment is None or current is None or current.status != RefundStatus.PENDING:
            return Result.IGNORED
        data = {"refund_id": str(refund.id), "transaction_id": transaction_id}
        if as_void:
            trigger = Trigger.VOID
            changes: dict[str, Any] = {"amount_refunded_minor": payment.amount_captured_minor}
        else:
            refunded = payment.amount_refunded_minor + refund.amount_minor
            trigger = Trigger.REFUND_FULL if refunded == payment.amount_captured_minor else Trigger.REFUND_PARTIAL
            changes = {"amount_refunded_minor": refunded}
        row = await repo.transition(conn, payment.id, trigger, changes=changes, data=data, locked=payment)
        await refund_repo.transition_refund(
            conn,
            refund.id,
            RefundTrigger.SUCCEED,
            changes={"processor_transaction_id": transaction_id, "needs_reconciliation": False, "reconcile_next_at": None},
        )
    record_payment_status(row.status)
    await snapshots.write_now(deps.cache, row)
    log.info("refund %s succeeded; payment %s is %s", refund.id, row.id, row.status)
    return Result.FINISHED


async def refund_failed_with(deps: ProcessingDeps, refund: RefundRecord, failure: Failure) -> Result:
    return await _refund_failed(deps, refund, failure)


async def _refund_failed(deps: ProcessingDeps, refund: RefundRecord, failure: Failure) -> Result:
    async with deps.engine.begin() as conn:
        current = await refund_repo.get_refund(conn, refund.id, for_update=True)
        if current is None or current.status != RefundStatus.PENDING:
            return Result.IGNORED
        await refund_repo.transition_refund(
            conn,
            refund.id,
            RefundTrigger.FAIL,
            changes={
                "failure_code": failure.code,
                "failure_message": failure.message,
                "failure_processor_code": failure.processor_code,
                "needs_reconciliation": False,
                "reconcile_next_at": None,
            },
        )
    log.warning("refund %s failed (%s, processor %s)", refund.id, failure.code, failure.processor_code)
    return Result.FINISHED
