"""What the processor's report on a transaction (``getTransactionDetails``) says happened.

Used when an answer was lost: a duplicate's original transaction, or the reconciler's lookup by
transaction id or invoice number, is turned into the outcome the charge really had.
"""

from __future__ import annotations

from engine.processor import Outcome, TransactionDetails, TransactionResult

#: getTransactionDetails statuses that mean "the charge happened".
_AUTHORIZED_STATUSES = frozenset({"authorizedPendingCapture", "FDSAuthorizedPendingReview"})
_CAPTURED_STATUSES = frozenset(
    {"capturedPendingSettlement", "settledSuccessfully", "pendingFinalSettlement", "pendingSettlement"}
)


def details_result(details: TransactionDetails) -> TransactionResult:
    """What a charge's ``getTransactionDetails`` says happened (UNKNOWN if it does not say yet)."""
    error = None
    if details.status in _AUTHORIZED_STATUSES or details.status in _CAPTURED_STATUSES:
        outcome = Outcome.APPROVED
    elif details.status == "declined":
        outcome = Outcome.DECLINED
    elif details.status in ("voided", "expired", "generalError", "communicationError", "couldNotVoid"):
        # Nothing is (or stays) charged: e.g. the gateway voided it after failing to answer (152).
        outcome, error = Outcome.ERROR, f"transaction status {details.status}"
    else:
        outcome, error = Outcome.UNKNOWN, f"transaction status {details.status}"
    return TransactionResult(
        outcome=outcome,
        transaction_id=details.transaction_id,
        auth_code=details.auth_code,
        avs_result=details.avs_result,
        cvv_result=details.cvv_result,
        response_code=details.response_code,
        reason_code=details.reason_code,
        error=error,
    )


def brand_from_account_type(account_type: str | None) -> str | None:
    """Our card brand for the processor's ``accountType`` (opaque payments learn it from the answer)."""
    return {
        "Visa": "visa",
        "MasterCard": "mastercard",
        "AmericanExpress": "amex",
        "Discover": "discover",
        "JCB": "jcb",
        "DinersClub": "diners",
    }.get(account_type or "", None)
