"""workers.observability.LogContext: ids bound at send time travel in the message and are bound
(with the message id) while it runs; messages sent from a job inherit them."""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import CurrentMessage

from engine.logcontext import bind_context, current_context
from workers.observability import LogContext


def test_ids_travel_with_messages_and_are_bound_while_they_run():
    # Given: a broker with the middleware and two actors, the first sending to the second
    broker = StubBroker(middleware=[LogContext(), CurrentMessage()])
    broker.emit_after("process_boot")
    seen: dict[str, dict[str, str]] = {}

    @dramatiq.actor(broker=broker, queue_name="first")
    def first() -> None:
        seen["first"] = current_context()
        second.send()

    @dramatiq.actor(broker=broker, queue_name="second")
    def second() -> None:
        seen["second"] = current_context()

    # When: the first is sent inside a request's context, then both run on a worker
    with bind_context(request_id="req_ctx_1", merchant_id="m-1", payment_id="p-1"):
        sent = first.send()
    assert sent.options["log_context"] == {"request_id": "req_ctx_1", "merchant_id": "m-1", "payment_id": "p-1"}
    worker = dramatiq.Worker(broker, worker_timeout=50)
    worker.start()
    try:
        broker.join("first", fail_fast=True)
        broker.join("second", fail_fast=True)
        worker.join()
    finally:
        worker.stop()

    # Then: each job saw the ids, and its own message id
    assert seen["first"] == {"request_id": "req_ctx_1", "merchant_id": "m-1", "payment_id": "p-1", "message_id": sent.message_id}
    assert {k: v for k, v in seen["second"].items() if k != "message_id"} == {
        "request_id": "req_ctx_1", "merchant_id": "m-1", "payment_id": "p-1"
    }
    assert seen["second"]["message_id"] not in ("", sent.message_id)
    # ... and nothing stayed bound in the sender
    assert current_context() == {}


def test_a_message_sent_outside_any_context_carries_none():
    broker = StubBroker(middleware=[LogContext()])

    @dramatiq.actor(broker=broker, queue_name="plain")
    def plain() -> None:
        pass

    assert "log_context" not in plain.send().options
