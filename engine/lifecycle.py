"""Accepting capture, void and refund requests: the API's use cases. They validate against the
payment as it is under its row lock, record the request and leave the processor call to a worker.

Every refusal is an ``OperationRefused`` (409) with a code that says why, raised before anything
is written, so a refused request changes nothing.

Refund before settlement (Authorize.net refunds only settled transactions; docs/authorizenet.md,
"Capture, void and refund rules"):

* a **full** refund of a capture that has not settled is carried out as a **void** of the capture
  (the refund object still reads ``succeeded``; the payment becomes ``voided`` with
  ``amount_refunded`` = ``amount_captured``);
* a **partial** refund before settlement is **refused** with ``409 payment_not_settled``: retry
  once the settlement sync has seen the capture settle (or refund the full amount now).

Concurrency: the payment row is locked for the whole check-and-insert, and pending refunds count
against the captured amount, so concurrent refunds can never add up to more than was captured.
"""

from __future__ import annotations

import base64
import secrets
import uuid

from sqlalchemy.ext.asyncio import AsyncConnection

from engine.db import payments as repo
from engine.db import refunds as refund_repo
from engine.db.records import PaymentRecord, RefundRecord
from engine.errors import EasyPayError
from engine.money import parse_amount
from engine.states import Operation, PaymentStatus, allows



class OperationRefused(EasyPayError):
    """The operation is not allowed on the payment as it is now; nothing was changed."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


class ReconciliationRequired(OperationRefused):
    """The outcome of an earlier processor call is unknown: reconcile before anything else."""

    def __init__(self) -> None:
        super().__init__(
            "payment_reconciling",
            "The outcome of an earlier processor call is being confirmed; retry shortly.",
        )


def new_refund_invoice_number() -> str:
    """20 characters: ``RF`` + 90 random bits in base32 (unique per refund, resent unchanged)."""
    return "RF" + base64.b32encode(secrets.token_bytes(12)).decode()[:18]


async def _locked_payment(conn: AsyncConnection, merchant_id: uuid.UUID | None, payment_id: uuid.UUID) -> PaymentRecord:
    """The payment under a row lock, if it is ``merchant_id``'s (None: an admin, any merchant's)."""
    row = await repo.get_payment(conn, payment_id, merchant_id=merchant_id, for_update=True)
    if row is None:
        raise repo.PaymentNotFound(str(payment_id))
    if row.needs_reconciliation:
        raise ReconciliationRequired()
    if row.pending_operation is not None:
        raise OperationRefused(
            "operation_in_progress", f"A {row.pending_operation} of this payment is already in progress."
        )
    return row


def _amount(text: str | None, currency: str) -> int | None:
    """Parse a decimal amount in the payment's currency; ``engine.money.AmountError`` if invalid."""
    return None if text is None else parse_amount(text, currency)


async def request_capture(
    conn: AsyncConnection, merchant_id: uuid.UUID | None, payment_id: uuid.UUID, amount: str | None, *, request_id: str | None = None
) -> PaymentRecord:
    """Record a capture of ``amount`` (default: all) of an authorized payment."""
    row = await _locked_payment(conn, merchant_id, payment_id)
    amount_minor = _amount(amount, row.currency)
    if not allows(row.status, Operation.CAPTURE):
        raise OperationRefused("payment_not_capturable", f"Only an authorized payment can be captured; this one is {row.status}.")
    capture_minor = row.amount_minor if amount_minor is None else amount_minor
    if capture_minor > row.amount_minor:
        raise OperationRefused("capture_exceeds_authorized", "The capture amount is greater than the authorized amount.")
    return await repo.annotate(
        conn,
        payment_id,
        changes={"pending_operation": "capture", "pending_operation_amount_minor": capture_minor},
        event_type="payment.capture_requested",
        data={"amount_minor": capture_minor, "request_id": request_id},
    )


async def request_void(
    conn: AsyncConnection, merchant_id: uuid.UUID | None, payment_id: uuid.UUID, *, request_id: str | None = None
) -> PaymentRecord:
    """Record a void of an authorization or of a capture that has not settled."""
    row = await _locked_payment(conn, merchant_id, payment_id)
    if row.status == PaymentStatus.CAPTURED:
        if row.settled_at is not None:
            raise OperationRefused("payment_not_voidable", "The capture has settled; refund it instead.")
        if await refund_repo.reserved_minor(conn, payment_id):
            raise OperationRefused("payment_not_voidable", "The payment has refunds; it can no longer be voided.")
    elif not allows(row.status, Operation.VOID):
        raise OperationRefused("payment_not_voidable", f"A payment that is {row.status} cannot be voided.")
    return await repo.annotate(
        conn,
        payment_id,
        changes={"pending_operation": "void", "pending_operation_amount_minor": None},
        event_type="payment.void_requested",
        data={"request_id": request_id},
    )


async def request_refund(
    conn: AsyncConnection,
    merchant_id: uuid.UUID | None,
    payment_id: uuid.UUID,
    amount: str | None,
    *,
    reason: str | None = None,
) -> RefundRecord:
    """Reserve and record a refund of ``amount`` (default: everything not yet refunded or reserved)."""
    row = await _locked_payment(conn, merchant_id, payment_id)
    amount_minor = _amount(amount, row.currency)
    if not allows(row.status, Operation.REFUND):
        raise OperationRefused("payment_not_refundable", f"A payment that is {row.status} cannot be refunded.")
    reserved = await refund_repo.reserved_minor(conn, payment_id)
    available = row.amount_captured_minor - reserved
    refund_minor = available if amount_minor is None else amount_minor
    if available <= 0 or refund_minor > available:
        raise OperationRefused(
            "refund_exceeds_captured",
            "The refund would take refunds above the captured amount (pending refunds count).",
        )
    method = "refund"
    if row.settled_at is None:
        if refund_minor != row.amount_captured_minor:
            raise OperationRefused(
                "payment_not_settled",
                "The capture has not settled yet: a partial refund is possible once it settles; "
                "a full refund now voids the capture.",
            )
        method = "void"
    return await refund_repo.insert_refund(
        conn,
        {
            "id": uuid.uuid4(),
            "payment_id": payment_id,
            "merchant_id": row.merchant_id,
            "amount_minor": refund_minor,
            "currency": row.currency,
            "reason": reason,
            "method": method,
            "invoice_number": new_refund_invoice_number(),
        },
    )
