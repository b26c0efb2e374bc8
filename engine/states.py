"""The payment state machine.

Rule 1: every payment status change is decided here, by ``apply``. No other module computes a
new status; the repository calls ``apply`` inside the transaction that writes the status and its
event row, so an illegal move raises before anything is written.

Rule 2: the tables are data. ``TRANSITIONS[status][trigger]`` is the only source of truth for
moves, ``OPERATIONS[status]`` for what a merchant may request of a payment, ``HISTORY_EVENT_TYPES``
for the event each status writes; tests walk every cell, allowed and forbidden. The whole
lifecycle reads here: statuses, triggers, moves, requests, events, and the same for refunds.
"""

from __future__ import annotations

from enum import StrEnum

from engine.errors import EasyPayError


class PaymentStatus(StrEnum):
    PENDING = "pending"  #: recorded and queued
    PROCESSING = "processing"  #: a worker has claimed it and is talking to the processor
    AUTHORIZED = "authorized"
    CAPTURED = "captured"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    DECLINED = "declined"
    FAILED = "failed"
    VOIDED = "voided"
    EXPIRED = "expired"


class Trigger(StrEnum):
    """What happened to a payment; each trigger names the event row it writes."""

    CLAIM = "claim"
    AUTHORIZE = "authorize"
    CAPTURE = "capture"
    DECLINE = "decline"
    FAIL = "fail"
    VOID = "void"
    EXPIRE = "expire"
    REFUND_PARTIAL = "refund_partial"
    REFUND_FULL = "refund_full"


S, T = PaymentStatus, Trigger

#: status -> trigger -> new status. A missing cell is an illegal move.
TRANSITIONS: dict[PaymentStatus, dict[Trigger, PaymentStatus]] = {
    S.PENDING: {T.CLAIM: S.PROCESSING},
    S.PROCESSING: {
        T.AUTHORIZE: S.AUTHORIZED,
        T.CAPTURE: S.CAPTURED,
        T.DECLINE: S.DECLINED,
        T.FAIL: S.FAILED,
    },
    S.AUTHORIZED: {T.CAPTURE: S.CAPTURED, T.VOID: S.VOIDED, T.EXPIRE: S.EXPIRED},
    S.CAPTURED: {T.VOID: S.VOIDED, T.REFUND_PARTIAL: S.PARTIALLY_REFUNDED, T.REFUND_FULL: S.REFUNDED},
    S.PARTIALLY_REFUNDED: {T.REFUND_PARTIAL: S.PARTIALLY_REFUNDED, T.REFUND_FULL: S.REFUNDED},
    S.REFUNDED: {},
    S.DECLINED: {},
    S.FAILED: {},
    S.VOIDED: {},
    S.EXPIRED: {},
}

FINAL_STATUSES = frozenset(status for status, moves in TRANSITIONS.items() if not moves)


class Operation(StrEnum):
    """What a merchant can ask of a payment once it has its outcome (``engine.lifecycle``)."""

    CAPTURE = "capture"
    VOID = "void"
    REFUND = "refund"


O = Operation

#: status -> the operations a merchant may request. Finer rules are the request's own (a void of a
#: capture only before settlement and without refunds; a partial refund only after settlement).
OPERATIONS: dict[PaymentStatus, frozenset[Operation]] = {
    S.PENDING: frozenset(),
    S.PROCESSING: frozenset(),
    S.AUTHORIZED: frozenset({O.CAPTURE, O.VOID}),
    S.CAPTURED: frozenset({O.VOID, O.REFUND}),
    S.PARTIALLY_REFUNDED: frozenset({O.REFUND}),
    S.REFUNDED: frozenset(),
    S.DECLINED: frozenset(),
    S.FAILED: frozenset(),
    S.VOIDED: frozenset(),
    S.EXPIRED: frozenset(),
}


def allows(status: PaymentStatus | str, operation: Operation) -> bool:
    return operation in OPERATIONS[PaymentStatus(status)]

#: Event type written to ``payment_events.type`` (the history) for each resulting status; what
#: merchants receive is ``engine.events.PUBLIC_EVENT_TYPES``.
HISTORY_EVENT_TYPES: dict[PaymentStatus, str] = {status: f"payment.{status.value}" for status in PaymentStatus}


class IllegalTransition(EasyPayError):
    """``trigger`` is not allowed from ``status``; nothing was changed. The message names both: the
    callers only log it (a stale or repeated message), so the exception keeps no fields."""

    def __init__(self, status: PaymentStatus, trigger: Trigger) -> None:
        super().__init__(f"cannot {trigger.value} a payment that is {status.value}")


def apply(status: PaymentStatus | str, trigger: Trigger) -> PaymentStatus:
    """Return the status after ``trigger``; raise ``IllegalTransition`` if the move is not allowed."""
    current = PaymentStatus(status)
    try:
        return TRANSITIONS[current][trigger]
    except KeyError:
        raise IllegalTransition(current, trigger) from None


def replay(triggers: list[Trigger]) -> PaymentStatus:
    """Rebuild a payment's status from its triggers, starting at ``pending``."""
    status = PaymentStatus.PENDING
    for trigger in triggers:
        status = apply(status, trigger)
    return status


# ------------------------------------------------------------------------------------------------
# Refunds: the same rules, their own table.


class RefundStatus(StrEnum):
    PENDING = "pending"  #: accepted, amount reserved, queued for the processor
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class RefundTrigger(StrEnum):
    SUCCEED = "succeed"
    FAIL = "fail"


RS, RT = RefundStatus, RefundTrigger

#: status -> trigger -> new status. A missing cell is an illegal move.
REFUND_TRANSITIONS: dict[RefundStatus, dict[RefundTrigger, RefundStatus]] = {
    RS.PENDING: {RT.SUCCEED: RS.SUCCEEDED, RT.FAIL: RS.FAILED},
    RS.SUCCEEDED: {},
    RS.FAILED: {},
}

#: Merchant event written for each refund status a refund can reach.
REFUND_EVENT_TYPES: dict[RefundStatus, str] = {RS.SUCCEEDED: "refund.succeeded", RS.FAILED: "refund.failed"}


class IllegalRefundTransition(EasyPayError):
    """``IllegalTransition`` for a refund: ``trigger`` is not allowed from ``status``."""

    def __init__(self, status: RefundStatus, trigger: RefundTrigger) -> None:
        super().__init__(f"cannot {trigger.value} a refund that is {status.value}")


def apply_refund(status: RefundStatus | str, trigger: RefundTrigger) -> RefundStatus:
    current = RefundStatus(status)
    try:
        return REFUND_TRANSITIONS[current][trigger]
    except KeyError:
        raise IllegalRefundTransition(current, trigger) from None


def replay_refund(triggers: list[RefundTrigger]) -> RefundStatus:
    status = RefundStatus.PENDING
    for trigger in triggers:
        status = apply_refund(status, trigger)
    return status
