"""What the engine does with a processor's answer, or with its absence: one module for both.

* ``record_outcome`` turns a charge's answer into the payment's final status (approved →
  ``authorized``/``captured``; a card's refusal → ``declined``; anything else → ``failed``), and
  ``finish``/``finish_failed`` write any final status through the state machine with its event,
  then drop the stash copy of the method and refresh the cache.
* Outcome unknown: the payment (a charge, a capture or void) or the refund stays as it is with
  ``needs_reconciliation`` set, and the reconciler looks again at ``reconcile_next_at``. One rule
  for all of them (``next_look``): the next look comes after ``reconcile_backoff_s`` of the
  attempts so far (the minimum age, doubling, capped at 6 hours); an attempt is counted once, by
  whoever made it (the reconciler's look or take-over for a charge, the operation itself for a
  capture, void or refund). Nothing is ever reported declined on a guess.

The resend loop that decides "still unknown" is ``engine.resends``.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import func

from engine import engine_failures, method_loss
from engine import job_snapshots as snapshots
from engine.db import charge_claims
from engine.db import payments as repo
from engine.db import refunds as refund_repo
from engine.db.outcomes import move_and_tell
from engine.db.records import PaymentRecord, RefundRecord
from engine.db.session import autocommit
from engine.job_deps import ProcessingDeps, Result
from engine.metrics import PAYMENT_METHODS_LOST, PAYMENTS_OUTCOME_UNKNOWN, record_payment_status
from engine.processor import Outcome, TransactionResult
from engine.processor.codes import failure_for
from engine.settings import LifecycleSettings
from engine.states import IllegalTransition, PaymentStatus, RefundStatus, Trigger
from engine.transaction_outcomes import brand_from_account_type

log = logging.getLogger(__name__)

#: Failure codes that describe the card or cardholder: the payment is ``declined``, not ``failed``.
DECLINE_CODES = frozenset({
    "card_declined", "insufficient_funds", "incorrect_number", "invalid_expiry", "expired_card", "incorrect_cvc",
    "avs_mismatch", "avs_and_cvc_mismatch", "card_type_not_accepted", "fraud_declined",
})

#: ``now()`` in a statement, built once: ``repo.move`` recognises a statement's shape by it.
NOW = func.now()
#: The longest wait before the reconciler looks at an unknown outcome again.
MAX_RECONCILE_BACKOFF_S = 6 * 3600


def _processor_changes(result: TransactionResult) -> dict[str, Any]:
    return {
        "processor_transaction_id": result.transaction_id,
        "processor_auth_code": result.auth_code,
        "processor_avs_result": result.avs_result,
        "processor_cvv_result": result.cvv_result,
        "needs_reconciliation": False,
    }


async def record_outcome(
    deps: ProcessingDeps, claimed: PaymentRecord, result: TransactionResult, *, processor_ms: int | None = None
) -> Result:
    """Record the processor's answer; ``processor_ms`` (the charge's answer time) rides in the same UPDATE."""
    changes = _processor_changes(result)
    if processor_ms is not None:
        changes["processor_ms"] = processor_ms
    if claimed.payment_method_type == "opaque" and result.account_number:
        changes["card_last4"] = result.account_number[-4:]
        changes["card_brand"] = brand_from_account_type(result.account_type)
    data: dict[str, Any] = {"processor_code": result.reason_code, "transaction_id": result.transaction_id}
    if result.outcome == Outcome.APPROVED:
        if claimed.capture:
            trigger = Trigger.CAPTURE
            changes["amount_captured_minor"] = claimed.amount_minor
        else:
            trigger = Trigger.AUTHORIZE
            changes["authorized_at"] = NOW
    else:
        failure = failure_for(result)
        trigger = Trigger.DECLINE if failure.code in DECLINE_CODES else Trigger.FAIL
        changes.update(
            failure_code=failure.code,
            failure_message=failure.message,
            failure_processor_code=failure.processor_code,
        )
        data["failure_code"] = failure.code
    return await finish(deps, claimed.id, trigger, changes, data, claimed=claimed)


async def finish(
    deps: ProcessingDeps, payment_id: uuid.UUID, trigger: Trigger, changes: dict[str, Any], data: dict[str, Any],
    claimed: PaymentRecord | None = None,
) -> Result:
    try:
        row = None
        if claimed is not None:  # one statement while the row is still the one the claim returned
            async with autocommit(deps.engine).connect() as conn:
                row = await move_and_tell(conn, claimed, trigger, changes=changes, data=data)
        if row is None:
            async with deps.engine.begin() as conn:
                row = await repo.transition(
                    conn, payment_id, trigger, changes=changes, data=data, expected_status=PaymentStatus.PROCESSING
                )
    except IllegalTransition as exc:
        log.warning("payment %s: outcome not recorded (%s)", payment_id, exc)
        return Result.IGNORED
    record_payment_status(row.status)
    if deps.stash is not None:
        await deps.stash.delete(payment_id)
    await snapshots.write_now(deps.cache, row)
    log.info("payment %s is %s", payment_id, row.status)
    return Result.FINISHED


async def finish_failed(deps: ProcessingDeps, payment_id: uuid.UUID, code: str, detail: str | None) -> Result:
    """Fail with one of the engine's own codes (``engine.engine_failures``)."""
    changes = engine_failures.failure_changes(code)
    result = await finish(deps, payment_id, Trigger.FAIL, changes, {"failure_code": code, "detail": detail})
    if code == method_loss.LOST and result == Result.FINISHED:
        PAYMENT_METHODS_LOST.inc()
        log.error("payment %s: its sealed payment method was lost before its TTL (Redis lost data); failed, nothing charged", payment_id)
    return result


async def mark_charge_unknown(
    deps: ProcessingDeps,
    payment_id: uuid.UUID,
    last: TransactionResult | None,
    *,
    message_id: str,
    attempts: int,
    reason: str | None = None,
) -> None:
    """The charge's answer is unknown after the resends: flag the payment (still ``processing``)
    if this message still owns it. ``attempts``: the reconciler's attempts so far (it counts its
    own take-overs)."""
    data = {
        "reason": reason or (last.error if last else None) or "no answer from the processor",
        "last_outcome": last.outcome.value if last else None,
        "transaction_id": last.transaction_id if last else None,
    }
    async with deps.engine.begin() as conn:
        row = await repo.annotate_if(
            conn,
            payment_id,
            charge_claims.still_owned(message_id),
            changes=next_look(deps.lifecycle, attempts, count=False),
            event_type="payment.outcome_unknown",
            data=data,
        )
    if row is None:
        log.info("payment %s: finished or taken over meanwhile; not flagged", payment_id)
        return
    PAYMENTS_OUTCOME_UNKNOWN.inc()
    await snapshots.write_now(deps.cache, row)
    log.warning("payment %s: outcome unknown, left for reconciliation (%s)", payment_id, data["reason"])


def reconcile_backoff_s(lifecycle: LifecycleSettings, attempts: int) -> int:
    """The wait before the next look: the minimum age, doubling per attempt, capped."""
    doubling: int = 2**attempts
    return min(lifecycle.reconcile_min_age_s * doubling, MAX_RECONCILE_BACKOFF_S)


def next_look(lifecycle: LifecycleSettings, attempts: int, *, count: bool) -> dict[str, Any]:
    """The changes that leave an outcome to the reconciler; ``count``: this was an attempt."""
    changes: dict[str, Any] = {
        "needs_reconciliation": True,
        "reconcile_next_at": func.now() + timedelta(seconds=reconcile_backoff_s(lifecycle, attempts)),
    }
    if count:
        changes["reconcile_attempts"] = attempts + 1
    return changes


async def mark_operation_unknown(deps: ProcessingDeps, payment_id: uuid.UUID, operation: str) -> None:
    """A capture's or void's answer is unknown: it stays pending, flagged, if still the one pending."""
    async with deps.engine.begin() as conn:
        current = await repo.get_payment(conn, payment_id, for_update=True)
        if current is None or current.pending_operation != operation:
            return  # answered meanwhile (e.g. by the reconciler): nothing is unknown any more
        row = await repo.annotate(
            conn,
            payment_id,
            changes=next_look(deps.lifecycle, current.reconcile_attempts, count=True),
            event_type="payment.outcome_unknown",
            data={"operation": operation},
        )
    await snapshots.write_now(deps.cache, row)
    log.warning("payment %s: %s outcome unknown, left for reconciliation", payment_id, operation)


async def mark_refund_unknown(deps: ProcessingDeps, refund: RefundRecord) -> None:
    """A refund's answer is unknown: it stays pending, flagged."""
    async with deps.engine.begin() as conn:
        current = await refund_repo.get_refund(conn, refund.id, for_update=True)
        if current is None or current.status != RefundStatus.PENDING:
            return  # answered meanwhile: nothing is unknown any more
        await refund_repo.annotate_refund(conn, refund.id, next_look(deps.lifecycle, current.reconcile_attempts, count=True))
    log.warning("refund %s: outcome unknown, left for reconciliation", refund.id)
