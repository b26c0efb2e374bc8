"""Request XML: every call the client makes, built with lxml in the Authorize.net schema's order.

Each builder lists its elements in the order of the XSD sequence (docs/authorizenet.md, "Element
order"): the gateway rejects a misplaced element with E00003, so the order in these lists is
load-bearing. Optional elements whose value is ``None`` are left out. Amounts are written exactly
as :func:`engine.processor.amounts.format_wire_amount` spells them ("12.50", "1250").

The string length facets of the schema are checked here (:data:`FIELD_LENGTHS`), so a value the
gateway would refuse is refused before sending, with a message that names the field and never the
value (it may be card data). Tests check every builder against the official SDK's bindings; the
emulator's ``sandbox/wire.py`` deliberately shares no code with this module, so that each one is
an independent check of the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Sequence, Union

from lxml import etree

from engine.errors import EasyPayError

from ..amounts import format_wire_amount
from ..types import Billing, Card, ChargeRequest, OpaqueData

NAMESPACE = "AnetApi/xml/v1/schema/AnetApiSchema.xsd"
_Q = "{" + NAMESPACE + "}"
_DECLARATION = b'<?xml version="1.0" encoding="utf-8"?>'

#: (minLength, maxLength) of the XSD string types of the fields we write.
FIELD_LENGTHS: dict[str, tuple[int, int]] = {
    "name": (1, 25),
    "transactionKey": (1, 16),
    "refId": (0, 20),
    "cardNumber": (4, 16),
    "expirationDate": (4, 7),
    "cardCode": (3, 4),
    "invoiceNumber": (0, 20),
    "description": (0, 255),
    "id": (0, 20),
    "firstName": (0, 50),
    "lastName": (0, 50),
    "address": (0, 60),
    "city": (0, 40),
    "state": (0, 40),
    "zip": (0, 20),
    "country": (0, 60),
}

#: An element: its local name and either its text or its children; ``None`` omits it.
Field = tuple[str, Union[str, "Sequence[Field]", None]]


class RequestBuildError(EasyPayError, ValueError):
    """A value breaks the schema. The message names the operation and field, never the value."""


@dataclass(frozen=True)
class Credentials:
    login_id: str
    transaction_key: str

    def __repr__(self) -> str:
        return f"Credentials(login_id={self.login_id!r}, transaction_key='***')"


@dataclass(frozen=True)
class Built:
    """A serialized request plus what is safe to log about it."""

    operation: str
    body: bytes

    def __repr__(self) -> str:  # never the body: it holds the key and card data
        return f"Built(operation={self.operation!r}, body=<{len(self.body)} bytes>)"


def _append(operation: str, parent: etree._Element, fields: Sequence[Field]) -> None:
    for name, value in fields:
        if value is None:
            continue
        element = etree.SubElement(parent, _Q + name)
        if isinstance(value, str):
            limits = FIELD_LENGTHS.get(name)
            if limits is not None and not limits[0] <= len(value) <= limits[1]:
                raise RequestBuildError(f"{operation}: {name} must be {limits[0]}..{limits[1]} characters") from None
            try:
                element.text = value
            except ValueError:  # NUL or control characters; lxml's message does not quote the value
                raise RequestBuildError(f"{operation}: {name} holds characters XML cannot carry") from None
        else:
            _append(operation, element, value)


def _document(operation: str, root_name: str, creds: Credentials, fields: Sequence[Field]) -> Built:
    root = etree.Element(_Q + root_name, nsmap={None: NAMESPACE})
    auth: Sequence[Field] = (("name", creds.login_id), ("transactionKey", creds.transaction_key))
    _append(operation, root, (("merchantAuthentication", auth), *fields))
    return Built(operation, _DECLARATION + etree.tostring(root, encoding="utf-8"))


def _transaction(operation: str, creds: Credentials, ref_id: str | None, fields: Sequence[Field]) -> Built:
    request: Sequence[Field] = (("transactionType", operation), *fields)
    return _document(operation, "createTransactionRequest", creds, (("refId", ref_id), ("transactionRequest", request)))


def _credit_card(number: str, expiration: str, code: str | None) -> Field:
    card: Sequence[Field] = (("cardNumber", number), ("expirationDate", expiration), ("cardCode", code))
    return ("payment", (("creditCard", card),))


def _payment(source: Card | OpaqueData) -> Field:
    if isinstance(source, Card):
        return _credit_card(source.number, source.expiration, source.cvc)
    opaque: Sequence[Field] = (("dataDescriptor", source.descriptor), ("dataValue", source.value))
    return ("payment", (("opaqueData", opaque),))


def _order(invoice_number: str | None, description: str | None) -> Field:
    if invoice_number is None and description is None:
        return ("order", None)
    return ("order", (("invoiceNumber", invoice_number), ("description", description)))


def _bill_to(billing: Billing | None) -> Field:
    if billing is None:
        return ("billTo", None)
    return (
        "billTo",
        (
            ("firstName", billing.first_name),
            ("lastName", billing.last_name),
            ("address", billing.line1),
            ("city", billing.city),
            ("state", billing.state),
            ("zip", billing.postal_code),
            ("country", billing.country),
        ),
    )


def _settings(duplicate_window_s: int | None) -> Field:
    if duplicate_window_s is None:
        return ("transactionSettings", None)
    setting: Sequence[Field] = (("settingName", "duplicateWindow"), ("settingValue", str(duplicate_window_s)))
    return ("transactionSettings", (("setting", setting),))


def build_charge(creds: Credentials, req: ChargeRequest, duplicate_window_s: int) -> Built:
    operation = "authCaptureTransaction" if req.capture else "authOnlyTransaction"
    customer = None if req.customer_id is None else (("id", req.customer_id),)
    return _transaction(
        operation,
        creds,
        req.ref_id,
        (
            ("amount", format_wire_amount(req.amount_minor, req.exponent)),
            ("currencyCode", req.currency),
            _payment(req.payment),
            _order(req.invoice_number, req.description),
            ("customer", customer),
            _bill_to(req.billing),
            _settings(duplicate_window_s),
        ),
    )


def build_capture(
    creds: Credentials,
    transaction_id: str,
    amount_text: str | None,
    currency: str | None,
    invoice_number: str | None,
    ref_id: str | None,
) -> Built:
    return _transaction(
        "priorAuthCaptureTransaction",
        creds,
        ref_id,
        (
            ("amount", amount_text),
            ("currencyCode", currency if amount_text is not None else None),
            ("refTransId", transaction_id),
            _order(invoice_number, None),
        ),
    )


def build_void(creds: Credentials, transaction_id: str, ref_id: str | None) -> Built:
    return _transaction("voidTransaction", creds, ref_id, (("refTransId", transaction_id),))


def build_refund(
    creds: Credentials,
    transaction_id: str,
    amount_text: str,
    currency: str,
    card_last4: str,
    invoice_number: str | None,
    ref_id: str | None,
    duplicate_window_s: int | None,
) -> Built:
    return _transaction(
        "refundTransaction",
        creds,
        ref_id,
        (
            ("amount", amount_text),
            ("currencyCode", currency),
            _credit_card(card_last4, "XXXX", None),
            ("refTransId", transaction_id),
            _order(invoice_number, None),
            _settings(duplicate_window_s),
        ),
    )


def build_details(creds: Credentials, transaction_id: str) -> Built:
    return _document(
        "getTransactionDetails", "getTransactionDetailsRequest", creds, (("transId", transaction_id),)
    )


def _newest_first_page(limit: int, offset: int) -> tuple[Field, Field]:
    return (
        ("sorting", (("orderBy", "submitTimeUTC"), ("orderDescending", "true"))),
        ("paging", (("limit", str(limit)), ("offset", str(offset)))),
    )


def build_unsettled(creds: Credentials, limit: int, offset: int) -> Built:
    return _document(
        "getUnsettledTransactionList",
        "getUnsettledTransactionListRequest",
        creds,
        _newest_first_page(limit, offset),
    )


def build_batch_transactions(creds: Credentials, batch_id: str, limit: int, offset: int) -> Built:
    return _document(
        "getTransactionList",
        "getTransactionListRequest",
        creds,
        (("batchId", batch_id), *_newest_first_page(limit, offset)),
    )


def _utc_text(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_settled_batches(creds: Credentials, first: datetime | None, last: datetime | None) -> Built:
    return _document(
        "getSettledBatchList",
        "getSettledBatchListRequest",
        creds,
        (("firstSettlementDate", _utc_text(first)), ("lastSettlementDate", _utc_text(last))),
    )
