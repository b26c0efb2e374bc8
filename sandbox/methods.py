"""The XML API methods: request document in, response document out.

``parse()`` reads the body once (and exposes the fields fault rules match on);
``Gateway.handle()`` validates, authenticates, applies the ledger rules and
renders the answer. Order of checks, as on the real gateway: content type
(E00002), well-formedness (E00003), method name (E00004), schema (E00003),
credentials (E00007), then the method itself.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from lxml import etree

from sandbox import transactions as tx
from sandbox import wire
from sandbox.config import Config
from sandbox.ledger import Ledger
from sandbox.transactions import Txn, iso, money
from sandbox.render import document, el, opt
from sandbox.wire import ApiError

E00007 = "User authentication failed due to invalid authentication values."
CONTENT_TYPES = ("text/xml", "application/xml")
TRANSACTION_TYPES = (  # the XSD's transactionTypeEnum
    "authOnlyTransaction", "authCaptureTransaction", "captureOnlyTransaction", "refundTransaction",
    "priorAuthCaptureTransaction", "voidTransaction", "getDetailsTransaction", "authOnlyContinueTransaction",
    "authCaptureContinueTransaction",
)
SUPPORTED_TYPES = TRANSACTION_TYPES[:6]
METHODS = (
    "createTransactionRequest", "getTransactionDetailsRequest", "getUnsettledTransactionListRequest",
    "getSettledBatchListRequest", "getTransactionListRequest", "authenticateTestRequest", "isAliveRequest",
)


@dataclass(slots=True)
class Parsed:
    """A request body read once: the tree (or the error) plus what fault rules match on."""

    root: etree._Element | None = None
    method: str | None = None
    error: ApiError | None = None
    transaction_type: str | None = None
    invoice_number: str | None = None
    amount: str | None = None


def _find(root: etree._Element, path: str) -> str | None:
    value = root.findtext("/".join("{%s}%s" % (wire.NS, part) for part in path.split("/")))
    return value.strip() if value is not None else None


def parse(body: bytes, content_type: str | None) -> Parsed:
    """Read the body. Never raises; problems are kept in ``Parsed.error``."""
    ctype = (content_type or "").split(";")[0].strip().lower()
    if ctype not in CONTENT_TYPES:
        return Parsed(error=ApiError("E00002", "The content-type specified is not supported."))
    try:
        root = wire.parse_document(body)
    except ApiError as exc:
        return Parsed(error=exc)
    name, ns = wire.root_method(root)
    p = Parsed(root=root, method=name)
    if name not in METHODS:
        p.error = ApiError("E00004", "The element or attribute name is invalid or does not exist.")
    elif ns != wire.NS:
        p.error = ApiError("E00003", f"The element '{name}' in namespace '{ns or ''}' is not expected.")
    elif name == "createTransactionRequest":
        p.transaction_type = _find(root, "transactionRequest/transactionType")
        p.invoice_number = _find(root, "transactionRequest/order/invoiceNumber")
        p.amount = _find(root, "transactionRequest/amount")
    return p


@dataclass(slots=True)
class Reply:
    """A rendered answer plus a one-line, card-free summary for the log."""

    body: bytes
    summary: str
    committed: bool = False  # True when the ledger changed


def _response_name(method: str | None) -> str:
    if method and method.endswith("Request") and method in METHODS:
        return method[: -len("Request")] + "Response"
    return "ErrorResponse"


class Gateway:
    """Dispatches parsed requests to the method handlers."""

    def __init__(self, ledger: Ledger, config: Config) -> None:
        self.ledger = ledger
        self.config = config

    def handle(self, p: Parsed) -> Reply:
        root_name = _response_name(p.method) if p.error is None or p.error.code == "E00003" else "ErrorResponse"
        if p.error is not None:
            ref = wire.peek_ref_id(p.root) if p.root is not None and root_name != "ErrorResponse" else None
            return self._api_error(root_name, ref, p.error, p.method)
        # Parsed without an error: the tree and its method are there.
        assert p.root is not None and p.method is not None
        ref_id = None
        try:
            if p.method == "isAliveRequest":
                ref_id = wire.text(wire.children(p.root, p.method), "refId")
                return Reply(document("isAliveResponse", ref_id, "Ok", "I00001", "Successful."),
                             "isAliveRequest -> Ok I00001")
            env = wire.read_envelope(p.root, p.method)
            ref_id = env.ref_id
            handler = getattr(self, "_" + p.method)
            return handler(env, root_name)
        except ApiError as exc:
            if ref_id is None:
                ref_id = wire.peek_ref_id(p.root)
            return self._api_error(root_name, ref_id, exc, p.method)

    def _api_error(self, root: str, ref_id: str | None, exc: ApiError, method: str | None) -> Reply:
        return Reply(document(root, ref_id, "Error", exc.code, exc.text), f"{method or '?'} -> Error {exc.code}")

    def _authenticate(self, env: wire.Envelope) -> None:
        if env.login != self.config.login_id or env.key != self.config.transaction_key:
            raise ApiError("E00007", E00007)

    # ------------------------------------------------------------------ createTransaction

    def _createTransactionRequest(self, env: wire.Envelope, root: str) -> Reply:
        req = wire.read_transaction_request(env.body["transactionRequest"])
        kind = req.transaction_type
        if kind not in TRANSACTION_TYPES:
            raise ApiError("E00003", (
                f"The '{wire.NS}:transactionType' element is invalid - The value '{kind}' is invalid according "
                f"to its datatype '{wire.NS}:transactionTypeEnum' - The Enumeration constraint failed."))
        if kind not in SUPPORTED_TYPES:
            raise ApiError("E00003", f"The emulator does not implement transactionType '{kind}'.")
        self._authenticate(env)
        out = self.ledger.create(req, env)
        tr = out.txn
        body = document(root, env.ref_id, out.result_code, out.code, out.text, tr.render())
        reason = (tr.errors or tr.messages or [("", "")])[0][0]
        amount = money(req.amount) if req.amount is not None else "-"
        return Reply(body, f"createTransactionRequest {kind} {amount} -> {out.result_code} {out.code} "
                           f"rc={tr.response_code} reason={reason} transId={tr.trans_id}",
                     committed=out.stored is not None)

    # ------------------------------------------------------------------ reporting

    def _getTransactionDetailsRequest(self, env: wire.Envelope, root: str) -> Reply:
        trans_id = wire.numeric_string(env.body, "transId")
        assert trans_id is not None  # a required child: read_envelope's children() checked it
        self._authenticate(env)
        t = self.ledger.get(trans_id)
        if t is None:
            raise ApiError("E00040", "The record cannot be found.")
        inner = self._details(t) + opt("clientId", t.client_id) + opt("transrefId", t.ref_id)
        return Reply(document(root, env.ref_id, "Ok", "I00001", "Successful.", inner),
                     f"getTransactionDetailsRequest -> Ok I00001 transId={trans_id}")

    def _details(self, t: Txn) -> str:
        reason = t.reason_code
        settle = t.settle_amount if t.settle_amount > 0 else t.amount
        parts = [
            "<transaction>", el("transId", t.trans_id), opt("refTransId", t.ref_trans_id),
            el("submitTimeUTC", iso(t.submit_ts)), el("submitTimeLocal", iso(t.submit_ts, local=True)),
            el("transactionType", t.type), el("transactionStatus", t.status),
            el("responseCode", t.response_code), el("responseReasonCode", reason),
            el("responseReasonDescription", tx.DESCRIPTION.get(reason, tx.TEXT.get(reason, ""))),
            opt("authCode", t.auth_code), opt("AVSResponse", t.avs), opt("cardCodeResponse", t.cvv),
            opt("CAVVResponse", t.cavv),
        ]
        settled_at = self.ledger.batch_time(t)
        if t.batch_id is not None and settled_at is not None:
            parts.append(
                f"<batch>{el('batchId', t.batch_id)}{el('settlementTimeUTC', iso(settled_at))}"
                f"{el('settlementTimeLocal', iso(settled_at, local=True))}"
                f"<settlementState>settledSuccessfully</settlementState><paymentMethod>creditCard</paymentMethod>"
                f"<marketType>eCommerce</marketType><product>Card Not Present</product></batch>")
        if t.invoice_number or t.description:
            parts.append(f"<order>{opt('invoiceNumber', t.invoice_number)}{opt('description', t.description)}</order>")
        parts += [
            el("authAmount", money(t.amount)), el("settleAmount", money(settle)),
            f"<payment><creditCard>{el('cardNumber', t.account_number)}<expirationDate>XXXX</expirationDate>"
            f"{el('cardType', t.account_type)}</creditCard></payment>",
        ]
        if t.customer_type or t.customer_id or t.customer_email:
            parts.append(f"<customer>{opt('type', t.customer_type)}{opt('id', t.customer_id)}"
                         f"{opt('email', t.customer_email)}</customer>")
        if t.bill_to:
            parts.append("<billTo>" + "".join(opt(k, t.bill_to.get(k)) for k in wire.ADDRESS_FIELDS) + "</billTo>")
        if t.ship_to:
            parts.append("<shipTo>" + "".join(opt(k, t.ship_to.get(k)) for k in wire.ADDRESS_FIELDS[:8]) + "</shipTo>")
        parts += [
            "<recurringBilling>false</recurringBilling>", opt("customerIP", t.customer_ip),
            "<product>Card Not Present</product><marketType>eCommerce</marketType>",
            opt("networkTransId", t.network_trans_id), "</transaction>",
        ]
        return "".join(parts)

    def _summary(self, t: Txn) -> str:
        settle = t.settle_amount if t.settle_amount > 0 else t.amount
        return (
            f"<transaction>{el('transId', t.trans_id)}{el('submitTimeUTC', iso(t.submit_ts))}"
            f"{el('submitTimeLocal', iso(t.submit_ts, local=True))}{el('transactionStatus', t.status)}"
            f"{opt('invoiceNumber', t.invoice_number)}{opt('firstName', t.bill_to.get('firstName'))}"
            f"{opt('lastName', t.bill_to.get('lastName'))}{el('accountType', t.account_type)}"
            f"{el('accountNumber', t.account_number)}{el('settleAmount', money(settle))}"
            f"<marketType>eCommerce</marketType><product>Card Not Present</product></transaction>"
        )

    def _list(self, env: wire.Envelope, root: str, txns: list[Txn], method: str) -> Reply:
        body = env.body
        order_by, descending = "id", False
        if "sorting" in body:
            s = wire.children(body["sorting"], "sorting")
            sort_field = wire.enum(s, "orderBy", ("id", "submitTimeUTC"), "TransactionListOrderFieldEnum")
            sort_descending = wire.boolean(s, "orderDescending")
            # Both are required children: children() raised when one is missing.
            assert sort_field is not None and sort_descending is not None
            order_by, descending = sort_field, sort_descending
        limit, page = 1000, 1
        if "paging" in body:
            pg = wire.children(body["paging"], "paging")
            page_size = wire.integer(pg, "limit", 1, 1000)
            offset = wire.integer(pg, "offset", 1, 100000)
            assert page_size is not None and offset is not None  # required children, as above
            limit, page = page_size, offset
        self._authenticate(env)
        key = (lambda t: int(t.trans_id)) if order_by == "id" else (lambda t: (t.submit_ts, int(t.trans_id)))
        txns = sorted(txns, key=key, reverse=descending)
        total = len(txns)
        window = txns[(page - 1) * limit: page * limit]
        if not total:
            return Reply(document(root, env.ref_id, "Ok", "I00004", "No records found.",
                                       "<totalNumInResultSet>0</totalNumInResultSet>"),
                         f"{method} -> Ok I00004")
        inner = ("<transactions>" + "".join(self._summary(t) for t in window) + "</transactions>"
                 f"<totalNumInResultSet>{total}</totalNumInResultSet>")
        return Reply(document(root, env.ref_id, "Ok", "I00001", "Successful.", inner),
                     f"{method} -> Ok I00001 total={total}")

    def _getUnsettledTransactionListRequest(self, env: wire.Envelope, root: str) -> Reply:
        status = wire.enum(env.body, "status", ("any", "pendingApproval"), "TransactionGroupStatusEnum")
        txns = [t for t in self.ledger.all() if t.batch_id is None]
        if status == "pendingApproval":
            txns = []  # no fraud filters: nothing is ever held for review
        return self._list(env, root, txns, "getUnsettledTransactionListRequest")

    def _getTransactionListRequest(self, env: wire.Envelope, root: str) -> Reply:
        batch_id = wire.numeric_string(env.body, "batchId")
        if batch_id is None:
            raise ApiError("E00003", f"The element 'getTransactionListRequest' in namespace '{wire.NS}' has "
                                     f"incomplete content. List of possible elements expected: 'batchId' in "
                                     f"namespace '{wire.NS}'.")
        txns = [t for t in self.ledger.all() if t.batch_id == batch_id]
        return self._list(env, root, txns, "getTransactionListRequest")

    def _getSettledBatchListRequest(self, env: wire.Envelope, root: str) -> Reply:
        stats = bool(wire.boolean(env.body, "includeStatistics"))
        first = _datetime(env.body, "firstSettlementDate")
        last = _datetime(env.body, "lastSettlementDate")
        self._authenticate(env)
        now = self.ledger.clock.now()
        if last is None:
            last = now if first is None else first + 31 * 86400
        if first is None:
            first = last - 86400  # default: the last 24 hours
        batches = [b for b in self.ledger.batches if first <= b.settle_ts <= last]
        if not batches:
            return Reply(document(root, env.ref_id, "Ok", "I00004", "No records found."),
                         "getSettledBatchListRequest -> Ok I00004")
        parts = ["<batchList>"]
        for b in batches:
            parts.append(
                f"<batch>{el('batchId', b.batch_id)}{el('settlementTimeUTC', iso(b.settle_ts))}"
                f"{el('settlementTimeLocal', iso(b.settle_ts, local=True))}"
                "<settlementState>settledSuccessfully</settlementState><paymentMethod>creditCard</paymentMethod>"
                "<marketType>eCommerce</marketType><product>Card Not Present</product>")
            if stats:
                parts.append(self._statistics([self.ledger.txns[i] for i in b.trans_ids if i in self.ledger.txns]))
            parts.append("</batch>")
        parts.append("</batchList>")
        return Reply(document(root, env.ref_id, "Ok", "I00001", "Successful.", "".join(parts)),
                     f"getSettledBatchListRequest -> Ok I00001 batches={len(batches)}")

    @staticmethod
    def _statistics(txns: list[Txn]) -> str:
        by_type: dict[str, list] = {}
        for t in txns:
            s = by_type.setdefault(t.account_type or "Visa", [Decimal(0), 0, Decimal(0), 0, 0, 0])
            if t.status == tx.SETTLED:
                s[0] += t.settle_amount
                s[1] += 1
            elif t.status == tx.REFUND_SETTLED:
                s[2] += t.amount
                s[3] += 1
            elif t.status == tx.VOIDED:
                s[4] += 1
            elif t.status == tx.DECLINED:
                s[5] += 1
        out = ["<statistics>"]
        for acct, (ca, cc, ra, rc, vc, dc) in sorted(by_type.items()):
            out.append(
                f"<statistic>{el('accountType', acct)}{el('chargeAmount', money(ca))}{el('chargeCount', cc)}"
                f"{el('refundAmount', money(ra))}{el('refundCount', rc)}{el('voidCount', vc)}"
                f"{el('declineCount', dc)}<errorCount>0</errorCount></statistic>")
        out.append("</statistics>")
        return "".join(out)

    def _authenticateTestRequest(self, env: wire.Envelope, root: str) -> Reply:
        self._authenticate(env)
        return Reply(document(root, env.ref_id, "Ok", "I00001", "Successful."),
                     "authenticateTestRequest -> Ok I00001")


def _datetime(parent: dict, name: str) -> float | None:
    value = wire.text(parent, name)
    if value is None:
        return None
    try:
        d = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError("E00003", (
            f"The '{wire.NS}:{name}' element is invalid - The value '{value}' is invalid according to its "
            f"datatype 'DateTime' - The string '{value}' is not a valid DateTime value.")) from None
    if d.tzinfo is None:
        d = d.replace(tzinfo=dt.timezone.utc)
    return d.timestamp()
