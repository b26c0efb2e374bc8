"""Map parsed Authorize.net responses to :mod:`engine.processor.types` values.

Outcome rules for ``createTransactionResponse`` (docs/authorizenet.md, "Response codes we act on"):

=========================================  ==========================================
response                                   outcome
=========================================  ==========================================
responseCode 1 (incl. 310/311 "already")   APPROVED (reason_code keeps 1/310/311)
responseCode 2                             DECLINED
responseCode 3, error 11                   DUPLICATE (transaction_id = original's, if ≠ 0)
responseCode 3, anything else              ERROR
responseCode 4                             HELD
no transactionResponse, resultCode Error   ERROR, reason_code = API code (E00007...)
anything else (no/odd responseCode...)     raises ResponseParseError → caller: UNKNOWN
=========================================  ==========================================
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from .amounts import parse_wire_amount
from .types import BatchSummary, Outcome, TransactionDetails, TransactionResult, TransactionSummary
from .wire import Document, ResponseParseError, get

log = logging.getLogger(__name__)

_OUTCOMES = {1: Outcome.APPROVED, 2: Outcome.DECLINED, 3: Outcome.ERROR, 4: Outcome.HELD}


def _transaction_id(text: str | None) -> str | None:
    if text is None:
        return None
    text = text.strip()
    return None if text in ("", "0") else text


def _check_root(doc: Document, expected: str) -> None:
    if doc.root_name not in (expected, "ErrorResponse"):
        raise ResponseParseError(f"unexpected response root element {doc.root_name!r} (wanted {expected!r})")


def _api_error(doc: Document) -> TransactionResult:
    code = doc.get("messages", "message", "code")
    return TransactionResult(
        outcome=Outcome.ERROR,
        reason_code=code,
        reason_text=doc.get("messages", "message", "text"),
        message_code=code,
    )


def transaction_result(doc: Document) -> TransactionResult:
    _check_root(doc, "createTransactionResponse")
    result_code = doc.get("messages", "resultCode")
    tr = doc.root.child("transactionResponse")
    if tr is None:
        if result_code == "Error":
            return _api_error(doc)
        raise ResponseParseError(f"resultCode {result_code!r} without a transactionResponse")
    raw = get(tr, "responseCode")
    try:
        response_code = int(raw) if raw is not None else None
    except ValueError:
        response_code = None
    if response_code not in _OUTCOMES:
        raise ResponseParseError("transactionResponse has no recognisable responseCode")

    message = (get(tr, "messages", "message", "code"), get(tr, "messages", "message", "description"))
    error = (get(tr, "errors", "error", "errorCode"), get(tr, "errors", "error", "errorText"))
    if response_code in (1, 4):
        reason_code, reason_text = message if message[0] is not None else error
    else:
        reason_code, reason_text = error if error[0] is not None else message

    outcome = _OUTCOMES[response_code]
    if response_code == 3 and reason_code == "11":
        outcome = Outcome.DUPLICATE

    return TransactionResult(
        outcome=outcome,
        transaction_id=_transaction_id(get(tr, "transId")),
        auth_code=get(tr, "authCode"),
        avs_result=get(tr, "avsResultCode"),
        cvv_result=get(tr, "cvvResultCode"),
        response_code=response_code,
        reason_code=reason_code,
        reason_text=reason_text,
        message_code=doc.get("messages", "message", "code"),
        account_number=get(tr, "accountNumber"),
        account_type=get(tr, "accountType"),
        ref_transaction_id=_transaction_id(get(tr, "refTransID")),
    )


def _utc(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        log.warning("unparseable submitTimeUTC from Authorize.net: %r", text)
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _minor(text: str | None, exponent: int, field: str) -> int | None:
    if text is None:
        return None
    try:
        return parse_wire_amount(text, exponent)
    except ValueError:
        log.warning("Authorize.net %s %r does not fit currency exponent %d", field, text, exponent)
        return None


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def transaction_details(doc: Document, exponent: int) -> TransactionDetails | TransactionResult:
    _check_root(doc, "getTransactionDetailsResponse")
    if doc.get("messages", "resultCode") != "Ok":
        return _api_error(doc)
    t = doc.root.child("transaction")
    if t is None:
        raise ResponseParseError("getTransactionDetailsResponse without a transaction")
    transaction_id = get(t, "transId")
    status = get(t, "transactionStatus")
    if transaction_id is None or status is None:
        raise ResponseParseError("transaction details lack transId or transactionStatus")
    return TransactionDetails(
        transaction_id=transaction_id,
        status=status,
        transaction_type=get(t, "transactionType") or "",
        response_code=_int(get(t, "responseCode")),
        reason_code=get(t, "responseReasonCode"),
        auth_code=get(t, "authCode"),
        avs_result=get(t, "AVSResponse"),
        cvv_result=get(t, "cardCodeResponse"),
        invoice_number=get(t, "order", "invoiceNumber"),
        auth_amount_minor=_minor(get(t, "authAmount"), exponent, "authAmount"),
        settle_amount_minor=_minor(get(t, "settleAmount"), exponent, "settleAmount"),
        submitted_at=_utc(get(t, "submitTimeUTC")),
        ref_transaction_id=_transaction_id(get(t, "refTransId")),
        batch_id=get(t, "batch", "batchId"),
        account_number=get(t, "payment", "creditCard", "cardNumber"),
        ref_id=doc.get("transrefId"),
    )


_SUMMARY_FIELDS = ("transId", "transactionStatus", "invoiceNumber", "settleAmount", "submitTimeUTC", "accountNumber")
_BATCH_FIELDS = ("batchId", "settlementTimeUTC", "settlementState")


def _summary(row: dict[str, str | None], exponent: int) -> TransactionSummary | None:
    transaction_id = row.get("transId")
    if transaction_id is None:
        return None
    return TransactionSummary(
        transaction_id=transaction_id,
        status=row.get("transactionStatus") or "",
        invoice_number=row.get("invoiceNumber"),
        settle_amount_minor=_minor(row.get("settleAmount"), exponent, "settleAmount"),
        submitted_at=_utc(row.get("submitTimeUTC")),
        account_number=row.get("accountNumber"),
    )


def _summaries(doc: Document, root: str, exponent: int) -> list[TransactionSummary] | TransactionResult:
    _check_root(doc, root)
    if doc.get("messages", "resultCode") != "Ok":
        return _api_error(doc)
    transactions = doc.root.child("transactions")
    if transactions is None:
        return []
    out = []
    for row in transactions.records("transaction", _SUMMARY_FIELDS):
        summary = _summary(row, exponent)
        if summary is not None:
            out.append(summary)
    return out


def unsettled_list(doc: Document, exponent: int) -> list[TransactionSummary] | TransactionResult:
    return _summaries(doc, "getUnsettledTransactionListResponse", exponent)


def batch_transaction_list(doc: Document, exponent: int) -> list[TransactionSummary] | TransactionResult:
    return _summaries(doc, "getTransactionListResponse", exponent)


def settled_batches(doc: Document) -> list[BatchSummary] | TransactionResult:
    _check_root(doc, "getSettledBatchListResponse")
    if doc.get("messages", "resultCode") != "Ok":
        return _api_error(doc)
    batches = doc.root.child("batchList")
    if batches is None:
        return []
    out = []
    for row in batches.records("batch", _BATCH_FIELDS):
        batch_id = row.get("batchId")
        if batch_id is not None:
            out.append(
                BatchSummary(
                    batch_id=batch_id,
                    settled_at=_utc(row.get("settlementTimeUTC")),
                    state=row.get("settlementState") or "",
                )
            )
    return out
