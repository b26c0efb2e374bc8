"""XML in: request parsing with schema-order checks.

Requests are parsed with lxml (no entities, no network). Each element the
emulator reads is checked against the child order of the official XSD
(taken from the SDK 1.1.6 PyXB bindings); a misplaced, unknown, repeated or
missing required child raises :class:`ApiError` ``E00003`` with a
.NET-validator-style text, like the real gateway.

Responses are rendered by ``sandbox.render``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from lxml import etree

NS = "AnetApi/xml/v1/schema/AnetApiSchema.xsd"
_Q = "{" + NS + "}"
#: The UTF-8 byte order mark the gateway puts before every response (and tolerates on requests).
BOM = b"\xef\xbb\xbf"

#: Fields whose values never appear in an error text (they may hold card data).
_SENSITIVE = frozenset({"cardNumber", "cardCode", "expirationDate", "dataValue", "transactionKey"})


class ApiError(Exception):
    """An API-level failure: ``resultCode=Error`` and no transactionResponse."""

    def __init__(self, code: str, text: str) -> None:
        super().__init__(code, text)
        self.code = code
        self.text = text


# --------------------------------------------------------------------------- schema order

# One item per XSD particle: "name", "name?" (0..1), "name*" (0..n), "a|b|c" (choice, exactly one).
_SPECS: dict[str, tuple[tuple[frozenset[str], int, int | None, str], ...]] = {}


def _spec(key: str, text: str) -> None:
    items = []
    for tok in text.split():
        lo = 1
        hi: int | None = 1
        if tok.endswith("?"):
            tok, lo = tok[:-1], 0
        elif tok.endswith("*"):
            tok, lo, hi = tok[:-1], 0, None
        items.append((frozenset(tok.split("|")), lo, hi, tok.replace("|", ", ")))
    _SPECS[key] = tuple(items)


_ENVELOPE = "merchantAuthentication clientId? refId?"
_spec("merchantAuthentication", "name? transactionKey|sessionToken|password|impersonationAuthentication|"
      "fingerPrint|clientKey|accessToken mobileDeviceId?")
_spec("createTransactionRequest", _ENVELOPE + " transactionRequest")
_spec("getTransactionDetailsRequest", _ENVELOPE + " transId")
_spec("getUnsettledTransactionListRequest", _ENVELOPE + " status? sorting? paging?")
_spec("getSettledBatchListRequest", _ENVELOPE + " includeStatistics? firstSettlementDate? lastSettlementDate?")
_spec("getTransactionListRequest", _ENVELOPE + " batchId? sorting? paging?")
_spec("authenticateTestRequest", _ENVELOPE)
_spec("isAliveRequest", "refId?")
_spec("transactionRequest",
      "transactionType amount? currencyCode? payment? profile? solution? callId? terminalNumber? authCode? "
      "refTransId? splitTenderId? order? lineItems? tax? duty? shipping? taxExempt? poNumber? customer? "
      "billTo? shipTo? customerIP? cardholderAuthentication? retail? employeeId? transactionSettings? "
      "userFields? surcharge? merchantDescriptor? subMerchant? tip? processingOptions? "
      "subsequentAuthInformation? otherTax? shipFrom? authorizationIndicatorType?")
_spec("payment", "creditCard|bankAccount|trackData|encryptedTrackData|payPal|opaqueData|emv dataSource?")
_spec("creditCard", "cardNumber expirationDate cardCode? isPaymentToken? cryptogram? tokenRequestorName? "
      "tokenRequestorId? tokenRequestorEci?")
_spec("opaqueData", "dataDescriptor dataValue dataKey? expirationTimeStamp?")
_spec("order", "invoiceNumber? description? discountAmount? taxIsAfterDiscount? totalTaxTypeCode? "
      "purchaserVATRegistrationNumber? merchantVATRegistrationNumber? vatInvoiceReferenceNumber? "
      "purchaserCode? summaryCommodityCode? purchaseOrderDateUTC? supplierOrderReference? "
      "authorizedContactName? cardAcceptorRefNumber? amexDataTAA1? amexDataTAA2? amexDataTAA3? amexDataTAA4?")
_spec("customer", "type? id? email? driversLicense? taxId?")
_spec("billTo", "firstName? lastName? company? address? city? state? zip? country? phoneNumber? faxNumber? email?")
_spec("shipTo", "firstName? lastName? company? address? city? state? zip? country?")
_spec("transactionSettings", "setting*")
_spec("setting", "settingName? settingValue?")
_spec("sorting", "orderBy orderDescending")
_spec("paging", "limit offset")

#: maxLength facets of the string fields the emulator reads (from the XSD; docs/authorizenet.md, "Element order").
_MAX_LEN = {
    "name": 25, "transactionKey": 16, "clientId": 30, "refId": 20, "invoiceNumber": 20,
    "description": 255, "id": 20, "email": 255, "firstName": 50, "lastName": 50, "company": 50,
    "address": 60, "city": 40, "state": 40, "zip": 20, "country": 60, "phoneNumber": 25,
    "faxNumber": 25, "cardNumber": 16, "expirationDate": 7, "cardCode": 4,
}
_MIN_LEN = {"cardNumber": 4, "expirationDate": 4, "cardCode": 3}


def _local(el: etree._Element) -> str | None:
    tag = el.tag
    if not isinstance(tag, str) or not tag.startswith(_Q):
        return None
    return tag[len(_Q):]


def _expected(spec, start: int) -> str:
    names = []
    for _names, lo, _hi, label in spec[start:]:
        names.append(label)
        if lo:
            break
    return ", ".join(names)


def children(el: etree._Element, key: str) -> dict[str, Any]:
    """Children of ``el`` by local name, checked against the XSD particle list ``key``.

    Each maps to its element, a repeating particle to a list of them. Raises ApiError E00003 on
    an unknown, misplaced or repeated child, or on a missing required one.
    """
    spec = _SPECS[key]
    parent = _local(el) or str(el.tag)
    out: dict = {}
    counts = [0] * len(spec)
    pos = 0
    for child in el:
        if not isinstance(child.tag, str):
            continue  # comments, processing instructions
        name = _local(child)
        i = pos
        while i < len(spec) and (name is None or name not in spec[i][0]):
            if counts[i] < spec[i][1]:
                i = len(spec)  # a required particle would be skipped
                break
            i += 1
        if i >= len(spec):
            shown = name if name is not None else etree.QName(child).localname
            raise ApiError("E00003", (
                f"The element '{parent}' in namespace '{NS}' has invalid child element '{shown}' in namespace "
                f"'{etree.QName(child).namespace or ''}'. List of possible elements expected: "
                f"'{_expected(spec, pos) or '(none)'}' in namespace '{NS}'."))
        counts[i] += 1
        if spec[i][2] is None:
            out.setdefault(name, []).append(child)
            pos = i
        else:
            out[name] = child
            pos = i + 1
    for j in range(pos, len(spec)):
        if counts[j] < spec[j][1]:
            raise ApiError("E00003", (
                f"The element '{parent}' in namespace '{NS}' has incomplete content. List of possible elements "
                f"expected: '{_expected(spec, pos)}' in namespace '{NS}'."))
    return out


def _facet_error(name: str, value: str, datatype: str, detail: str) -> ApiError:
    shown = "" if name in _SENSITIVE else f" '{value}'"
    return ApiError("E00003", (
        f"The '{NS}:{name}' element is invalid - The value{shown} is invalid according to its "
        f"datatype '{datatype}' - {detail}"))


def text(parent: dict, name: str) -> str | None:
    """Stripped text of child ``name`` (None when absent), with length facets checked."""
    el = parent.get(name)
    if el is None:
        return None
    if len(el):
        raise ApiError("E00003", f"The element '{name}' in namespace '{NS}' cannot contain child elements.")
    value = (el.text or "").strip()
    hi = _MAX_LEN.get(name)
    if hi is not None and len(value) > hi:
        raise _facet_error(name, value, "String", "The actual length is greater than the MaxLength value.")
    lo = _MIN_LEN.get(name)
    if lo is not None and len(value) < lo:
        raise _facet_error(name, value, "String", "The actual length is less than the MinLength value.")
    return value


_DECIMAL = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")
_NUMERIC = re.compile(r"[0-9]+")
_INT = re.compile(r"[+-]?[0-9]+")


def decimal(parent: dict, name: str) -> Decimal | None:
    """xs:decimal child value, or None when absent."""
    value = text(parent, name)
    if value is None:
        return None
    if not _DECIMAL.fullmatch(value):
        raise _facet_error(name, value, "Decimal", f"The string '{value}' is not a valid Decimal value.")
    try:
        return Decimal(value)
    except InvalidOperation:  # pragma: no cover - regex guards this
        raise _facet_error(name, value, "Decimal", f"The string '{value}' is not a valid Decimal value.") from None


def numeric_string(parent: dict, name: str) -> str | None:
    """numericString child value ([0-9]+), or None when absent."""
    value = text(parent, name)
    if value is None:
        return None
    if not _NUMERIC.fullmatch(value):
        raise _facet_error(name, value, f"{NS}:numericString", "The Pattern constraint failed.")
    return value


def integer(parent: dict, name: str, lo: int, hi: int) -> int | None:
    """xs:int child value within [lo, hi], or None when absent."""
    value = text(parent, name)
    if value is None:
        return None
    if not _INT.fullmatch(value):
        raise _facet_error(name, value, "Int", f"The string '{value}' is not a valid Int32 value.")
    n = int(value)
    if n < lo:
        raise _facet_error(name, value, "Int", "The MinInclusive constraint failed.")
    if n > hi:
        raise _facet_error(name, value, "Int", "The MaxInclusive constraint failed.")
    return n


def boolean(parent: dict, name: str) -> bool | None:
    """xs:boolean child value, or None when absent."""
    value = text(parent, name)
    if value is None:
        return None
    if value in ("true", "1"):
        return True
    if value in ("false", "0"):
        return False
    raise _facet_error(name, value, "Boolean", f"The string '{value}' is not a valid Boolean value.")


def enum(parent: dict, name: str, allowed: tuple[str, ...], datatype: str) -> str | None:
    """Enumerated string child value, or None when absent."""
    value = text(parent, name)
    if value is not None and value not in allowed:
        raise _facet_error(name, value, f"{NS}:{datatype}", "The Enumeration constraint failed.")
    return value


# --------------------------------------------------------------------------- parsing

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, remove_comments=True)


def parse_document(body: bytes) -> etree._Element:
    """The request root element. Raises ApiError E00003 when the XML is not well-formed."""
    if body.startswith(BOM):
        body = body[3:]
    if not body.strip():
        raise ApiError("E00003", "Root element is missing.")
    try:
        return etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as exc:
        msg = str(exc.msg if hasattr(exc, "msg") else exc).split("\n")[0]
        raise ApiError("E00003", f"The XML request is not well-formed: {msg}") from None


def root_method(root: etree._Element) -> tuple[str, str | None]:
    """``(local name, namespace)`` of the request root."""
    q = etree.QName(root)
    return q.localname, q.namespace


@dataclass(slots=True)
class Envelope:
    """The ANetApiRequest part shared by every method."""

    method: str
    login: str | None
    key: str | None
    client_id: str | None
    ref_id: str | None
    body: dict


def read_envelope(root: etree._Element, method: str) -> Envelope:
    """Check the root's children and pull out authentication, clientId and refId."""
    body = children(root, method)
    login = key = None
    ma = body.get("merchantAuthentication")
    if ma is not None:
        auth = children(ma, "merchantAuthentication")
        login = text(auth, "name")
        key = text(auth, "transactionKey")
    return Envelope(method, login, key, text(body, "clientId"), text(body, "refId"), body)


def peek_ref_id(root: etree._Element) -> str | None:
    """refId, best effort (for echoing it in an E00003 response)."""
    for child in root:
        if _local(child) == "refId":
            value = (child.text or "").strip()
            return value if len(value) <= 20 else None
    return None


@dataclass(slots=True)
class Card:
    number: str
    expiration: str
    code: str | None


@dataclass(slots=True)
class Opaque:
    descriptor: str
    value: str


@dataclass(slots=True)
class TxnRequest:
    """The parts of ``transactionRequestType`` the emulator uses."""

    transaction_type: str
    amount: Decimal | None = None
    card: Card | None = None
    opaque: Opaque | None = None
    other_payment: str | None = None
    auth_code: str | None = None
    ref_trans_id: str | None = None
    invoice_number: str | None = None
    description: str | None = None
    po_number: str | None = None
    customer_type: str | None = None
    customer_id: str | None = None
    customer_email: str | None = None
    bill_to: dict[str, str] = field(default_factory=dict)
    ship_to: dict[str, str] = field(default_factory=dict)
    customer_ip: str | None = None
    settings: dict[str, str] = field(default_factory=dict)


ADDRESS_FIELDS = ("firstName", "lastName", "company", "address", "city", "state", "zip", "country",
            "phoneNumber", "faxNumber", "email")


def _address(el: etree._Element, key: str) -> dict[str, str]:
    c = children(el, key)
    out = {}
    for name in ADDRESS_FIELDS:
        if name in c:
            out[name] = text(c, name) or ""
    return out


def read_transaction_request(el: etree._Element) -> TxnRequest:
    """Parse ``transactionRequest`` (order, facets, types). Business rules come later."""
    c = children(el, "transactionRequest")
    req = TxnRequest(transaction_type=text(c, "transactionType") or "")
    req.amount = decimal(c, "amount")
    pay = c.get("payment")
    if pay is not None:
        p = children(pay, "payment")
        if "creditCard" in p:
            cc = children(p["creditCard"], "creditCard")
            code = text(cc, "cardCode")
            if code is not None and not _NUMERIC.fullmatch(code):
                raise _facet_error("cardCode", code, f"{NS}:numericString", "The Pattern constraint failed.")
            req.card = Card(text(cc, "cardNumber") or "", text(cc, "expirationDate") or "", code)
        elif "opaqueData" in p:
            od = children(p["opaqueData"], "opaqueData")
            req.opaque = Opaque(text(od, "dataDescriptor") or "", text(od, "dataValue") or "")
        else:
            req.other_payment = next(iter(p))
    req.auth_code = text(c, "authCode")
    req.ref_trans_id = text(c, "refTransId")
    if "order" in c:
        o = children(c["order"], "order")
        req.invoice_number = text(o, "invoiceNumber")
        req.description = text(o, "description")
    req.po_number = text(c, "poNumber")
    if "customer" in c:
        cu = children(c["customer"], "customer")
        req.customer_type = enum(cu, "type", ("individual", "business"), "customerTypeEnum")
        req.customer_id = text(cu, "id")
        req.customer_email = text(cu, "email")
    if "billTo" in c:
        req.bill_to = _address(c["billTo"], "billTo")
    if "shipTo" in c:
        req.ship_to = _address(c["shipTo"], "shipTo")
    req.customer_ip = text(c, "customerIP")
    if "transactionSettings" in c:
        ts = children(c["transactionSettings"], "transactionSettings")
        for s in ts.get("setting", []):
            sc = children(s, "setting")
            name = text(sc, "settingName")
            if name:
                req.settings[name] = text(sc, "settingValue") or ""
    return req
