"""XML out: responses built as ASCII strings in XSD element order and framed as the gateway does:
UTF-8 BOM, lowercase ``utf-8`` declaration, root carrying the ``xsi``/``xsd`` prefixes and the
default namespace (docs/authorizenet.md, "Response framing"). Non-ASCII text is written as
numeric character references.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sandbox.wire import BOM, NS

XML_DECL = '<?xml version="1.0" encoding="utf-8"?>'
_ROOT_ATTRS = (
    ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
    ' xmlns:xsd="http://www.w3.org/2001/XMLSchema"'
    ' xmlns="' + NS + '"'
)


def esc(value: object) -> str:
    """XML-escape and keep ASCII (non-ASCII becomes ``&#N;``)."""
    s = str(value)
    if "&" in s or "<" in s or ">" in s:
        s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if not s.isascii():
        s = s.encode("ascii", "xmlcharrefreplace").decode("ascii")
    return s


def el(name: str, value: object | None = "") -> str:
    """``<name>value</name>``, or ``<name />`` for an empty value."""
    if value is None or value == "":
        return f"<{name} />"
    return f"<{name}>{esc(value)}</{name}>"


def opt(name: str, value: object | None) -> str:
    """Like :func:`el` but omitted entirely when the value is None or empty."""
    if value is None or value == "":
        return ""
    return f"<{name}>{esc(value)}</{name}>"


def document(root: str, ref_id: str | None, result_code: str, code: str, message: str, inner: str = "",
             *, bom: bool = True) -> bytes:
    """A complete response body: BOM, declaration, root, refId, messages, then ``inner``."""
    out = (
        f"{XML_DECL}<{root}{_ROOT_ATTRS}>{opt('refId', ref_id)}"
        f"<messages><resultCode>{result_code}</resultCode>"
        f"<message><code>{code}</code><text>{esc(message)}</text></message></messages>"
        f"{inner}</{root}>"
    ).encode("ascii")
    return BOM + out if bom else out


@dataclass(slots=True)
class TxnResponse:
    """``transactionResponse`` content, in schema order (docs/authorizenet.md, "Response element order")."""

    response_code: str
    auth_code: str = ""
    avs: str = ""
    cvv: str = ""
    cavv: str = ""
    trans_id: str = "0"
    ref_trans_id: str = ""
    account_number: str = ""
    account_type: str = ""
    messages: list[tuple[str, str]] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    network_trans_id: str = ""

    def render(self) -> str:
        parts = [
            "<transactionResponse>",
            el("responseCode", self.response_code),
            el("authCode", self.auth_code),
            el("avsResultCode", self.avs),
            el("cvvResultCode", self.cvv),
            el("cavvResultCode", self.cavv),
            el("transId", self.trans_id),
            el("refTransID", self.ref_trans_id),
            "<transHash />",
            "<testRequest>0</testRequest>",
            el("accountNumber", self.account_number),
            el("accountType", self.account_type),
        ]
        if self.messages:
            parts.append("<messages>")
            parts.extend(f"<message>{el('code', c)}{el('description', d)}</message>" for c, d in self.messages)
            parts.append("</messages>")
        if self.errors:
            parts.append("<errors>")
            parts.extend(f"<error>{el('errorCode', c)}{el('errorText', t)}</error>" for c, t in self.errors)
            parts.append("</errors>")
        parts.append("<transHashSha2 />")
        parts.append(opt("networkTransId", self.network_trans_id))
        parts.append("</transactionResponse>")
        return "".join(parts)
