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
        assert raised.value.status == status and raised.value.trigger == trigger
        assert raised.value.status_hint == 409


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
