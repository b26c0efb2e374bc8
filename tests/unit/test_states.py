"""The state machine, cell by cell, and replay of event histories."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from engine.states import FINAL_STATUSES, TRANSITIONS, IllegalTransition, PaymentStatus, Trigger, apply, replay

S, T = PaymentStatus, Trigger

ALLOWED = {
    (S.PENDING, T.CLAIM): S.PROCESSING,
    (S.PROCESSING, T.AUTHORIZE): S.AUTHORIZED,
    (S.PROCESSING, T.CAPTURE): S.CAPTURED,
    (S.PROCESSING, T.DECLINE): S.DECLINED,
    (S.PROCESSING, T.FAIL): S.FAILED,
    (S.AUTHORIZED, T.CAPTURE): S.CAPTURED,
    (S.AUTHORIZED, T.VOID): S.VOIDED,
    (S.AUTHORIZED, T.EXPIRE): S.EXPIRED,
    (S.CAPTURED, T.VOID): S.VOIDED,
    (S.CAPTURED, T.REFUND_PARTIAL): S.PARTIALLY_REFUNDED,
    (S.CAPTURED, T.REFUND_FULL): S.REFUNDED,
    (S.PARTIALLY_REFUNDED, T.REFUND_PARTIAL): S.PARTIALLY_REFUNDED,
    (S.PARTIALLY_REFUNDED, T.REFUND_FULL): S.REFUNDED,
}
CELLS = [(status, trigger) for status in S for trigger in T]


@pytest.mark.parametrize("status,trigger", CELLS, ids=[f"{s.value}-{t.value}" for s, t in CELLS])
def test_every_cell(status, trigger):
    if (status, trigger) in ALLOWED:
        assert apply(status, trigger) == ALLOWED[(status, trigger)]
    else:
        with pytest.raises(IllegalTransition) as raised:
            apply(status, trigger)
        assert str(raised.value) == f"cannot {trigger.value} a payment that is {status.value}"


def test_table_has_a_row_for_every_status():
    assert set(TRANSITIONS) == set(S)


def test_final_statuses_are_the_contracts():
    assert FINAL_STATUSES == {S.DECLINED, S.FAILED, S.VOIDED, S.EXPIRED, S.REFUNDED}


@given(st.lists(st.sampled_from(list(T)), max_size=12))
def test_replay_applies_triggers_in_order_or_refuses(triggers):
    status = S.PENDING
    legal = True
    for trigger in triggers:
        if (status, trigger) not in ALLOWED:
            legal = False
            break
        status = ALLOWED[(status, trigger)]
    if legal:
        assert replay(triggers) == status
    else:
        with pytest.raises(IllegalTransition):
            replay(triggers)


@given(st.lists(st.sampled_from(list(T)), max_size=12))
def test_a_final_status_never_moves(triggers):
    try:
        status = replay(triggers)
    except IllegalTransition:
        return
    if status in FINAL_STATUSES:
        for trigger in T:
            with pytest.raises(IllegalTransition):
                apply(status, trigger)


# ------------------------------------------------------------------------------------------------
# Refunds

from engine.states import (  # noqa: E402
    REFUND_EVENT_TYPES,
    REFUND_TRANSITIONS,
    IllegalRefundTransition,
    RefundStatus,
    RefundTrigger,
    apply_refund,
    replay_refund,
)

RS, RT = RefundStatus, RefundTrigger
REFUND_ALLOWED = {(RS.PENDING, RT.SUCCEED): RS.SUCCEEDED, (RS.PENDING, RT.FAIL): RS.FAILED}
REFUND_CELLS = [(status, trigger) for status in RS for trigger in RT]


@pytest.mark.parametrize("status,trigger", REFUND_CELLS, ids=[f"{s.value}-{t.value}" for s, t in REFUND_CELLS])
def test_every_refund_cell(status, trigger):
    if (status, trigger) in REFUND_ALLOWED:
        assert apply_refund(status, trigger) == REFUND_ALLOWED[(status, trigger)]
    else:
        with pytest.raises(IllegalRefundTransition):
            apply_refund(status, trigger)


def test_refund_table_has_a_row_for_every_status_and_final_ones_announce_themselves():
    assert set(REFUND_TRANSITIONS) == set(RS)
    assert REFUND_EVENT_TYPES == {RS.SUCCEEDED: "refund.succeeded", RS.FAILED: "refund.failed"}


@given(st.lists(st.sampled_from(list(RT)), max_size=5))
def test_refund_replay_applies_triggers_or_refuses(triggers):
    status, legal = RS.PENDING, True
    for trigger in triggers:
        if (status, trigger) not in REFUND_ALLOWED:
            legal = False
            break
        status = REFUND_ALLOWED[(status, trigger)]
    if legal:
        assert replay_refund(triggers) == status
    else:
        with pytest.raises(IllegalRefundTransition):
            replay_refund(triggers)


# A payment's life as amounts: captures, refunds and the status the triggers lead to.

@given(
    captured=st.integers(min_value=1, max_value=10_000),
    refunds=st.lists(st.integers(min_value=1, max_value=10_000), max_size=10),
)
def test_refund_triggers_follow_the_running_total(captured, refunds):
    """The trigger a refund applies (partial/full) keeps amount_refunded ≤ captured, and replaying
    the accepted ones rebuilds the status the amounts imply."""
    triggers = [T.CLAIM, T.CAPTURE]
    refunded = 0
    for amount in refunds:
        if refunded + amount > captured:
            continue  # refused at accept time (refund_exceeds_captured)
        refunded += amount
        triggers.append(T.REFUND_FULL if refunded == captured else T.REFUND_PARTIAL)
        if refunded == captured:
            break
    status = replay(triggers)
    assert refunded <= captured
    expected = S.CAPTURED if refunded == 0 else S.REFUNDED if refunded == captured else S.PARTIALLY_REFUNDED
    assert status == expected


def test_every_status_says_which_operations_it_allows() -> None:
    from engine.states import OPERATIONS, Operation, allows

    assert set(OPERATIONS) == set(PaymentStatus)
    needs = {Operation.CAPTURE: {Trigger.CAPTURE}, Operation.VOID: {Trigger.VOID}, Operation.REFUND: {Trigger.REFUND_PARTIAL, Trigger.REFUND_FULL}}
    for status, operations in OPERATIONS.items():
        for operation in Operation:
            # An operation is offered exactly where the table has the move it ends in (a charge's
            # own capture from processing is the worker's, not a request).
            offered = status not in (PaymentStatus.PENDING, PaymentStatus.PROCESSING) and needs[operation] <= set(TRANSITIONS[status])
            assert (operation in operations) == offered == allows(status.value, operation), (status, operation)
    assert all(not OPERATIONS[status] for status in FINAL_STATUSES)


def test_every_status_names_its_history_event() -> None:
    from engine.states import HISTORY_EVENT_TYPES

    assert {status: HISTORY_EVENT_TYPES[status] for status in PaymentStatus} == {status: f"payment.{status.value}" for status in PaymentStatus}
