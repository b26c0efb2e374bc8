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

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from enum import StrEnum
from typing import Any

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncEngine

from engine import engine_failures, method_loss
from engine import job_snapshots as snapshots
from engine.cache import PaymentCache
from engine.db import charge_claims
from engine.db import payments as repo
from engine.db.outcomes import move_and_tell
from engine.db.records import PaymentRecord
from engine.db.session import autocommit
from engine.errors import EasyPayError
from engine.method_secrets import open_method
from engine.metrics import PAYMENT_METHODS_LOST, PAYMENTS_OUTCOME_UNKNOWN, record_payment_status
from engine.processor import (
    Billing,
    Card,
    ChargeRequest,
    OpaqueData,
    Outcome,
    ProcessorClient,
    TransactionDetails,
    TransactionResult,
)
from engine.processor.codes import failure_for
from engine.resends import ProcessorUnavailable, send_with_resends
from engine.transaction_outcomes import brand_from_account_type, details_result
from engine.money import currency_exponent
from engine.sealing import SealError, SealExpired, SealKeyUnknown, Sealer
from engine.settings import LifecycleSettings
from engine.states import IllegalTransition, PaymentStatus, Trigger

log = logging.getLogger(__name__)

#: Failure codes that describe the card or cardholder: the payment is ``declined``, not ``failed``.
DECLINE_CODES = frozenset({
    "card_declined", "insufficient_funds", "incorrect_number", "invalid_expiry", "expired_card", "incorrect_cvc",
    "avs_mismatch", "avs_and_cvc_mismatch", "card_type_not_accepted", "fraud_declined",
})

class PaymentNotVisible(EasyPayError):
    """The message arrived before the API's transaction committed (or that commit failed).

    Retried with backoff; if the row never appears, the API's commit failed and the client was
    told so, so dropping the message is correct.
    """

#: How long a worker waits in-process for a payment row the API is still committing.
VISIBILITY_WAIT_S = 2.0


class Result(StrEnum):
    IGNORED = "ignored"  #: a duplicate message, or the payment is already past processing
    FINISHED = "finished"  #: a final status was recorded
    UNKNOWN = "unknown"  #: left in processing for reconciliation


@dataclass
class ProcessingDeps:
    engine: AsyncEngine
    client: ProcessorClient
    sealer: Sealer
    cache: PaymentCache
    #: Resends of a charge whose outcome is unknown, and the first wait between them.
    unknown_outcome_resends: int = 3
    resend_backoff_s: float = 0.5
    sleep: Any = field(default=asyncio.sleep)
    #: ``engine.method_stash.MethodStash`` (None: no copy of sealed methods is kept).
    stash: Any = None
    #: Something with the async ``process_payment``/``capture_payment``/``void_payment``/
    #: ``process_refund``/``reconcile_payment`` senders of ``jobs.sender.JobSender``.
    jobs: Any = None
    lifecycle: LifecycleSettings = field(default_factory=LifecycleSettings)
    #: The duplicateWindow sent with charges: resending the identical request is safe inside it.
    duplicate_window_s: int = 28_800
    #: ``CARD_MESSAGE_TTL_S``: how long a sealed method is kept; a copy gone sooner was lost
    #: (``engine.method_loss``).
    card_message_ttl_s: int = 1800


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
        await _mark_unknown(deps, payment_id, result, message_id=message_id)
        return Result.UNKNOWN
    return await record_outcome(deps, claimed, result, processor_ms=last_call_ms[0] if last_call_ms else None)


#: Built once: ``repo.move`` recognises a statement's shape by them without compiling them.
_NOW = func.now()
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
    changes: dict[str, Any] = {"processing_message_id": message_id, "processing_started_at": _NOW}
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
            changes["authorized_at"] = _NOW
    else:
        failure = failure_for(result)
        trigger = Trigger.DECLINE if failure.code in DECLINE_CODES else Trigger.FAIL
        changes.update(
            failure_code=failure.code,
            failure_message=failure.message,
            failure_processor_code=failure.processor_code,
        )
        data["failure_code"] = failure.code
    return await _finish(deps, claimed.id, trigger, changes, data, claimed=claimed)


async def _finish(
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
    result = await _finish(deps, payment_id, Trigger.FAIL, changes, {"failure_code": code, "detail": detail})
    if code == method_loss.LOST and result == Result.FINISHED:
        PAYMENT_METHODS_LOST.inc()
        log.error("payment %s: its sealed payment method was lost before its TTL (Redis lost data); failed, nothing charged", payment_id)
    return result


async def _unreadable_method(deps: ProcessingDeps, claimed: PaymentRecord, *, code: str, message_id: str) -> Result:
    if not claimed.needs_reconciliation:
        return await finish_failed(deps, claimed.id, code, None)
    # A request may already have reached the processor: only a reconciliation can tell.
    await _mark_unknown(
        deps, claimed.id, None, message_id=message_id, reason="sealed payment method no longer readable"
    )
    return Result.UNKNOWN


async def _mark_unknown(
    deps: ProcessingDeps,
    payment_id: uuid.UUID,
    last: TransactionResult | None,
    *,
    message_id: str,
    reason: str | None = None,
) -> None:
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
            changes={
                "needs_reconciliation": True,
                "reconcile_next_at": func.now() + timedelta(seconds=deps.lifecycle.reconcile_min_age_s),
            },
            event_type="payment.outcome_unknown",
            data=data,
        )
    if row is None:
        log.info("payment %s: finished or taken over meanwhile; not flagged", payment_id)
        return
    PAYMENTS_OUTCOME_UNKNOWN.inc()
    await snapshots.write_now(deps.cache, row)
    log.warning("payment %s: outcome unknown, left for reconciliation (%s)", payment_id, data["reason"])

