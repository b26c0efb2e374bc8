"""Payments and refunds through the sync client, against the real API, workers and emulator."""

from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal

import pytest

from easypay_client import Billing, CardDetails, Client, ConflictError, NotFoundError, Payment, ValidationError, WaitTimeout
from tests.client.conftest import VISA


def test_a_card_sale_is_created_and_waited_for_until_captured(system, client: Client):
    # Given/When: a sale with an approving test card
    payment = client.payments.create(amount="12.50", currency="USD", card=VISA, description="order 1", metadata={"order": "1"})
    # Then: accepted, then captured by the worker
    assert isinstance(payment, Payment) and payment.status == "pending" and payment.amount == "12.50"
    final = client.wait_for(payment.id, timeout_s=30)
    assert final.status == "captured" and final.amount_captured == "12.50"
    assert final.card is not None and final.card.last4 == "1111" and final.processor.transaction_id
    assert final.metadata == {"order": "1"} and final.description == "order 1"
    assert client.payments.retrieve(payment.id).status == "captured"


def test_a_decline_is_an_outcome_with_its_failure(system, client: Client):
    # Typed inputs work as well as dicts
    card = CardDetails(number="4111111111111111", exp_month=12, exp_year=2031, cvc="123")
    payment = client.payments.create(amount=Decimal("3.00"), currency="USD", card=card, billing=Billing(postal_code="46282"))
    final = client.payments.wait_for(payment.id, timeout_s=30)
    assert final.status == "declined" and final.failure is not None and final.failure.code


def test_authorize_then_capture_part_then_refund(system, client: Client):
    payment = client.payments.create(amount="20.00", currency="USD", card=VISA, capture=False)
    assert client.wait_for(payment.id).status == "authorized"
    queued = client.payments.capture(payment.id, amount="15.00")
    assert queued.pending_operation == "capture"
    captured = client.wait_for(payment.id)
    assert captured.status == "captured" and captured.amount_captured == "15.00"
    # A full refund before settlement voids the capture
    refund = client.refunds.create(payment.id, reason="customer asked")
    assert refund.status == "pending" and refund.amount == "15.00" and refund.payment_id == payment.id
    after = client.wait_for(payment.id, status="captured")
    assert after.status == "voided"
    assert client.refunds.retrieve(refund.id).status == "succeeded"
    listed = client.refunds.list(payment.id)
    assert [r.id for r in listed.data] == [refund.id] and not listed.has_more
    assert [r.id for r in client.refunds.list_all(payment.id)] == [refund.id]


def test_void_of_an_authorization(system, client: Client):
    payment = client.payments.create(amount="9.99", currency="USD", card=VISA, capture=False)
    client.wait_for(payment.id)
    assert client.payments.void(payment.id).pending_operation == "void"
    assert client.wait_for(payment.id).status == "voided"
    # Then: a second void is a refusal with its code, never retried
    with pytest.raises(ConflictError) as refused:
        client.payments.void(payment.id)
    assert refused.value.status == 409 and refused.value.code == "payment_not_voidable" and refused.value.request_id


def test_listing_pages_through_more_than_one_page(system, client: Client):
    ids = [client.payments.create(amount=f"{i}.00", currency="USD", card=VISA, customer_id="pager").id for i in range(1, 8)]
    first = client.payments.list(limit=3, customer_id="pager")
    assert len(first.data) == 3 and first.has_more
    assert [p.id for p in first.data] == ids[::-1][:3]  # newest first
    second = client.payments.list(limit=3, customer_id="pager", starting_after=first.data[-1].id)
    assert [p.id for p in second.data] == ids[::-1][3:6]
    # The iterator fetches pages of 2 until the last: every payment once, newest first
    assert [p.id for p in client.payments.list_all(limit=2, customer_id="pager")] == ids[::-1]
    since = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    assert {p.id for p in client.payments.list_all(limit=100, created_gte=since, customer_id="pager")} == set(ids)


def test_errors_are_typed_from_problem_documents(system, client: Client):
    with pytest.raises(ValidationError) as invalid:
        client.payments.create(amount="12.505", currency="USD", card={**VISA, "number": "4111111111111112"})
    error = invalid.value
    assert error.status == 422 and error.code == "validation_error" and error.request_id
    assert {"amount", "payment_method.card.number"} <= set(error.fields)
    with pytest.raises(NotFoundError) as missing:
        client.payments.retrieve("00000000-0000-0000-0000-000000000000")
    assert missing.value.code == "payment_not_found"
    with pytest.raises(TypeError):
        client.payments.create(amount=12.5, currency="USD", card=VISA)  # type: ignore[arg-type]


def test_wait_for_times_out_with_the_last_state(system, client: Client, sandbox):
    sandbox.add_fault("latency", delay_ms=3000, count=1)
    payment = client.payments.create(amount="4.00", currency="USD", card=VISA)
    with pytest.raises(WaitTimeout) as timed_out:
        client.wait_for(payment.id, timeout_s=1)
    assert timed_out.value.payment.id == payment.id and timed_out.value.payment.in_flight
    assert client.wait_for(payment.id, timeout_s=30).status == "captured"


def test_retrieve_with_wait_is_held_until_the_outcome(system, client: Client, sandbox):
    sandbox.add_fault("latency", delay_ms=1000, count=1)
    payment = client.payments.create(amount="4.50", currency="USD", card=VISA)
    held = client.payments.retrieve(payment.id, wait=20)
    assert held.status == "captured" and not held.in_flight
    # Nothing in flight: answered at once, as it is
    started = time.monotonic()
    assert client.payments.retrieve(payment.id, wait=20).status == "captured"
    assert time.monotonic() - started < 10
