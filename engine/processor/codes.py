"""Authorize.net reason / API codes → EasyPay's stable failure codes.

One table, :data:`PROCESSOR_CODES`, keyed by the processor's code (transaction reason codes
such as ``"27"`` from ``transactionResponse.errors``, or API message codes such as ``"E00007"``
when there is no ``transactionResponse``). :func:`failure_for` turns a non-approved
:class:`~engine.processor.types.TransactionResult` into a :class:`Failure` that keeps the
processor's code alongside ours.

=============================  =========================================
stable code                    Authorize.net codes
=============================  =========================================
card_declined                  2, 3, 4 (and any unmapped decline)
incorrect_number               6, 37, 315
invalid_expiry                 7, 316
expired_card                   8, 317
incorrect_cvc                  44, 65, 78
avs_mismatch                   27, 127
avs_and_cvc_mismatch           45
duplicate_transaction          11, 318
authentication_failed          13, E00005, E00006, E00007, E00008
processing_error               19, 20, 21, 22, 23, 25, 26, 36, 57, 58,
                               59, 60, 61, 62, 63, 120, 121, 122, E00001
amount_invalid                 5, 49, 289
card_type_not_accepted         17, 28
transaction_not_found          15, 16, 319, E00040
capture_exceeds_authorized     47
partial_capture_not_supported  48
refund_not_settled             50, 54
refund_exceeds_captured        51, 55
held_for_review                193, 252, 253
fraud_declined                 250, 251, 254
configuration_error            12, 33, 66, 290, E00002, E00003, E00004,
                               E00009, E00010, E00011
=============================  =========================================

The ``processing_error`` codes in the table are the processor's transient errors.

Codes that are not in the table:

* a DECLINED result with an unmapped reason → ``card_declined``;
* any other unmapped code → ``processing_error``;
* ``insufficient_funds`` exists as a stable code but **no Authorize.net code maps to it**: the
  gateway reports issuer declines, including insufficient funds, as the generic reason 2
  ("This transaction has been declined."), so they surface as ``card_declined``.

By outcome, before the table is consulted: HELD → ``held_for_review`` and DUPLICATE →
``duplicate_transaction`` whatever the reason code; NOT_SENT (never reached the processor) →
``processing_error``; UNKNOWN → ``outcome_unknown``, which must not be retried as a new payment
(resend the identical request inside the duplicate window or reconcile first).
APPROVED is not a failure and raises ``ValueError``.

Deliberately absent: 310/311 ("already voided/captured") arrive with responseCode 1 and are
approvals. E00027 only wraps a transaction-level error and is never the reason code when a
``transactionResponse`` is present.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

from .types import Outcome, TransactionResult

CARD_DECLINED = "card_declined"
INSUFFICIENT_FUNDS = "insufficient_funds"
INCORRECT_NUMBER = "incorrect_number"
INVALID_EXPIRY = "invalid_expiry"
EXPIRED_CARD = "expired_card"
INCORRECT_CVC = "incorrect_cvc"
AVS_MISMATCH = "avs_mismatch"
AVS_AND_CVC_MISMATCH = "avs_and_cvc_mismatch"
DUPLICATE_TRANSACTION = "duplicate_transaction"
AUTHENTICATION_FAILED = "authentication_failed"
PROCESSING_ERROR = "processing_error"
AMOUNT_INVALID = "amount_invalid"
CARD_TYPE_NOT_ACCEPTED = "card_type_not_accepted"
TRANSACTION_NOT_FOUND = "transaction_not_found"
CAPTURE_EXCEEDS_AUTHORIZED = "capture_exceeds_authorized"
PARTIAL_CAPTURE_NOT_SUPPORTED = "partial_capture_not_supported"
REFUND_NOT_SETTLED = "refund_not_settled"
REFUND_EXCEEDS_CAPTURED = "refund_exceeds_captured"
HELD_FOR_REVIEW = "held_for_review"
FRAUD_DECLINED = "fraud_declined"
CONFIGURATION_ERROR = "configuration_error"
OUTCOME_UNKNOWN = "outcome_unknown"

#: Stable code → customer-safe message.
MESSAGES: Mapping[str, str] = MappingProxyType(
    {
        CARD_DECLINED: "The card was declined.",
        INSUFFICIENT_FUNDS: "The card has insufficient funds.",
        INCORRECT_NUMBER: "The card number is incorrect.",
        INVALID_EXPIRY: "The card's expiration date is invalid.",
        EXPIRED_CARD: "The card has expired.",
        INCORRECT_CVC: "The card's security code is incorrect.",
        AVS_MISMATCH: "The billing address does not match the card.",
        AVS_AND_CVC_MISMATCH: "The billing address and security code do not match the card.",
        DUPLICATE_TRANSACTION: "A duplicate transaction was submitted.",
        AUTHENTICATION_FAILED: "The payment processor rejected our credentials.",
        PROCESSING_ERROR: "The payment processor could not process the transaction.",
        AMOUNT_INVALID: "The amount is invalid.",
        CARD_TYPE_NOT_ACCEPTED: "This card type is not accepted.",
        TRANSACTION_NOT_FOUND: "The referenced transaction was not found.",
        CAPTURE_EXCEEDS_AUTHORIZED: "The capture amount exceeds the authorized amount.",
        PARTIAL_CAPTURE_NOT_SUPPORTED: "The processor does not accept capturing less than was authorized.",
        REFUND_NOT_SETTLED: "The transaction has not settled yet and cannot be refunded.",
        REFUND_EXCEEDS_CAPTURED: "The refund exceeds the captured amount.",
        HELD_FOR_REVIEW: "The transaction is held for review.",
        FRAUD_DECLINED: "The transaction was declined by fraud screening.",
        CONFIGURATION_ERROR: "The payment processor rejected the request as misconfigured.",
        OUTCOME_UNKNOWN: "The outcome of the transaction is not known yet.",
    }
)


def _codes(stable: str, *processor_codes: str | int) -> dict[str, str]:
    return {str(code): stable for code in processor_codes}


#: THE table: Authorize.net code → stable code. Keep in step with the module docstring (a test
#: checks both directions).
PROCESSOR_CODES: Mapping[str, str] = MappingProxyType(
    {
        **_codes(CARD_DECLINED, 2, 3, 4),
        **_codes(INCORRECT_NUMBER, 6, 37, 315),
        **_codes(INVALID_EXPIRY, 7, 316),
        **_codes(EXPIRED_CARD, 8, 317),
        **_codes(INCORRECT_CVC, 44, 65, 78),
        **_codes(AVS_MISMATCH, 27, 127),
        **_codes(AVS_AND_CVC_MISMATCH, 45),
        **_codes(DUPLICATE_TRANSACTION, 11, 318),
        **_codes(AUTHENTICATION_FAILED, 13, "E00005", "E00006", "E00007", "E00008"),
        **_codes(PROCESSING_ERROR, 19, 20, 21, 22, 23, 25, 26, 36, *range(57, 64), 120, 121, 122, "E00001"),
        **_codes(AMOUNT_INVALID, 5, 49, 289),
        **_codes(CARD_TYPE_NOT_ACCEPTED, 17, 28),
        **_codes(TRANSACTION_NOT_FOUND, 15, 16, 319, "E00040"),
        **_codes(CAPTURE_EXCEEDS_AUTHORIZED, 47),
        **_codes(PARTIAL_CAPTURE_NOT_SUPPORTED, 48),
        **_codes(REFUND_NOT_SETTLED, 50, 54),
        **_codes(REFUND_EXCEEDS_CAPTURED, 51, 55),
        **_codes(HELD_FOR_REVIEW, 193, 252, 253),
        **_codes(FRAUD_DECLINED, 250, 251, 254),
        **_codes(CONFIGURATION_ERROR, 12, 33, 66, 290, "E00002", "E00003", "E00004", "E00009", "E00010", "E00011"),
    }
)


@dataclass(frozen=True)
class Failure:
    code: str  # stable EasyPay code
    message: str  # customer-safe text for ``code``
    processor_code: str | None  # Authorize.net reason / API code it came from


def _failure(code: str, processor_code: str | None) -> Failure:
    return Failure(code, MESSAGES[code], processor_code)


def failure_for(result: TransactionResult) -> Failure:
    """The stable failure for a non-approved result (``ValueError`` for APPROVED)."""
    outcome = result.outcome
    code = result.reason_code
    if outcome is Outcome.APPROVED:
        raise ValueError("an approved result is not a failure")
    if outcome is Outcome.UNKNOWN:
        return _failure(OUTCOME_UNKNOWN, code)
    if outcome is Outcome.NOT_SENT:
        return _failure(PROCESSING_ERROR, code)
    if outcome is Outcome.HELD:
        return _failure(HELD_FOR_REVIEW, code)
    if outcome is Outcome.DUPLICATE:
        return _failure(DUPLICATE_TRANSACTION, code)
    stable = PROCESSOR_CODES.get(code) if code is not None else None
    if stable is not None:
        return _failure(stable, code)
    if outcome is Outcome.DECLINED:
        return _failure(CARD_DECLINED, code)
    return _failure(PROCESSING_ERROR, code)
