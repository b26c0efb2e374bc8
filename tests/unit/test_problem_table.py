"""``api.problems.ENGINE_PROBLEMS``: the one map from engine exceptions to problem documents."""

from __future__ import annotations

import uuid

import pytest

from api.problems import ENGINE_PROBLEMS, Problem, as_problem, engine_problem
from engine.accept_batch import QueueUnavailable
from engine.db.accounts import CreatorDisabled
from engine.db.payments import PaymentNotFound
from engine.errors import EasyPayError
from engine.idempotency import IdempotencyKeyInUse, IdempotencyKeyReused
from engine.lifecycle import OperationRefused, ReconciliationRequired
from engine.money import AmountError
from engine.passwords import HashingBusy
from engine.sealing import SealInvalid
from engine.webhooks.addresses import UnsafeUrl


def _shape(problem: Problem | None) -> tuple[int, str, str, list[tuple[str, str]], dict[str, str]] | None:
    if problem is None:
        return None
    return problem.status, problem.code, problem.detail, [(e.field, e.message) for e in problem.errors], problem.headers


@pytest.mark.parametrize(
    "exc,expected",
    [
        (IdempotencyKeyReused(), (422, "idempotency_key_reused", "This Idempotency-Key was already used with a different request.", [], {})),
        (IdempotencyKeyInUse(), (409, "idempotency_key_in_use", "A request with this Idempotency-Key is still being processed; retry shortly.", [], {})),
        (CreatorDisabled(), (401, "unauthorized", "Missing or invalid credentials.", [], {"WWW-Authenticate": 'Bearer realm="easypay"'})),
        (PaymentNotFound(str(uuid.uuid4())), (404, "payment_not_found", "No such payment.", [], {})),
        (OperationRefused("payment_not_capturable", "Only an authorized payment can be captured."),
         (409, "payment_not_capturable", "Only an authorized payment can be captured.", [], {})),
        (ReconciliationRequired(),
         (409, "payment_reconciling", "The outcome of an earlier processor call is being confirmed; retry shortly.", [], {})),
        (AmountError("amount must be positive"),
         (422, "validation_error", "The request has invalid fields: amount.", [("amount", "amount must be positive")], {})),
        (UnsafeUrl("Must use https."), (422, "validation_error", "The request has invalid fields: url.", [("url", "Must use https.")], {})),
        (QueueUnavailable(), (503, "queue_unavailable", "Payments cannot be queued right now; retry shortly.", [], {})),
        (HashingBusy(), (503, "busy", "Too many sign-ins are being checked right now; retry shortly.", [], {"Retry-After": "1"})),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else "",
)
def test_each_listed_exception_answers_its_problem(exc, expected):
    assert _shape(engine_problem(exc)) == expected
    assert _shape(as_problem(exc)) == expected


def test_the_table_lists_only_engine_exceptions():
    assert all(issubclass(cls, EasyPayError) for cls in ENGINE_PROBLEMS)


def test_an_unlisted_engine_exception_has_no_problem_and_is_raised_again():
    exc = SealInvalid("tampered")
    assert engine_problem(exc) is None
    with pytest.raises(SealInvalid):
        as_problem(exc)
