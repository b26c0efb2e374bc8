"""Canned Authorize.net response bodies (BOM + declaration).

Shaped after docs/authorizenet.md: "Response framing", "Example answers", "Reporting calls and paging".
"""

from __future__ import annotations

BOM = b"\xef\xbb\xbf"
DECL = '<?xml version="1.0" encoding="utf-8"?>'
NS = (
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    'xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
    'xmlns="AnetApi/xml/v1/schema/AnetApiSchema.xsd"'
)


def envelope(root: str, inner: str, *, bom: bool = True, ns: str = NS) -> bytes:
    text = f"{DECL}<{root} {ns}>{inner}</{root}>"
    return (BOM if bom else b"") + text.encode("utf-8")


def top_messages(result_code: str, code: str, text: str) -> str:
    return f"<messages><resultCode>{result_code}</resultCode><message><code>{code}</code><text>{text}</text></message></messages>"


def tx_response(
    response_code: str,
    *,
    result_code: str = "Ok",
    top_code: str = "I00001",
    top_text: str = "Successful.",
    trans_id: str = "0",
    auth_code: str = "",
    avs: str = "P",
    cvv: str = "",
    ref_trans_id: str = "",
    account: str = "XXXX1111",
    account_type: str = "Visa",
    message: tuple[str, str] | None = None,
    error: tuple[str, str] | None = None,
    ref_id: str | None = None,
    unknown_element: bool = False,
    bom: bool = True,
) -> bytes:
    msgs = (
        f"<messages><message><code>{message[0]}</code><description>{message[1]}</description></message></messages>"
        if message
        else ""
    )
    errs = (
        f"<errors><error><errorCode>{error[0]}</errorCode><errorText>{error[1]}</errorText></error></errors>"
        if error
        else ""
    )
    extra = "<SupplementalDataQualificationIndicator>0</SupplementalDataQualificationIndicator>" if unknown_element else ""
    inner = (
        (f"<refId>{ref_id}</refId>" if ref_id else "")
        + top_messages(result_code, top_code, top_text)
        + "<transactionResponse>"
        f"<responseCode>{response_code}</responseCode>"
        + (f"<authCode>{auth_code}</authCode>" if auth_code else "<authCode/>")
        + f"<avsResultCode>{avs}</avsResultCode>"
        + (f"<cvvResultCode>{cvv}</cvvResultCode>" if cvv else "<cvvResultCode/>")
        + "<cavvResultCode/>"
        f"<transId>{trans_id}</transId>"
        + (f"<refTransID>{ref_trans_id}</refTransID>" if ref_trans_id else "<refTransID/>")
        + "<transHash/><testRequest>0</testRequest>"
        f"<accountNumber>{account}</accountNumber><accountType>{account_type}</accountType>"
        + msgs
        + errs
        + "<transHashSha2/>"
        + extra
        + "<networkTransId>NTID123</networkTransId>"
        "</transactionResponse>"
    )
    return envelope("createTransactionResponse", inner, bom=bom)


def approved(trans_id: str = "60012345678", auth_code: str = "ABC123", **kw) -> bytes:
    kw.setdefault("avs", "Y")
    kw.setdefault("cvv", "M")
    return tx_response(
        "1", trans_id=trans_id, auth_code=auth_code, message=("1", "This transaction has been approved."), **kw
    )


def declined(reason: str = "2", text: str = "This transaction has been declined.", trans_id: str = "60012345679") -> bytes:
    return tx_response("2", trans_id=trans_id, avs="Y", cvv="M", error=(reason, text))


def error(reason: str, text: str, *, trans_id: str = "0", ref_trans_id: str = "", auth_code: str = "") -> bytes:
    return tx_response(
        "3",
        result_code="Error",
        top_code="E00027",
        top_text="The transaction was unsuccessful.",
        trans_id=trans_id,
        ref_trans_id=ref_trans_id,
        auth_code=auth_code,
        error=(reason, text),
    )


def duplicate(original_trans_id: str = "60012345678", auth_code: str = "ABC123") -> bytes:
    return tx_response(
        "3",
        result_code="Error",
        top_code="E00027",
        top_text="The transaction was unsuccessful.",
        trans_id=original_trans_id,
        auth_code=auth_code,
        avs="Y",
        cvv="M",
        error=("11", "A duplicate transaction has been submitted."),
    )


def held(reason: str = "253") -> bytes:
    return tx_response(
        "4",
        trans_id="60012345680",
        auth_code="HLD001",
        avs="Y",
        message=(reason, "Your order has been received. Thank you for your business!"),
    )


def already_captured(trans_id: str = "60012345678") -> bytes:
    return tx_response(
        "1",
        top_text="This transaction has already been captured.",
        trans_id=trans_id,
        ref_trans_id=trans_id,
        auth_code="ABC123",
        message=("311", "This transaction has already been captured."),
    )


def api_error(code: str = "E00007", text: str = "User authentication failed due to invalid authentication values.", *, root: str = "createTransactionResponse", decl_upper: bool = False) -> bytes:
    """No transactionResponse: schema-invalid for the bindings (the SDK's fallback path)."""
    body = envelope(root, "<refId>ref1</refId>" + top_messages("Error", code, text), ns='xmlns="AnetApi/xml/v1/schema/AnetApiSchema.xsd"')
    return body.replace(b'encoding="utf-8"', b'encoding="UTF-8"') if decl_upper else body


def details(
    trans_id: str = "60012345678",
    *,
    status: str = "capturedPendingSettlement",
    tx_type: str = "authCaptureTransaction",
    auth_code: str = "000123",
    auth_amount: str = "12.50",
    settle_amount: str = "12.50",
    invoice: str = "INV-1",
    submit: str = "2024-05-01T10:20:30.123Z",
    batch: str | None = None,
    ref_trans_id: str | None = None,
) -> bytes:
    inner = (
        top_messages("Ok", "I00001", "Successful.")
        + "<transaction>"
        f"<transId>{trans_id}</transId>"
        + (f"<refTransId>{ref_trans_id}</refTransId>" if ref_trans_id else "")
        + f"<submitTimeUTC>{submit}</submitTimeUTC><submitTimeLocal>2024-05-01T03:20:30.123</submitTimeLocal>"
        f"<transactionType>{tx_type}</transactionType><transactionStatus>{status}</transactionStatus>"
        "<responseCode>1</responseCode><responseReasonCode>1</responseReasonCode>"
        "<responseReasonDescription>Approval</responseReasonDescription>"
        f"<authCode>{auth_code}</authCode><AVSResponse>Y</AVSResponse><cardCodeResponse>M</cardCodeResponse>"
        + (
            f"<batch><batchId>{batch}</batchId><settlementTimeUTC>2024-05-02T01:00:00Z</settlementTimeUTC>"
            "<settlementTimeLocal>2024-05-01T18:00:00</settlementTimeLocal><settlementState>settledSuccessfully</settlementState></batch>"
            if batch
            else ""
        )
        + f"<order><invoiceNumber>{invoice}</invoiceNumber><description>desc</description></order>"
        f"<authAmount>{auth_amount}</authAmount><settleAmount>{settle_amount}</settleAmount>"
        "<taxExempt>false</taxExempt>"
        "<payment><creditCard><cardNumber>XXXX1111</cardNumber><expirationDate>XXXX</expirationDate><cardType>Visa</cardType></creditCard></payment>"
        "<recurringBilling>false</recurringBilling><product>Card Not Present</product><marketType>eCommerce</marketType>"
        "</transaction><transrefId>ref1</transrefId>"
    )
    return envelope("getTransactionDetailsResponse", inner)


def unsettled(*rows: tuple[str, str, str, str], root: str = "getUnsettledTransactionListResponse") -> bytes:
    """rows: (transId, status, invoiceNumber, settleAmount)."""
    txs = "".join(
        f"<transaction><transId>{t}</transId><submitTimeUTC>2024-05-01T10:20:30Z</submitTimeUTC>"
        f"<submitTimeLocal>2024-05-01T03:20:30</submitTimeLocal><transactionStatus>{s}</transactionStatus>"
        f"<invoiceNumber>{i}</invoiceNumber><firstName>Ada</firstName><lastName>L</lastName>"
        f"<accountType>Visa</accountType><accountNumber>XXXX1111</accountNumber><settleAmount>{a}</settleAmount>"
        "<marketType>eCommerce</marketType><product>Card Not Present</product></transaction>"
        for t, s, i, a in rows
    )
    inner = top_messages("Ok", "I00001", "Successful.")
    if rows:
        inner += f"<transactions>{txs}</transactions>"
    inner += f"<totalNumInResultSet>{len(rows)}</totalNumInResultSet>"
    return envelope(root, inner)


def transaction_list(*rows: tuple[str, str, str, str]) -> bytes:
    """getTransactionList: the unsettled list's row shape for one settled batch."""
    return unsettled(*rows, root="getTransactionListResponse")


def settled_batches(*rows: tuple[str, str]) -> bytes:
    """rows: (batchId, settlementTimeUTC)."""
    batches = "".join(
        f"<batch><batchId>{b}</batchId><settlementTimeUTC>{t}</settlementTimeUTC>"
        "<settlementTimeLocal>2024-05-01T18:00:00</settlementTimeLocal><settlementState>settledSuccessfully"
        "</settlementState><paymentMethod>creditCard</paymentMethod><marketType>eCommerce</marketType>"
        "<product>Card Not Present</product></batch>"
        for b, t in rows
    )
    if not rows:
        return envelope("getSettledBatchListResponse", top_messages("Ok", "I00004", "No records found."))
    return envelope("getSettledBatchListResponse",
                    top_messages("Ok", "I00001", "Successful.") + f"<batchList>{batches}</batchList>")
