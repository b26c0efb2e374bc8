"""The payment state machine.

Rule 1: every payment status change is decided here, by ``apply``. No other module computes a
new status; the repository calls ``apply`` inside the transaction that writes the status and its
event row, so an illegal move raises before anything is written.

Rule 2: the table is data. ``TRANSITIONS[status][trigger]`` is the only source of truth; tests
walk every cell of it, allowed and forbidden.
"""

from __future__ import annotations

from enum import StrEnum


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

#: Event type written to ``payment_events.type`` (the history) for each resulting status; what
#: merchants receive is ``engine.events.PUBLIC_EVENT_TYPES``.
HISTORY_EVENT_TYPES: dict[PaymentStatus, str] = {status: f"payment.{status.value}" for status in PaymentStatus}


class IllegalTransition(Exception):
    """``trigger`` is not allowed from ``status``; nothing was changed."""

    def __init__(self, status: PaymentStatus, trigger: Trigger) -> None:
        super().__init__(f"cannot {trigger.value} a payment that is {status.value}")
        self.status = status
        self.trigger = trigger


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


class IllegalRefundTransition(Exception):
    def __init__(self, status: RefundStatus, trigger: RefundTrigger) -> None:
        super().__init__(f"cannot {trigger.value} a refund that is {status.value}")
        self.status = status
        self.trigger = trigger


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
