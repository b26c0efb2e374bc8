"""The emulator's transactions: their states and the only transitions between them, the gateway's
texts and reason descriptions, amounts, times, and the outcome of a request.

States per transId::

    authOnly            -> authorizedPendingCapture --capture--> capturedPendingSettlement
    authCapture/capOnly -> capturedPendingSettlement --settle--> settledSuccessfully
    refund (new id)     -> refundPendingSettlement   --settle--> refundSettledSuccessfully
    void: authorizedPendingCapture | capturedPendingSettlement | refundPendingSettlement -> voided
    authorizedPendingCapture older than 30 days -> expired
    declines are stored as ``declined``; errors (responseCode 3) are not stored.

Card data: only the last four digits and the brand are kept.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TypeGuard

from sandbox.render import TxnResponse

AUTH_PENDING = "authorizedPendingCapture"
CAPTURED = "capturedPendingSettlement"
SETTLED = "settledSuccessfully"
VOIDED = "voided"
REFUND_PENDING = "refundPendingSettlement"
REFUND_SETTLED = "refundSettledSuccessfully"
DECLINED = "declined"
EXPIRED = "expired"

#: status -> event -> new status. Nothing else may assign ``Txn.status``.
TRANSITIONS: dict[str, dict[str, str]] = {
    AUTH_PENDING: {"capture": CAPTURED, "void": VOIDED, "expire": EXPIRED},
    CAPTURED: {"settle": SETTLED, "void": VOIDED},
    REFUND_PENDING: {"settle": REFUND_SETTLED, "void": VOIDED},
    SETTLED: {},
    REFUND_SETTLED: {},
    VOIDED: {},
    DECLINED: {},
    EXPIRED: {},
}

AUTH_EXPIRY_S = 30 * 86400  #: an uncaptured authorization expires after 30 days
REFUND_AGE_LIMIT_S = 120 * 86400  #: refunds allowed up to 120 days after settlement
DEFAULT_DUPLICATE_WINDOW_S = 120
MAX_DUPLICATE_WINDOW_S = 28800
CENT = Decimal("0.01")
AUTH_TYPES = ("authOnlyTransaction", "authCaptureTransaction", "captureOnlyTransaction")

TEXT = {
    1: "This transaction has been approved.",
    2: "This transaction has been declined.",
    5: "A valid amount is required.",
    6: "The credit card number is invalid.",
    7: "Credit card expiration date is invalid.",
    8: "The credit card has expired.",
    11: "A duplicate transaction has been submitted.",
    12: "An authorization code is required but not present.",
    15: "The transaction ID is invalid or not present.",
    16: "The transaction cannot be found.",
    17: "The merchant does not accept this type of credit card.",
    27: "The transaction has been declined because of an AVS mismatch. The address provided does not match "
        "billing address of cardholder.",
    45: "This transaction has been declined.",
    47: "The amount requested for settlement cannot be greater than the original amount authorized.",
    54: "The referenced transaction does not meet the criteria for issuing a credit.",
    55: "The sum of credits against the referenced transaction would exceed original debit amount.",
    65: "This transaction has been declined.",
    72: "The authorization code is invalid.",
    310: "This transaction has already been voided.",
    311: "This transaction has already been captured.",
}

#: Short descriptions used in getTransactionDetails (responseReasonDescription).
DESCRIPTION = {1: "Approval", 2: "General decline by card issuer", 27: "AVS mismatch",
               45: "AVS and card code mismatch", 65: "Card code mismatch"}


class IllegalTransition(Exception):
    """A status change not in :data:`TRANSITIONS`; the transaction is left untouched."""


class Clock:
    """Wall clock plus an offset that the control API can advance."""

    def __init__(self) -> None:
        self.offset_s = 0.0

    def now(self) -> float:
        return time.time() + self.offset_s

    def advance(self, seconds: float) -> float:
        self.offset_s += seconds
        return self.now()

    def reset(self) -> None:
        self.offset_s = 0.0


def iso(ts: float, *, local: bool = False) -> str:
    """UTC ISO-8601 with milliseconds; ``local`` drops the Z (the emulated merchant runs on UTC)."""
    s = dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
    return s if local else s + "Z"


def money(d: Decimal) -> str:
    return str(d.quantize(CENT))


@dataclass(slots=True)
class Txn:
    """A stored transaction (approved or declined). Holds no full card number."""

    trans_id: str
    type: str
    amount: Decimal
    status: str
    submit_ts: float
    response_code: int
    reason_code: int
    auth_code: str = ""
    avs: str = ""
    cvv: str = ""
    cavv: str = ""
    account_type: str = ""
    card_last4: str = ""
    invoice_number: str | None = None
    description: str | None = None
    po_number: str | None = None
    ref_id: str | None = None
    client_id: str | None = None
    ref_trans_id: str | None = None
    customer_type: str | None = None
    customer_id: str | None = None
    customer_email: str | None = None
    customer_ip: str | None = None
    bill_to: dict = field(default_factory=dict)
    ship_to: dict = field(default_factory=dict)
    settle_amount: Decimal = Decimal("0")
    refunded: Decimal = Decimal("0")
    batch_id: str | None = None
    network_trans_id: str = ""

    @property
    def account_number(self) -> str:
        return "XXXX" + self.card_last4 if self.card_last4 else ""

    def row(self) -> dict:
        """The ledger view (control API)."""
        return {
            "trans_id": self.trans_id,
            "type": self.type,
            "amount": money(self.amount),
            "status": self.status,
            "invoice_number": self.invoice_number,
            "ref_id": self.ref_id,
            "ref_trans_id": self.ref_trans_id,
            "card_last4": self.card_last4,
            "account_type": self.account_type,
            "submit_time": iso(self.submit_ts),
            "response_code": self.response_code,
            "reason_code": self.reason_code,
            "customer_id": self.customer_id,
            "auth_code": self.auth_code,
            "settle_amount": money(self.settle_amount),
            "refunded_amount": money(self.refunded),
            "batch_id": self.batch_id,
        }


@dataclass(slots=True)
class Batch:
    batch_id: str
    settle_ts: float
    trans_ids: list[str]


@dataclass(slots=True)
class Outcome:
    """What createTransaction answers: top-level messages plus transactionResponse."""

    result_code: str  # "Ok" | "Error"
    code: str  # I00001 | E00027
    text: str
    txn: TxnResponse
    stored: Txn | None = None


def ok_outcome(tr: TxnResponse, text: str = "Successful.", stored: Txn | None = None) -> Outcome:
    return Outcome("Ok", "I00001", text, tr, stored)


def error_outcome(reason: int, *, text: str | None = None, ref: str = "", account_number: str = "",
           account_type: str = "", trans_id: str = "0", auth_code: str = "", avs: str = "P",
           cvv: str = "") -> Outcome:
    tr = TxnResponse(response_code="3", auth_code=auth_code, avs=avs, cvv=cvv, trans_id=trans_id,
                     ref_trans_id=ref, account_number=account_number, account_type=account_type,
                     errors=[(str(reason), text or TEXT[reason])])
    return Outcome("Error", "E00027", "The transaction was unsuccessful.", tr)


def valid_amount(a: Decimal | None) -> TypeGuard[Decimal]:
    return a is not None and a > 0 and a == a.quantize(CENT) and a < Decimal("1000000000")
