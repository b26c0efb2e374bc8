"""The one resend loop (``engine.resends``): what it resends, when it gives up, what it returns."""

from __future__ import annotations

import pytest

from engine.processor import Outcome, TransactionResult
from engine.resends import ProcessorUnavailable, send_with_resends, unanswered


def _answers(*outcomes: Outcome) -> tuple[list[Outcome], object]:
    """A ``call`` that answers the outcomes in order, and the list of those it answered."""
    answered: list[Outcome] = []
    pending = list(outcomes)

    async def call() -> TransactionResult:
        outcome = pending.pop(0)
        answered.append(outcome)
        return TransactionResult(outcome=outcome, transaction_id="60" if outcome == Outcome.DUPLICATE else None, error=outcome.value)

    return answered, call


async def _run(call: object, *, resends: int = 3, **options: object) -> tuple[TransactionResult | None, list[float]]:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    result = await send_with_resends(call, resends=resends, backoff_s=0.5, sleep=sleep, **options)  # type: ignore[arg-type]
    return result, waits


async def test_a_first_answer_is_returned_without_a_resend() -> None:
    answered, call = _answers(Outcome.APPROVED)
    result, waits = await _run(call)
    assert result is not None and result.outcome == Outcome.APPROVED
    assert answered == [Outcome.APPROVED] and waits == []


async def test_unknown_answers_are_resent_with_doubling_waits_and_the_last_unknown_is_returned() -> None:
    answered, call = _answers(Outcome.UNKNOWN, Outcome.UNKNOWN, Outcome.UNKNOWN)
    result, waits = await _run(call, resends=2)
    assert answered == [Outcome.UNKNOWN] * 3
    assert waits == [0.5, 1.0]
    assert result is not None and result.outcome == Outcome.UNKNOWN and unanswered(result)


async def test_not_sent_before_anything_could_land_raises_and_sends_nothing_more() -> None:
    answered, call = _answers(Outcome.NOT_SENT, Outcome.APPROVED)
    with pytest.raises(ProcessorUnavailable) as raised:
        await _run(call)
    assert answered == [Outcome.NOT_SENT]
    assert raised.value.error == "not_sent"


async def test_not_sent_after_a_send_may_have_landed_is_resent() -> None:
    answered, call = _answers(Outcome.NOT_SENT, Outcome.NOT_SENT, Outcome.APPROVED)
    result, _ = await _run(call, maybe_sent=True)
    assert answered == [Outcome.NOT_SENT, Outcome.NOT_SENT, Outcome.APPROVED]
    assert result is not None and result.outcome == Outcome.APPROVED


async def test_only_not_sent_after_a_possible_send_returns_none() -> None:
    _, call = _answers(Outcome.UNKNOWN, Outcome.NOT_SENT)
    result, _ = await _run(call, resends=1)
    assert result is not None and result.outcome == Outcome.UNKNOWN  # the last real answer
    _, call = _answers(Outcome.NOT_SENT, Outcome.NOT_SENT)
    result, _ = await _run(call, resends=1, maybe_sent=True)
    assert result is None and unanswered(result)


async def test_before_resend_runs_before_each_resend_only() -> None:
    calls: list[str] = []

    async def before() -> None:
        calls.append("before")

    _, call = _answers(Outcome.UNKNOWN, Outcome.UNKNOWN, Outcome.DECLINED)
    result, _ = await _run(call, before_resend=before)
    assert calls == ["before", "before"]
    assert result is not None and result.outcome == Outcome.DECLINED and not unanswered(result)


async def test_a_duplicate_is_resolved_or_resent() -> None:
    resolutions: list[TransactionResult | None] = [None, TransactionResult(outcome=Outcome.APPROVED, transaction_id="60")]

    async def resolve(duplicate: TransactionResult) -> TransactionResult | None:
        assert duplicate.outcome == Outcome.DUPLICATE
        return resolutions.pop(0)

    answered, call = _answers(Outcome.DUPLICATE, Outcome.DUPLICATE)
    result, _ = await _run(call, resolve_duplicate=resolve)
    assert answered == [Outcome.DUPLICATE, Outcome.DUPLICATE]
    assert result is not None and result.outcome == Outcome.APPROVED and result.transaction_id == "60"


async def test_without_a_resolver_a_duplicate_is_an_answer() -> None:
    _, call = _answers(Outcome.DUPLICATE)
    result, _ = await _run(call)
    assert result is not None and result.outcome == Outcome.DUPLICATE
