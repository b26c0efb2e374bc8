"""Request builders and response readers for the emulator tests (raw XML over httpx)."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx
from lxml import etree

NS = "AnetApi/xml/v1/schema/AnetApiSchema.xsd"
Q = "{" + NS + "}"
BOM = b"\xef\xbb\xbf"
LOGIN, KEY = "easypay-emulator", "EmulatorKey12345"
VISA = "4111111111111111"


def envelope(method: str, inner: str = "", *, login: str = LOGIN, key: str = KEY, ref_id: str | None = None,
             ns: str = NS) -> bytes:
    ref = f"<refId>{ref_id}</refId>" if ref_id is not None else ""
    return (
        f'<?xml version="1.0" encoding="utf-8"?><{method} xmlns="{ns}"><merchantAuthentication><name>{login}</name>'
        f"<transactionKey>{key}</transactionKey></merchantAuthentication><clientId>tests</clientId>{ref}"
        f"{inner}</{method}>"
    ).encode()


def txn(ttype: str, *, amount: str | None = None, card: str | None = None, exp: str = "2035-12",
        cvv: str | None = None, opaque: str | None = None, ref_trans_id: str | None = None,
        invoice: str | None = None, customer_id: str | None = None, zip_code: str | None = None,
        first_name: str | None = None, window: int | None = None, auth_code: str | None = None,
        ref_id: str | None = "r-1", login: str = LOGIN, key: str = KEY) -> bytes:
    """A createTransactionRequest with children in schema order."""
    parts = [f"<transactionType>{ttype}</transactionType>"]
    if amount is not None:
        parts.append(f"<amount>{amount}</amount>")
    if card is not None:
        code = f"<cardCode>{cvv}</cardCode>" if cvv is not None else ""
        parts.append(f"<payment><creditCard><cardNumber>{card}</cardNumber><expirationDate>{exp}</expirationDate>"
                     f"{code}</creditCard></payment>")
    elif opaque is not None:
        parts.append(f"<payment><opaqueData><dataDescriptor>COMMON.ACCEPT.INAPP.PAYMENT</dataDescriptor>"
                     f"<dataValue>{opaque}</dataValue></opaqueData></payment>")
    if auth_code is not None:
        parts.append(f"<authCode>{auth_code}</authCode>")
    if ref_trans_id is not None:
        parts.append(f"<refTransId>{ref_trans_id}</refTransId>")
    if invoice is not None:
        parts.append(f"<order><invoiceNumber>{invoice}</invoiceNumber><description>test</description></order>")
    if customer_id is not None:
        parts.append(f"<customer><id>{customer_id}</id></customer>")
    if zip_code is not None or first_name is not None:
        fn = f"<firstName>{first_name}</firstName>" if first_name is not None else ""
        z = f"<zip>{zip_code}</zip>" if zip_code is not None else ""
        parts.append(f"<billTo>{fn}<lastName>Tester</lastName>{z}</billTo>")
    if window is not None:
        parts.append("<transactionSettings><setting><settingName>duplicateWindow</settingName>"
                     f"<settingValue>{window}</settingValue></setting></transactionSettings>")
    inner = "<transactionRequest>" + "".join(parts) + "</transactionRequest>"
    return envelope("createTransactionRequest", inner, login=login, key=key, ref_id=ref_id)


def charge(amount: str = "10.00", **kw) -> bytes:
    kw.setdefault("card", VISA)
    kw.setdefault("cvv", "123")
    return txn("authCaptureTransaction", amount=amount, **kw)


def authorize(amount: str = "10.00", **kw) -> bytes:
    kw.setdefault("card", VISA)
    kw.setdefault("cvv", "123")
    return txn("authOnlyTransaction", amount=amount, **kw)


def capture(ref: str, amount: str | None = None) -> bytes:
    return txn("priorAuthCaptureTransaction", amount=amount, ref_trans_id=ref)


def void(ref: str) -> bytes:
    return txn("voidTransaction", ref_trans_id=ref)


def refund(ref: str, amount: str, last4: str = "1111", **kw) -> bytes:
    return txn("refundTransaction", amount=amount, card=last4, exp="XXXX", ref_trans_id=ref, **kw)


@dataclass
class Answer:
    """A parsed XML answer."""

    raw: bytes
    root: etree._Element
    tx: dict[str, str] = field(default_factory=dict)
    tx_order: list[str] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    tx_messages: list[tuple[str, str]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return etree.QName(self.root).localname

    def find(self, path: str) -> str | None:
        return self.root.findtext("/".join(Q + p for p in path.split("/")))

    @property
    def result_code(self) -> str:
        return self.find("messages/resultCode")

    @property
    def code(self) -> str:
        return self.find("messages/message/code")

    @property
    def text(self) -> str:
        return self.find("messages/message/text")

    @property
    def reason(self) -> str | None:
        if self.errors:
            return self.errors[0][0]
        return self.tx_messages[0][0] if self.tx_messages else None

    @property
    def trans_id(self) -> str:
        return self.tx.get("transId", "")


def read(resp: httpx.Response) -> Answer:
    """Check the framing (200, content type, BOM, declaration) and parse."""
    assert resp.status_code == 200, resp.status_code
    assert resp.headers["content-type"] == "application/xml; charset=utf-8"
    body = resp.content
    assert body.startswith(BOM + b'<?xml version="1.0" encoding="utf-8"?>'), body[:60]
    assert body.isascii() is False and body[3:].isascii(), "body after the BOM must be ASCII"
    root = etree.fromstring(body[3:])
    a = Answer(body, root)
    tr = root.find(Q + "transactionResponse")
    if tr is not None:
        for child in tr:
            name = etree.QName(child).localname
            a.tx_order.append(name)
            if len(child) == 0:
                a.tx[name] = child.text or ""
        for e in tr.iterfind(f"{Q}errors/{Q}error"):
            a.errors.append((e.findtext(Q + "errorCode"), e.findtext(Q + "errorText")))
        for m in tr.iterfind(f"{Q}messages/{Q}message"):
            a.tx_messages.append((m.findtext(Q + "code"), m.findtext(Q + "description")))
    return a
