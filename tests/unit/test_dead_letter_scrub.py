"""Which arguments ``workers.dead_letters`` removes from a failed message."""

from __future__ import annotations

import dramatiq

from jobs.names import PROCESS_PAYMENT, REMOVED_ARGUMENT
from workers.dead_letters import scrubbed


def _message(actor: str, *args: str) -> dramatiq.Message:
    return dramatiq.Message(
        queue_name="payments", actor_name=actor, args=args, kwargs={}, options={"redis_message_id": "r1", "retries": 3}
    )


def test_the_sealed_method_of_a_charge_is_replaced_and_the_ids_kept():
    message = _message(PROCESS_PAYMENT, "pay-1", "v1.sealed")
    clean = scrubbed(message)
    assert clean is not None and clean.args == ("pay-1", REMOVED_ARGUMENT)
    assert (clean.message_id, clean.actor_name, clean.options) == (message.message_id, PROCESS_PAYMENT, message.options)
    assert b"v1.sealed" not in clean.encode()


def test_messages_without_sealed_arguments_are_left_alone():
    assert scrubbed(_message("capture_payment", "pay-1")) is None
    assert scrubbed(_message(PROCESS_PAYMENT, "pay-1", REMOVED_ARGUMENT)) is None
    assert scrubbed(_message(PROCESS_PAYMENT, "pay-1")) is None
