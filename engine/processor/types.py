"""Value types of the processor client's public interface.

Input types validate the Authorize.net schema limits up front (``ValueError`` naming the field,
never echoing a value), so no error about a request ever has to quote card data.
Card numbers, CVCs and opaque payment values are masked in ``repr``/``str``.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import datetime

from .amounts import MAX_EXPONENT

_DIGITS = re.compile(r"[0-9]+")
_CURRENCY = re.compile(r"[A-Z]{3}")

#: Authorize.net field lengths (XSD facets) that callers may want to pre-validate against.
#: cardNumber is capped at 16 characters by the schema: longer (valid, ISO 7812 allows 19) PANs
#: are representable as a Card but cannot be sent; ``charge`` answers them with a local ERROR.
MAX_CARD_NUMBER = 16
MAX_INVOICE_NUMBER = 20
MAX_REF_ID = 20
MAX_CUSTOMER_ID = 20
MAX_DESCRIPTION = 255
BILLING_LIMITS = {
    "first_name": 50,
    "last_name": 50,
    "line1": 60,
    "city": 40,
    "state": 40,
    "postal_code": 20,
    "country": 60,
}


class Outcome(enum.StrEnum):
    APPROVED = "approved"
    DECLINED = "declined"
    ERROR = "error"
    HELD = "held_for_review"
    DUPLICATE = "duplicate"
    #: The request may have reached Authorize.net and we do not know what happened. Never a decline.
    UNKNOWN = "unknown"
    #: The request certainly never reached Authorize.net (connect failures after all attempts).
    NOT_SENT = "not_sent"


def check_len(name: str, value: str | None, limit: int, *, required: bool = False) -> None:
    if value is None:
        if required:
            raise ValueError(f"{name} is required")
        return
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string")
    if required and not value:
        raise ValueError(f"{name} must not be empty")
    if len(value) > limit:
        raise ValueError(f"{name} must be at most {limit} characters")


def _mask_pan(number: str) -> str:
    return f"****{number[-4:]}" if len(number) >= 8 else "****"


@dataclass(frozen=True)
class Card:
    number: str
    exp_month: int
    exp_year: int
    cvc: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.number, str) or not _DIGITS.fullmatch(self.number) or not 12 <= len(self.number) <= 19:
            raise ValueError("card number must be 12 to 19 digits")
        if isinstance(self.exp_month, bool) or not isinstance(self.exp_month, int) or not 1 <= self.exp_month <= 12:
            raise ValueError("card exp_month must be an integer 1..12")
        if isinstance(self.exp_year, bool) or not isinstance(self.exp_year, int) or not 2000 <= self.exp_year <= 2099:
            raise ValueError("card exp_year must be a four-digit year")
        if self.cvc is not None and (
            not isinstance(self.cvc, str) or not _DIGITS.fullmatch(self.cvc) or not 3 <= len(self.cvc) <= 4
        ):
            raise ValueError("card cvc must be 3 or 4 digits")

    @property
    def last4(self) -> str:
        return self.number[-4:]

    @property
    def expiration(self) -> str:
        """``YYYY-MM``, the format of the official samples."""
        return f"{self.exp_year:04d}-{self.exp_month:02d}"

    def __repr__(self) -> str:
        cvc = "None" if self.cvc is None else "'***'"
        return (
            f"Card(number='{_mask_pan(self.number)}', exp_month={self.exp_month}, "
            f"exp_year={self.exp_year}, cvc={cvc})"
        )

    __str__ = __repr__


@dataclass(frozen=True)
class OpaqueData:
    """Accept.js / Accept Mobile nonce."""

    descriptor: str
    value: str

    def __post_init__(self) -> None:
        if not isinstance(self.descriptor, str) or not self.descriptor:
            raise ValueError("opaque data descriptor must be a non-empty string")
        if not isinstance(self.value, str) or not self.value:
            raise ValueError("opaque data value must be a non-empty string")

    def __repr__(self) -> str:
        return f"OpaqueData(descriptor={self.descriptor!r}, value='***')"

    __str__ = __repr__


@dataclass(frozen=True)
class Billing:
    first_name: str | None = None
    last_name: str | None = None
    line1: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str | None = None

    def __post_init__(self) -> None:
        for name, limit in BILLING_LIMITS.items():
            check_len(f"billing.{name}", getattr(self, name), limit)


def check_currency(currency: str, exponent: int) -> None:
    if not isinstance(currency, str) or not _CURRENCY.fullmatch(currency):
        raise ValueError("currency must be a three-letter upper-case ISO 4217 code")
    if isinstance(exponent, bool) or not isinstance(exponent, int) or not 0 <= exponent <= MAX_EXPONENT:
        raise ValueError(f"exponent must be an integer 0..{MAX_EXPONENT}")


def check_amount(amount_minor: int) -> None:
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int):
        raise TypeError("amount_minor must be an int (minor units)")
    if amount_minor < 0:
        raise ValueError("amount_minor must not be negative")


@dataclass(frozen=True)
class ChargeRequest:
    capture: bool  # True → authCaptureTransaction, False → authOnlyTransaction
    amount_minor: int
    currency: str
    exponent: int  # the currency's minor-unit digits
    invoice_number: str  # ≤ 20, unique per payment, identical on every resend
    payment: Card | OpaqueData
    billing: Billing | None = None
    customer_id: str | None = None  # ≤ 20
    description: str | None = None  # ≤ 255
    ref_id: str | None = None  # ≤ 20

    def __post_init__(self) -> None:
        if not isinstance(self.capture, bool):
            raise TypeError("capture must be a bool")
        check_amount(self.amount_minor)
        check_currency(self.currency, self.exponent)
        check_len("invoice_number", self.invoice_number, MAX_INVOICE_NUMBER, required=True)
        if not isinstance(self.payment, (Card, OpaqueData)):
            raise TypeError("payment must be a Card or OpaqueData")
        if self.billing is not None and not isinstance(self.billing, Billing):
            raise TypeError("billing must be a Billing")
        check_len("customer_id", self.customer_id, MAX_CUSTOMER_ID)
        check_len("description", self.description, MAX_DESCRIPTION)
        check_len("ref_id", self.ref_id, MAX_REF_ID)


@dataclass(frozen=True)
class TransactionResult:
    outcome: Outcome
    transaction_id: str | None = None  # None when absent or "0"
    auth_code: str | None = None
    avs_result: str | None = None
    cvv_result: str | None = None
    response_code: int | None = None  # transactionResponse.responseCode 1..4
    #: Transaction-level reason ("1", "2", "11", "311"...) or, without a transactionResponse,
    #: the API message code ("E00007").
    reason_code: str | None = None
    reason_text: str | None = None
    message_code: str | None = None  # top-level messages.message.code
    account_number: str | None = None  # masked by the gateway, e.g. "XXXX1111"
    account_type: str | None = None
    ref_transaction_id: str | None = None
    #: For UNKNOWN / NOT_SENT: what happened in transport terms (never card data).
    error: str | None = None

    @property
    def approved(self) -> bool:
        return self.outcome is Outcome.APPROVED


@dataclass(frozen=True)
class TransactionDetails:
    """``getTransactionDetails`` → ``transaction``."""

    transaction_id: str
    status: str  # transactionStatus, e.g. "capturedPendingSettlement"
    transaction_type: str
    response_code: int | None
    reason_code: str | None
    auth_code: str | None
    avs_result: str | None
    cvv_result: str | None
    invoice_number: str | None
    auth_amount_minor: int | None
    settle_amount_minor: int | None
    submitted_at: datetime | None  # submitTimeUTC, timezone-aware
    ref_transaction_id: str | None
    batch_id: str | None
    # Additions beyond the agreed interface (defaulted, so positional construction still works):
    account_number: str | None = None  # masked, e.g. "XXXX1111" — last 4 for refunds
    ref_id: str | None = None  # transrefId (believed to echo the original request's refId)


@dataclass(frozen=True)
class TransactionSummary:
    """One entry of ``getUnsettledTransactionList``."""

    transaction_id: str
    status: str
    invoice_number: str | None
    settle_amount_minor: int | None
    submitted_at: datetime | None
    account_number: str | None


@dataclass(frozen=True)
class BatchSummary:
    """One entry of ``getSettledBatchList``."""

    batch_id: str
    settled_at: datetime | None  # settlementTimeUTC, timezone-aware
    state: str  # settlementState, e.g. "settledSuccessfully"
