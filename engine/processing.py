"""Charging a payment: the worker's use case.

1. Claim: ``pending`` → ``processing`` under a row lock, recording which queue message owns the
   charge and, in the same transaction, that a request is about to be sent. A duplicate message (another id) finds the payment claimed and does nothing; the
   owner's own redelivery (a retry, or a dead worker's message coming back) continues.
2. Charge on Authorize.net with the payment's fixed ``invoiceNumber`` and a ``duplicateWindow``.
   When the answer is lost (outcome unknown) the identical request is resent: if the first one
   reached the gateway, the resend is refused as a duplicate carrying the original transaction id,
   which ``getTransactionDetails`` turns into the real outcome. A charge therefore happens once.
3. Record the outcome through the state machine, with its event, then refresh the cache (the
   claim's snapshot only if the outcome takes longer: ``engine.job_snapshots``).

If the outcome is still unknown after the resends, the payment stays ``processing`` with
``needs_reconciliation`` set and a ``payment.outcome_unknown`` event; it is never reported as
declined on a guess.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import datetime, timezone
from typing import Any

from engine import job_snapshots as snapshots
from engine import method_loss
from engine.db import charge_claims
from engine.db import payments as repo
from engine.db.records import PaymentRecord
from engine.db.session import autocommit
from engine.job_deps import VISIBILITY_WAIT_S, PaymentNotVisible, ProcessingDeps, Result
from engine.method_secrets import open_method
from engine.money import currency_exponent
from engine.outcomes import NOW, finish_failed, mark_charge_unknown, record_outcome
from engine.processor import Billing, Card, ChargeRequest, OpaqueData, Outcome, TransactionDetails, TransactionResult
from engine.resends import ProcessorUnavailable, send_with_resends
from engine.sealing import SealError, SealExpired, SealKeyUnknown
from engine.states import PaymentStatus, Trigger
from engine.transaction_outcomes import details_result

log = logging.getLogger(__name__)

async def process_payment(
    deps: ProcessingDeps,
    payment_id: uuid.UUID,
    sealed_method: str | None,
    *,
    message_id: str,
    final_attempt: bool = False,
) -> Result:
    """Claim, charge and record one payment. Raises ``ProcessorUnavailable`` when it should be retried.

    ``sealed_method`` None: the method is gone (a retried dead letter without its stash copy): never
    charged on a guess; failed as expired or lost by the payment's age (``engine.method_loss``).
    """
    if sealed_method is None:
        gone = await _claim(deps, payment_id, message_id, in_flight=False)
        if gone is None:
            return Result.IGNORED
        code = method_loss.gone_method_code(gone[0].created_at, ttl_s=deps.card_message_ttl_s, now=datetime.now(timezone.utc))
        return await _unreadable_method(deps, gone[0], code=code, message_id=message_id)
    try:
        method = open_method(deps.sealer, payment_id, sealed_method)
    except SealKeyUnknown:
        raise  # a rotation under way: retried until a process holding the key opens it (nothing claimed)
    except SealError as exc:
        unreadable = await _claim(deps, payment_id, message_id, in_flight=False)
        if unreadable is None:
            return Result.IGNORED
        code = method_loss.EXPIRED if isinstance(exc, SealExpired) else "payment_method_unreadable"
        return await _unreadable_method(deps, unreadable[0], code=code, message_id=message_id)
    # The claim also marks the first send as in flight: one transaction before the first request.
    claim = await _claim(deps, payment_id, message_id, in_flight=True)
    if claim is None:
        return Result.IGNORED
    claimed, was_in_flight = claim
    request = _charge_request(claimed, method)

    #: How long the last charge call took: the processor latency the dashboard draws.
    last_call_ms: list[int] = []

    async def charge() -> TransactionResult:
        started_s = time.perf_counter()
        try:
            return await deps.client.charge(request)
        finally:
            last_call_ms[:] = [round((time.perf_counter() - started_s) * 1000)]

    try:
        result = await send_with_resends(
            charge,
            resends=deps.unknown_outcome_resends,
            backoff_s=deps.resend_backoff_s,
            sleep=deps.sleep,
            maybe_sent=was_in_flight,  # a request may have reached the processor in an earlier delivery
            before_resend=lambda: _set_in_flight(deps, payment_id, message_id, True),
            resolve_duplicate=lambda duplicate: _resolve_duplicate(deps, request, duplicate),
        )
    except ProcessorUnavailable as unreachable:
        await _set_in_flight(deps, payment_id, message_id, False)
        if final_attempt:
            return await finish_failed(deps, payment_id, "processor_unavailable", unreachable.error)
        raise

    if result is None or result.outcome in (Outcome.UNKNOWN, Outcome.HELD):
        await mark_charge_unknown(deps, payment_id, result, message_id=message_id, attempts=claimed.reconcile_attempts)
        return Result.UNKNOWN
    return await record_outcome(deps, claimed, result, processor_ms=last_call_ms[0] if last_call_ms else None)


#: Built once: ``repo.move`` recognises a statement's shape by it without compiling it.
_ONE_MORE_ATTEMPT = repo.payments.c.processor_attempts + 1


def _in_flight_changes() -> dict[str, Any]:
    return {"needs_reconciliation": True, "processor_attempts": _ONE_MORE_ATTEMPT}


async def _claim(
    deps: ProcessingDeps, payment_id: uuid.UUID, message_id: str, *, in_flight: bool
) -> tuple[PaymentRecord, bool] | None:
    """Own the payment for ``message_id``; returns (row, whether a send was already in flight).

    With ``in_flight`` the same transaction records "a request may be on its way" (see
    ``_set_in_flight``), since the caller sends right after.
    """
    changes: dict[str, Any] = {"processing_message_id": message_id, "processing_started_at": NOW}
    if in_flight:
        changes.update(_in_flight_changes())
    # The common case, a pending payment with nothing in flight: claimed in one statement, one
    # round trip (autocommit). Anything else is looked at under the row lock below.
    async with autocommit(deps.engine).connect() as conn:
        claimed = await repo.move(
            conn, payment_id, Trigger.CLAIM, from_status=PaymentStatus.PENDING, changes=changes,
            data={"message_id": message_id}, unless_in_flight=True,
        )
    if claimed is not None:
        snapshots.write_soon(deps.cache, claimed)
        return claimed, False
    # Our own charge resumed, a duplicate, or a row the API has not committed yet.
    waited_s = 0.0
    while True:
        async with deps.engine.begin() as conn:
            row = await repo.get_payment(conn, payment_id, for_update=True)
            if row is not None:
                was_in_flight = bool(row.needs_reconciliation)
                if row.status == PaymentStatus.PROCESSING and row.processing_message_id == message_id:
                    log.info("payment %s: message %s resumes its own charge", payment_id, message_id)
                    if in_flight:
                        await charge_claims.set_fields(conn, payment_id, _in_flight_changes())
                    return row, was_in_flight
                if row.status != PaymentStatus.PENDING:
                    log.info("payment %s is %s; duplicate message %s ignored", payment_id, row.status, message_id)
                    return None
                row = await repo.transition(
                    conn, payment_id, Trigger.CLAIM, changes=changes, data={"message_id": message_id}, locked=row
                )
                break
        if waited_s >= VISIBILITY_WAIT_S:
            raise PaymentNotVisible(str(payment_id))
        await deps.sleep(0.05)
        waited_s += 0.05
    snapshots.write_soon(deps.cache, row)
    return row, was_in_flight


def _charge_request(row: PaymentRecord, method: Card | OpaqueData) -> ChargeRequest:
    billing = None
    if row.billing:
        billing = Billing(**{k: row.billing.get(k) for k in Billing.__dataclass_fields__})
    return ChargeRequest(
        capture=row.capture,
        amount_minor=row.amount_minor,
        currency=row.currency,
        exponent=currency_exponent(row.currency),
        invoice_number=row.invoice_number,
        payment=method,
        billing=billing,
        customer_id=(row.customer_id or None) and row.customer_id[:20],
        description=row.description,
    )


async def _set_in_flight(deps: ProcessingDeps, payment_id: uuid.UUID, message_id: str, in_flight: bool) -> None:
    """Persist "a request may be on its way" before sending, so a crash mid-call leaves the
    payment flagged for reconciliation; cleared when the client proves nothing was sent.

    A compare-and-set on the charge still being this message's: a payment finished (or taken
    over) meanwhile keeps the flag its finisher wrote.
    """
    values: dict[str, Any] = _in_flight_changes() if in_flight else {"needs_reconciliation": False}
    async with deps.engine.begin() as conn:
        await charge_claims.set_fields_if_owned(conn, payment_id, message_id, values)


async def _resolve_duplicate(
    deps: ProcessingDeps, request: ChargeRequest, duplicate: TransactionResult
) -> TransactionResult | None:
    """The gateway says an identical request already ran: read what it did. None if unreadable."""
    if not duplicate.transaction_id:
        return None
    details = await deps.client.get_transaction_details(duplicate.transaction_id)
    if not isinstance(details, TransactionDetails):
        return None
    if details.invoice_number and details.invoice_number != request.invoice_number:
        log.error("duplicate transaction %s belongs to another invoice", details.transaction_id)
        return None
    return details_result(details)


async def _unreadable_method(deps: ProcessingDeps, claimed: PaymentRecord, *, code: str, message_id: str) -> Result:
    if not claimed.needs_reconciliation:
        return await finish_failed(deps, claimed.id, code, None)
    # A request may already have reached the processor: only a reconciliation can tell.
    await mark_charge_unknown(
        deps,
        claimed.id,
        None,
        message_id=message_id,
        attempts=claimed.reconcile_attempts,
        reason="sealed payment method no longer readable",
    )
    return Result.UNKNOWN
