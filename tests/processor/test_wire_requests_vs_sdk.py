"""Every request the client builds reads back through the official SDK to the same elements.

Each body must be accepted by the SDK's ``CreateFromDocument`` and read to exactly our elements and
texts; its element order must follow the schema sequences as the SDK's bindings list them (the
gateway answers a misplaced element with E00003, and CreateFromDocument alone lets some through).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import httpx
import pytest
from lxml import etree

from engine.processor import Billing, Card, OpaqueData, Outcome, RequestBuildError, wire

from . import bodies, sdk_oracle
from .helpers import KEY, LOGIN, NONCE, PAN, Recorder, card_request, make_client

FULL_BILLING = Billing(first_name="Ada", last_name="Lovelace", line1="1 Main St", city="Indianapolis",
                       state="IN", postal_code="46201", country="US")


def _answer_for(request) -> bytes:
    root = etree.QName(etree.fromstring(request.content)).localname
    return httpx.Response(200, content={
        "createTransactionRequest": bodies.approved(),
        "getTransactionDetailsRequest": bodies.details(),
        "getUnsettledTransactionListRequest": bodies.unsettled(),
        "getTransactionListRequest": bodies.api_error("E00003", root="getTransactionListResponse"),
        "getSettledBatchListRequest": bodies.api_error("E00003", root="getSettledBatchListResponse"),
    }[root])


CALLS = {
    "card_sale_full": lambda c: c.charge(card_request()),
    "card_auth_minimal": lambda c: c.charge(card_request(capture=False, billing=None, customer_id=None,
                                                         description=None, ref_id=None, payment=Card(PAN, 1, 2031))),
    "card_with_cvc_no_billing": lambda c: c.charge(card_request(billing=None)),
    "card_partial_billing": lambda c: c.charge(card_request(billing=Billing(postal_code="46282", first_name="A"))),
    "card_billing_country_only": lambda c: c.charge(card_request(billing=Billing(country="GB"), customer_id=None)),
    "card_full_billing_no_description": lambda c: c.charge(card_request(billing=FULL_BILLING, description=None)),
    "card_escaped_and_unicode": lambda c: c.charge(card_request(
        description='ns1: <b>&amp; "x" \u00e9\u4e2d', billing=Billing(first_name="Zo\u00eb", city="S\u00e3o Paulo"))),
    "card_jpy": lambda c: c.charge(card_request(amount_minor=1250, currency="JPY", exponent=0)),
    "card_bhd_3_decimals": lambda c: c.charge(card_request(amount_minor=12345, currency="BHD", exponent=3)),
    "card_zero_amount": lambda c: c.charge(card_request(amount_minor=0)),
    "card_large_amount": lambda c: c.charge(card_request(amount_minor=99_999_999_999)),
    "card_max_lengths": lambda c: c.charge(card_request(
        invoice_number="I" * 20, ref_id="R" * 20, customer_id="C" * 20, description="D" * 255,
        billing=Billing(first_name="F" * 50, last_name="L" * 50, line1="A" * 60, city="C" * 40, state="S" * 40,
                        postal_code="Z" * 20, country="K" * 60))),
    "opaque_sale": lambda c: c.charge(card_request(payment=OpaqueData("COMMON.ACCEPT.INAPP.PAYMENT", NONCE))),
    "opaque_auth_no_billing": lambda c: c.charge(card_request(
        capture=False, billing=None, payment=OpaqueData("COMMON.VCO.ONLINE.PAYMENT", NONCE))),
    "capture_partial": lambda c: c.capture("60012345678", 1000, "USD", 2, invoice_number="INV-0001", ref_id="r1"),
    "capture_full": lambda c: c.capture("60012345678", None, "USD", 2),
    "capture_jpy": lambda c: c.capture("60012345678", 500, "JPY", 0),
    "void": lambda c: c.void("60012345678"),
    "void_with_ref": lambda c: c.void("60012345678", ref_id="void-1"),
    "refund_last4": lambda c: c.refund("60012345678", 500, "USD", 2, "1111"),
    "refund_masked": lambda c: c.refund("60012345678", 500, "USD", 2, "XXXX1111", ref_id="rf"),
    "refund_with_invoice": lambda c: c.refund("60012345678", 1250, "JPY", 0, "1111", invoice_number="RF-1"),
    "details": lambda c: c.get_transaction_details("60012345678"),
    "unsettled_default": lambda c: c.list_unsettled(),
    "unsettled_page": lambda c: c.list_unsettled(limit=50, offset=2),
    "unsettled_bounds": lambda c: c.list_unsettled(limit=1, offset=100_000),
    "settled_batches_default": lambda c: c.list_settled_batches(),
    "settled_batches_range": lambda c: c.list_settled_batches(
        first=datetime(2024, 5, 1, tzinfo=UTC), last=datetime(2024, 5, 31, 23, 59, 59, tzinfo=UTC)),
    "settled_batches_offset_tz": lambda c: c.list_settled_batches(
        first=datetime(2024, 5, 1, 2, 0, tzinfo=timezone(timedelta(hours=2)))),
    "batch_transactions": lambda c: c.list_batch_transactions("12345678"),
    "batch_transactions_page": lambda c: c.list_batch_transactions("12345678", limit=250, offset=3),
}


async def built_body(name: str) -> bytes:
    recorder = Recorder([_answer_for])
    client = make_client(recorder)
    try:
        await CALLS[name](client)
    finally:
        await client.aclose()
    assert len(recorder.requests) == 1
    return recorder.bodies[0]


@pytest.mark.parametrize("name", sorted(CALLS))
async def test_request_reads_back_identically_through_the_sdk(name):
    body = await built_body(name)
    assert body.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    ours = sdk_oracle.fields(body)
    assert ours == sdk_oracle.sdk_fields(body)
    assert sdk_oracle.schema_order_violations(body) == []
    assert ("/".join([ours[0][0], "merchantAuthentication", "name"]), LOGIN) in ours
    assert ("/".join([ours[0][0], "merchantAuthentication", "transactionKey"]), KEY) in ours


async def test_charge_field_values_through_the_sdk():
    request = card_request(billing=FULL_BILLING)
    sdk = sdk_oracle.sdk_object(await built_body("card_full_billing_no_description"))
    tx = sdk.transactionRequest
    assert (sdk.merchantAuthentication.name, sdk.merchantAuthentication.transactionKey) == (LOGIN, KEY)
    assert sdk.refId == request.ref_id
    assert tx.transactionType == "authCaptureTransaction"
    assert tx.amount == Decimal("12.50") and tx.currencyCode == "USD"
    assert (tx.payment.creditCard.cardNumber, tx.payment.creditCard.expirationDate) == (PAN, "2035-12")
    assert tx.order.invoiceNumber == request.invoice_number and tx.order.description is None
    assert tx.customer.id == request.customer_id
    bill = tx.billTo
    assert (bill.firstName, bill.lastName, bill.address, bill.city, bill.state, bill.zip, bill.country) == (
        "Ada", "Lovelace", "1 Main St", "Indianapolis", "IN", "46201", "US")
    [setting] = tx.transactionSettings.setting
    assert (setting.settingName, setting.settingValue) == ("duplicateWindow", "600")


async def test_opaque_refund_and_report_values_through_the_sdk():
    opaque = sdk_oracle.sdk_object(await built_body("opaque_sale")).transactionRequest.payment.opaqueData
    assert (opaque.dataDescriptor, opaque.dataValue) == ("COMMON.ACCEPT.INAPP.PAYMENT", NONCE)
    refund = sdk_oracle.sdk_object(await built_body("refund_with_invoice")).transactionRequest
    assert (refund.transactionType, refund.refTransId, refund.amount) == ("refundTransaction", "60012345678", 1250)
    assert (refund.payment.creditCard.cardNumber, refund.payment.creditCard.expirationDate) == ("1111", "XXXX")
    assert refund.order.invoiceNumber == "RF-1"
    # (cardCode, paging and sorting are among the elements PyXB parses without binding them to their
    # properties; test_request_reads_back_identically_through_the_sdk compares them.)
    batches = sdk_oracle.sdk_fields(await built_body("settled_batches_offset_tz"))
    assert batches[4:] == [("getSettledBatchListRequest/firstSettlementDate", "2024-05-01T00:00:00Z")]  # 02:00+02:00
    paged = sdk_oracle.sdk_fields(await built_body("batch_transactions_page"))
    assert [(path.rsplit("/", 1)[1], text) for path, text in paged[4:]] == [
        ("batchId", "12345678"), ("sorting", None), ("orderBy", "submitTimeUTC"), ("orderDescending", "true"),
        ("paging", None), ("limit", "250"), ("offset", "3")]


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: wire.build_refund(wire.Credentials(LOGIN, KEY), "1", "1.00", "USD", "4" * 17, None, None, None),
         "cardNumber"),
        (lambda: wire.build_void(wire.Credentials("L" * 26, KEY), "1", None), "name"),
        (lambda: wire.build_void(wire.Credentials(LOGIN, "K" * 17), "1", None), "transactionKey"),
        (lambda: wire.build_void(wire.Credentials(LOGIN, KEY), "1", "R" * 21), "refId"),
    ],
)
def test_schema_lengths_are_enforced_without_quoting_values(call, field):
    with pytest.raises(RequestBuildError) as info:
        call()
    assert field in str(info.value)
    assert "4444" not in str(info.value) and "KKKK" not in str(info.value) and "LLLL" not in str(info.value)


def test_control_characters_are_refused_without_quoting_values():
    with pytest.raises(RequestBuildError) as info:
        wire.build_void(wire.Credentials(LOGIN, "Key\x00secret"), "1", None)
    assert "secret" not in str(info.value) and "transactionKey" in str(info.value)


async def test_settlement_range_is_checked_locally(recorder):
    client = make_client(recorder)
    start = datetime(2024, 5, 1, tzinfo=UTC)
    with pytest.raises(ValueError):
        await client.list_settled_batches(first=start, last=start + timedelta(days=31, seconds=1))
    with pytest.raises(ValueError):
        await client.list_settled_batches(first=start, last=start - timedelta(seconds=1))
    with pytest.raises(ValueError):
        await client.list_settled_batches(first=datetime(2024, 5, 1))
    with pytest.raises(ValueError):
        await client.list_batch_transactions("abc")
    with pytest.raises(ValueError):
        await client.list_batch_transactions("1", limit=0)
    await client.aclose()
    assert recorder.requests == []


async def test_batch_list_api_error_is_a_result():
    recorder = Recorder([_answer_for])
    client = make_client(recorder)
    result = await client.list_settled_batches()
    await client.aclose()
    assert (result.outcome, result.reason_code) == (Outcome.ERROR, "E00003")


def test_order_oracle_catches_misplaced_elements():
    body = wire.build_charge(wire.Credentials(LOGIN, KEY), card_request(), 600).body
    late_currency = body.replace(b"<currencyCode>USD</currencyCode>", b"").replace(
        b"</transactionSettings>", b"</transactionSettings><currencyCode>USD</currencyCode>")
    sdk_oracle.sdk_object(late_currency)  # CreateFromDocument accepts it...
    assert sdk_oracle.schema_order_violations(late_currency) == [  # ...the order check does not
        "createTransactionRequest/transactionRequest/currencyCode: out of schema order"]
    swapped = body.replace(b"<firstName>Ada</firstName><lastName>Lovelace</lastName>",
                           b"<lastName>Lovelace</lastName><firstName>Ada</firstName>")
    assert sdk_oracle.schema_order_violations(swapped) == ["createTransactionRequest/transactionRequest/billTo/firstName: out of schema order"]
