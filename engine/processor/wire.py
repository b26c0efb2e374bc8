"""XML on the wire: build requests with the SDK's PyXB contract bindings, parse responses.

Requests
    Built with ``authorizenet.apicontractsv1`` bindings, which serialize children in schema order.
    The SDK's ``buildrequest`` serializes with ``toxml(element_name=...)`` and then strips the
    ``ns1:`` prefixes PyXB invents; we get byte-identical output without the string surgery by
    serializing with the Authorize.net namespace as the DOM default namespace (so a description
    containing "ns1:" cannot be corrupted). PyXB writes decimals in normalized form (12.50 → "12.5",
    1250 → "1250.0"), so the amount text node is overwritten with the exact string from
    :func:`engine.processor.amounts.format_amount`.

Responses
    The UTF-8 BOM Authorize.net prepends is stripped when present (never blindly: the SDK's
    ``text[3:]`` destroys BOM-less bodies). Bytes are handed to the parsers as-is, so the XML
    declaration's encoding is honoured (the SDK mis-decodes as ISO-8859-1). The strict path is
    ``apicontractsv1.CreateFromDocument``; a well-formed body that fails schema validation (e.g.
    E00007 without the XSD-required ``transactionResponse``) is read with lxml instead. Both paths
    are exposed through the same tiny :class:`Node` API that returns element *text*, so values such
    as authCode "000123" keep their leading zeros.

PyXB logging
    PyXB warns through ``pyxb.binding.basis`` / ``pyxb.binding.content`` about elements newer than
    the 2024 bindings ("Unable to convert DOM node ...") and about harmless "Multiple accepting
    paths". While *this module* is inside PyXB those two messages are dropped (unknown element names
    are re-logged at DEBUG on our logger); everything else passes through. The one PyXB message that
    can quote a value ("Cannot validate value %s ...") is redacted everywhere.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Iterator, Protocol

import pyxb
import pyxb.utils.domutils
from authorizenet import apicontractsv1 as contracts
from lxml import etree

from .amounts import format_amount
from .types import Billing, Card, ChargeRequest, OpaqueData

log = logging.getLogger(__name__)

NAMESPACE = "AnetApi/xml/v1/schema/AnetApiSchema.xsd"
BOM = b"\xef\xbb\xbf"

# --------------------------------------------------------------------------------------------
# PyXB log hygiene


_inside_pyxb: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("anet_inside_pyxb", default=None)


class _PyxbLogFilter(logging.Filter):
    """Drops PyXB's known-harmless warnings while we drive PyXB; redacts values always."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.msg if isinstance(record.msg, str) else ""
        if msg.startswith("Cannot validate value"):
            # "Cannot validate value %s in field %s": the first argument is a field value.
            args = record.args if isinstance(record.args, tuple) else ()
            record.args = ("<redacted>", *args[1:])
            return True
        sink = _inside_pyxb.get()
        if sink is None:
            return True
        if msg.startswith("Unable to convert DOM node"):
            args = record.args if isinstance(record.args, tuple) else ()
            if args:
                sink.append(str(args[0]))
            return False
        if msg.startswith("Multiple accepting paths"):
            return False
        return True


_FILTER = _PyxbLogFilter()
for _name in ("pyxb.binding.basis", "pyxb.binding.content"):
    _logger = logging.getLogger(_name)
    if not any(isinstance(f, _PyxbLogFilter) for f in _logger.filters):
        _logger.addFilter(_FILTER)


@contextlib.contextmanager
def _quiet_pyxb() -> Iterator[list[str]]:
    unknown: list[str] = []
    token = _inside_pyxb.set(unknown)
    try:
        yield unknown
    finally:
        _inside_pyxb.reset(token)


# --------------------------------------------------------------------------------------------
# Requests


class RequestBuildError(ValueError):
    """The bindings refused a value. The message names the exception type only, never the value."""


@dataclass(frozen=True)
class Credentials:
    login_id: str
    transaction_key: str

    def __repr__(self) -> str:
        return f"Credentials(login_id={self.login_id!r}, transaction_key='***')"


def _auth(creds: Credentials) -> contracts.merchantAuthenticationType:
    auth = contracts.merchantAuthenticationType()
    auth.name = creds.login_id
    auth.transactionKey = creds.transaction_key
    return auth


def _setting(name: str, value: str) -> contracts.settingType:
    setting = contracts.settingType()
    setting.settingName = name
    setting.settingValue = value
    return setting


def _credit_card(number: str, expiration: str, code: str | None) -> contracts.paymentType:
    card = contracts.creditCardType()
    card.cardNumber = number
    card.expirationDate = expiration
    if code is not None:
        card.cardCode = code
    payment = contracts.paymentType()
    payment.creditCard = card
    return payment


def _payment(source: Card | OpaqueData) -> contracts.paymentType:
    if isinstance(source, Card):
        return _credit_card(source.number, source.expiration, source.cvc)
    opaque = contracts.opaqueDataType()
    opaque.dataDescriptor = source.descriptor
    opaque.dataValue = source.value
    payment = contracts.paymentType()
    payment.opaqueData = opaque
    return payment


def _bill_to(billing: Billing) -> contracts.customerAddressType:
    address = contracts.customerAddressType()
    for attr, element in (
        ("first_name", "firstName"),
        ("last_name", "lastName"),
        ("line1", "address"),
        ("city", "city"),
        ("state", "state"),
        ("postal_code", "zip"),
        ("country", "country"),
    ):
        value = getattr(billing, attr)
        if value is not None:
            setattr(address, element, value)
    return address


def _order(invoice_number: str | None, description: str | None) -> contracts.orderType | None:
    if invoice_number is None and description is None:
        return None
    order = contracts.orderType()
    if invoice_number is not None:
        order.invoiceNumber = invoice_number
    if description is not None:
        order.description = description
    return order


@dataclass(frozen=True)
class Built:
    """A serialized request plus what is safe to log about it."""

    operation: str
    body: bytes

    def __repr__(self) -> str:  # never the body: it holds the key and card data
        return f"Built(operation={self.operation!r}, body=<{len(self.body)} bytes>)"


def _serialize(binding: object, element_name: str, amount_text: str | None) -> bytes:
    with _quiet_pyxb():
        bds = pyxb.utils.domutils.BindingDOMSupport(default_namespace=contracts.Namespace)
        dom = binding.toDOM(bds=bds, element_name=element_name)  # type: ignore[attr-defined]
    if amount_text is not None:
        amount = _amount_element(dom)
        while amount.firstChild is not None:
            amount.removeChild(amount.firstChild)
        amount.appendChild(dom.createTextNode(amount_text))
    return dom.toxml(encoding="utf-8")


def _amount_element(dom):  # type: ignore[no-untyped-def]
    for request in dom.documentElement.childNodes:
        if request.nodeType == request.ELEMENT_NODE and request.localName == "transactionRequest":
            for child in request.childNodes:
                if child.nodeType == child.ELEMENT_NODE and child.localName == "amount":
                    return child
    raise RequestBuildError("serialized request has no transactionRequest/amount")


def _transaction_request(
    creds: Credentials,
    tx: contracts.transactionRequestType,
    ref_id: str | None,
    operation: str,
    amount_text: str | None,
) -> Built:
    with _guard(operation):
        request = contracts.createTransactionRequest()
        request.merchantAuthentication = _auth(creds)
        if ref_id is not None:
            request.refId = ref_id
        request.transactionRequest = tx
        body = _serialize(request, "createTransactionRequest", amount_text)
    return Built(operation, body)


@contextlib.contextmanager
def _guard(operation: str) -> Iterator[None]:
    """Turn PyXB facet errors (whose messages quote the value) into value-free errors."""
    try:
        yield
    except pyxb.PyXBException as exc:
        raise RequestBuildError(f"{operation}: the SDK bindings rejected a field ({type(exc).__name__})") from None


def build_charge(creds: Credentials, req: ChargeRequest, duplicate_window_s: int) -> Built:
    operation = "authCaptureTransaction" if req.capture else "authOnlyTransaction"
    amount_text = format_amount(req.amount_minor, req.exponent)
    with _guard(operation):
        tx = contracts.transactionRequestType()
        tx.transactionType = operation
        tx.amount = Decimal(amount_text)
        tx.currencyCode = req.currency
        tx.payment = _payment(req.payment)
        tx.order = _order(req.invoice_number, req.description)
        if req.customer_id is not None:
            customer = contracts.customerDataType()
            customer.id = req.customer_id
            tx.customer = customer
        if req.billing is not None:
            tx.billTo = _bill_to(req.billing)
        settings = contracts.ArrayOfSetting()
        settings.setting.append(_setting("duplicateWindow", str(duplicate_window_s)))
        tx.transactionSettings = settings
    return _transaction_request(creds, tx, req.ref_id, operation, amount_text)


def build_capture(
    creds: Credentials,
    transaction_id: str,
    amount_text: str | None,
    currency: str | None,
    invoice_number: str | None,
    ref_id: str | None,
) -> Built:
    operation = "priorAuthCaptureTransaction"
    with _guard(operation):
        tx = contracts.transactionRequestType()
        tx.transactionType = operation
        if amount_text is not None:
            tx.amount = Decimal(amount_text)
            tx.currencyCode = currency
        tx.refTransId = transaction_id
        tx.order = _order(invoice_number, None)
    return _transaction_request(creds, tx, ref_id, operation, amount_text)


def build_void(creds: Credentials, transaction_id: str, ref_id: str | None) -> Built:
    operation = "voidTransaction"
    with _guard(operation):
        tx = contracts.transactionRequestType()
        tx.transactionType = operation
        tx.refTransId = transaction_id
    return _transaction_request(creds, tx, ref_id, operation, None)


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
    operation = "refundTransaction"
    with _guard(operation):
        tx = contracts.transactionRequestType()
        tx.transactionType = operation
        tx.amount = Decimal(amount_text)
        tx.currencyCode = currency
        tx.payment = _credit_card(card_last4, "XXXX", None)
        tx.refTransId = transaction_id
        tx.order = _order(invoice_number, None)
        if duplicate_window_s is not None:
            settings = contracts.ArrayOfSetting()
            settings.setting.append(_setting("duplicateWindow", str(duplicate_window_s)))
            tx.transactionSettings = settings
    return _transaction_request(creds, tx, ref_id, operation, amount_text)


def build_details(creds: Credentials, transaction_id: str) -> Built:
    operation = "getTransactionDetails"
    with _guard(operation):
        request = contracts.getTransactionDetailsRequest()
        request.merchantAuthentication = _auth(creds)
        request.transId = transaction_id
        body = _serialize(request, "getTransactionDetailsRequest", None)
    return Built(operation, body)


def build_unsettled(creds: Credentials, limit: int, offset: int) -> Built:
    operation = "getUnsettledTransactionList"
    with _guard(operation):
        request = contracts.getUnsettledTransactionListRequest()
        request.merchantAuthentication = _auth(creds)
        sorting = contracts.TransactionListSorting()
        sorting.orderBy = "submitTimeUTC"
        sorting.orderDescending = True
        request.sorting = sorting
        paging = contracts.Paging()
        paging.limit = limit
        paging.offset = offset
        request.paging = paging
        body = _serialize(request, "getUnsettledTransactionListRequest", None)
    return Built(operation, body)


# --------------------------------------------------------------------------------------------
# Responses


class ResponseParseError(Exception):
    """The body is not a usable Authorize.net response. The message never quotes the body."""


class Node(Protocol):
    def child(self, name: str) -> "Node | None": ...
    def children(self, name: str) -> "list[Node]": ...
    def text(self) -> str | None: ...


class _PyxbNode:
    __slots__ = ("_obj",)

    def __init__(self, obj: object) -> None:
        self._obj = obj

    @staticmethod
    def _name(item: object) -> str | None:
        declaration = getattr(item, "elementDeclaration", None)
        if declaration is not None:
            return declaration.name().localName()
        # Content PyXB could not place in the content model ("Multiple accepting paths") is kept
        # with no declaration and is NOT reachable through the properties: e.g. the
        # getUnsettledTransactionListResponse `transactions` property reads None although the
        # element was parsed. The value still knows which element it came from.
        element = getattr(getattr(item, "value", None), "_element", None)
        bound = element() if callable(element) else None
        return bound.name().localName() if bound is not None else None

    def children(self, name: str) -> list[Node]:
        # Walk the ordered content by element name instead of the generated properties (see _name).
        ordered = getattr(self._obj, "orderedContent", None)
        if not callable(ordered):
            return []
        return [
            _PyxbNode(item.value)
            for item in ordered()
            if getattr(item, "value", None) is not None and self._name(item) == name
        ]

    def child(self, name: str) -> Node | None:
        found = self.children(name)
        return found[0] if found else None

    def text(self) -> str | None:
        obj = self._obj
        if obj is None:
            return None
        if isinstance(obj, str):
            value = str(obj)
        elif isinstance(obj, Decimal):
            value = str(Decimal(obj))  # keeps "12.50" rather than the canonical "12.5"
        elif hasattr(obj, "xsdLiteral"):
            value = obj.xsdLiteral()
        else:  # complex content has no text of its own
            return None
        return value or None


class _LxmlNode:
    __slots__ = ("_el",)

    def __init__(self, el: etree._Element) -> None:
        self._el = el

    def children(self, name: str) -> list[Node]:
        # Match on local name: error bodies are not guaranteed to carry the namespace.
        return [
            _LxmlNode(c)
            for c in self._el
            if isinstance(c.tag, str) and etree.QName(c).localname == name
        ]

    def child(self, name: str) -> Node | None:
        found = self.children(name)
        return found[0] if found else None

    def text(self) -> str | None:
        if len(self._el):
            return None
        return self._el.text or None


@dataclass(frozen=True)
class Document:
    root_name: str
    root: Node
    strict: bool  # True when the body passed PyXB (schema) validation

    def get(self, *path: str) -> str | None:
        return get(self.root, *path)


def get(node: Node | None, *path: str) -> str | None:
    for name in path:
        if node is None:
            return None
        node = node.child(name)
    return node.text() if node is not None else None


_LXML_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, remove_comments=True)


def parse_response(body: bytes) -> Document:
    """Parse a response body; raises :class:`ResponseParseError` when it is not usable XML."""
    if body.startswith(BOM):
        body = body[len(BOM):]
    else:
        log.debug("Authorize.net response has no UTF-8 BOM")
    if not body.strip():
        raise ResponseParseError("empty response body")
    strict_error: str
    try:
        with _quiet_pyxb() as unknown:
            instance = contracts.CreateFromDocument(body)
        if unknown:
            log.debug("response elements unknown to the SDK bindings were ignored: %s", ", ".join(unknown))
        element = instance._element()
        return Document(element.name().localName(), _PyxbNode(instance), strict=True)
    except Exception as exc:  # PyXBException, SAXParseException, and a few odder PyXB failure modes
        strict_error = type(exc).__name__
    try:
        root = etree.fromstring(body, _LXML_PARSER)
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise ResponseParseError(f"malformed XML response ({type(exc).__name__})") from None
    if root is None or not isinstance(root.tag, str):
        raise ResponseParseError("response has no XML root element")
    document = Document(etree.QName(root).localname, _LxmlNode(root), strict=False)
    level = logging.DEBUG
    if document.get("messages", "resultCode") != "Error":
        level = logging.WARNING  # only error bodies are expected to be schema-invalid
    log.log(
        level,
        "Authorize.net %s failed schema validation (%s); read leniently",
        document.root_name,
        strict_error,
    )
    return document
