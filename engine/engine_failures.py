"""The engine's own failure codes: payments that failed without a processor verdict (the
processor's codes are in ``engine.processor.codes``). Each has a fixed client-safe message.

=============================  ===============================================================
code                           when
=============================  ===============================================================
processor_unavailable          the processor could not be reached on the last attempt
outcome_unknown                the answer was lost and never confirmed (reconciliation gave up)
payment_method_expired         the sealed card's ``CARD_MESSAGE_TTL_S`` passed before a charge
payment_method_lost            the sealed card was lost from Redis before its TTL
payment_method_unreadable      the sealed card could not be opened (tampered, another payment)
=============================  ===============================================================

None of them reached the processor with a charge that succeeded: nothing was charged, except that
``outcome_unknown`` cannot say so (see the payment's events).
"""

from __future__ import annotations

from typing import Any

from engine import method_loss

MESSAGES = {
    "processor_unavailable": "The payment processor could not be reached; nothing was charged.",
    "outcome_unknown": "The processor's answer was lost and could not be confirmed; see the payment's events.",
    method_loss.EXPIRED: "The payment details expired before the payment could be processed.",
    method_loss.LOST: (
        "The stored payment details were lost before the payment could be processed; nothing was "
        "charged. The payment can be retried with a new request."
    ),
    "payment_method_unreadable": "The payment details could not be read; nothing was charged.",
}


def failure_changes(code: str) -> dict[str, Any]:
    """The payment columns of a ``failed`` payment with the engine's ``code`` (KeyError if unknown)."""
    return {"failure_code": code, "failure_message": MESSAGES[code], "failure_processor_code": None, "needs_reconciliation": False}


__all__ = ["MESSAGES", "failure_changes"]
