"""Request XML: schema order, exact amounts, invoice/duplicateWindow, refunds with last 4."""

from __future__ import annotations

import pytest
from lxml import etree

from engine.processor import Billing, Card, ChargeRequest, Outcome, RequestBuildError

from . import bodies
from .helpers import CVC, KEY, LOGIN, NONCE, PAN, Recorder, card_request, make_client, nonce_request

NS = "AnetApi/xml/v1/schema/AnetApiSchema.xsd"


def parse(body: bytes) -> etree._Element:
    assert body.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    assert b"<ns1:" not in body and b"xmlns:ns1" not in body
    return etree.fromstring(body)


def children(el: etree._Element) -> list[str]:
    return [etree.QName(c).localname for c in el]


def find(el: etree._Element, *names: str) -> etree._Element:
    for name in names:
        el = el.find(f"{{{NS}}}{name}")
        assert el is not None, name
    return el


async def sent(request: ChargeRequest | None = None, call=None) -> etree._Element:
    recorder = Recorder([bodies.approved()])
    client = make_client(recorder)
    try:
        if call is None:
            result = await client.charge(request or card_request())
        else:
            result = await call(client)
    finally:
        await client.aclose()
    assert result.outcome is Outcome.APPROVED
    assert len(recorder.requests) == 1
    http = recorder.requests[0]
    assert http.method == "POST"
    assert str(http.url) == "https://anet.test/xml/v1/request.api"
    assert http.headers["content-type"] == "application/xml"
    return parse(http.content)


async def test_charge_envelope_and_schema_order():
    root = await sent()
    assert root.tag == f"{{{NS}}}createTransactionRequest"
    assert root.nsmap == {None: NS}
    assert children(root) == ["merchantAuthentication", "refId", "transactionRequest"]
    assert find(root, "merchantAuthentication", "name").text == LOGIN
    assert find(root, "merchantAuthentication", "transactionKey").text == KEY
    assert find(root, "refId").text == "ref-42"
    tx = find(root, "transactionRequest")
    assert children(tx) == [
        "transactionType",
        "amount",
        "currencyCode",
        "payment",
        "order",
        "customer",
        "billTo",
        "transactionSettings",
    ]
    assert find(tx, "transactionType").text == "authCaptureTransaction"
    assert find(tx, "amount").text == "12.50"
    assert find(tx, "currencyCode").text == "USD"
    card = find(tx, "payment", "creditCard")
    assert children(card) == ["cardNumber", "expirationDate", "cardCode"]
    assert find(card, "cardNumber").text == PAN
    assert find(card, "expirationDate").text == "2035-12"
    assert find(card, "cardCode").text == CVC
    assert children(find(tx, "order")) == ["invoiceNumber", "description"]
    assert find(tx, "order", "invoiceNumber").text == "INV-0001"
    assert find(tx, "order", "description").text == "Order 42"
    assert children(find(tx, "customer")) == ["id"]
    assert find(tx, "customer", "id").text == "cust-42"
    bill = find(tx, "billTo")
    assert children(bill) == ["firstName", "lastName", "address", "city", "state", "zip", "country"]
    assert find(bill, "zip").text == "46201"
    assert find(bill, "address").text == "1 Main St"
    setting = find(tx, "transactionSettings", "setting")
    assert find(setting, "settingName").text == "duplicateWindow"
    assert find(setting, "settingValue").text == "600"


async def test_auth_only_minimal_request():
    request = card_request(capture=False, billing=None, customer_id=None, description=None, ref_id=None,
                           payment=Card(PAN, 1, 2031))
    root = await sent(request)
    assert children(root) == ["merchantAuthentication", "transactionRequest"]
    tx = find(root, "transactionRequest")
    assert find(tx, "transactionType").text == "authOnlyTransaction"
    assert children(tx) == ["transactionType", "amount", "currencyCode", "payment", "order", "transactionSettings"]
    assert children(find(tx, "payment", "creditCard")) == ["cardNumber", "expirationDate"]
    assert find(tx, "payment", "creditCard", "expirationDate").text == "2031-01"
    assert children(find(tx, "order")) == ["invoiceNumber"]
    assert find(tx, "transactionSettings", "setting", "settingValue").text == "600"


async def test_partial_billing_keeps_schema_order():
    request = card_request(billing=Billing(postal_code="46282", first_name="A"))
    tx = find(await sent(request), "transactionRequest")
    assert children(find(tx, "billTo")) == ["firstName", "zip"]
    assert find(tx, "billTo", "zip").text == "46282"


@pytest.mark.parametrize(
    ("minor", "currency", "exponent", "expected"),
    [(1250, "USD", 2, "12.50"), (1250, "JPY", 0, "1250"), (1000, "USD", 2, "10.00"), (1, "USD", 2, "0.01"),
     (12345, "BHD", 3, "12.345")],
)
async def test_amount_is_exact_decimal_string(minor, currency, exponent, expected):
    tx = find(await sent(card_request(amount_minor=minor, currency=currency, exponent=exponent)), "transactionRequest")
    assert find(tx, "amount").text == expected
    assert find(tx, "currencyCode").text == currency


async def test_opaque_data_payment():
    tx = find(await sent(nonce_request()), "transactionRequest")
    opaque = find(tx, "payment", "opaqueData")
    assert children(opaque) == ["dataDescriptor", "dataValue"]
    assert find(opaque, "dataDescriptor").text == "COMMON.ACCEPT.INAPP.PAYMENT"
    assert find(opaque, "dataValue").text == NONCE


async def test_resend_is_byte_identical():
    recorder = Recorder([bodies.approved()])
    client = make_client(recorder)
    await client.charge(card_request())
    await client.charge(card_request())
    await client.aclose()
    assert recorder.bodies[0] == recorder.bodies[1]


async def test_values_are_xml_escaped_and_ns1_text_survives():
    request = card_request(description="ns1: <b>&amp; \"x\"", billing=Billing(first_name="Zoë"))
    tx = find(await sent(request), "transactionRequest")
    assert find(tx, "order", "description").text == 'ns1: <b>&amp; "x"'
    assert find(tx, "billTo", "firstName").text == "Zoë"


async def test_capture_request():
    root = await sent(call=lambda c: c.capture("60012345678", 1000, "USD", 2, invoice_number="INV-0001", ref_id="r1"))
    assert children(root) == ["merchantAuthentication", "refId", "transactionRequest"]
    tx = find(root, "transactionRequest")
    assert children(tx) == ["transactionType", "amount", "currencyCode", "refTransId", "order"]
    assert find(tx, "transactionType").text == "priorAuthCaptureTransaction"
    assert find(tx, "amount").text == "10.00"
    assert find(tx, "refTransId").text == "60012345678"
    assert find(tx, "order", "invoiceNumber").text == "INV-0001"


async def test_capture_full_amount_omits_amount():
    tx = find(await sent(call=lambda c: c.capture("60012345678", None, "USD", 2)), "transactionRequest")
    assert children(tx) == ["transactionType", "refTransId"]


async def test_void_request():
    tx = find(await sent(call=lambda c: c.void("60012345678")), "transactionRequest")
    assert children(tx) == ["transactionType", "refTransId"]
    assert find(tx, "transactionType").text == "voidTransaction"


@pytest.mark.parametrize("last4", ["1111", "XXXX1111"])
async def test_refund_uses_last4_and_xxxx(last4):
    tx = find(await sent(call=lambda c: c.refund("60012345678", 500, "USD", 2, last4)), "transactionRequest")
    assert children(tx) == ["transactionType", "amount", "currencyCode", "payment", "refTransId"]
    assert find(tx, "transactionType").text == "refundTransaction"
    assert find(tx, "amount").text == "5.00"
    card = find(tx, "payment", "creditCard")
    assert children(card) == ["cardNumber", "expirationDate"]
    assert find(card, "cardNumber").text == "1111"
    assert find(card, "expirationDate").text == "XXXX"


async def test_refund_with_invoice_sends_duplicate_window():
    tx = find(
        await sent(call=lambda c: c.refund("60012345678", 1250, "JPY", 0, "1111", invoice_number="RF-1")),
        "transactionRequest",
    )
    assert children(tx) == ["transactionType", "amount", "currencyCode", "payment", "refTransId", "order", "transactionSettings"]
    assert find(tx, "amount").text == "1250"
    assert find(tx, "transactionSettings", "setting", "settingValue").text == "600"


async def test_details_and_list_requests():
    recorder = Recorder([bodies.details()])
    client = make_client(recorder)
    await client.get_transaction_details("60012345678")
    recorder.steps = [bodies.unsettled()]
    await client.list_unsettled(limit=50, offset=2)
    await client.aclose()
    details = parse(recorder.bodies[0])
    assert details.tag == f"{{{NS}}}getTransactionDetailsRequest"
    assert children(details) == ["merchantAuthentication", "transId"]
    assert find(details, "transId").text == "60012345678"
    listing = parse(recorder.bodies[1])
    assert listing.tag == f"{{{NS}}}getUnsettledTransactionListRequest"
    assert children(listing) == ["merchantAuthentication", "sorting", "paging"]
    assert find(listing, "sorting", "orderBy").text == "submitTimeUTC"
    assert find(listing, "sorting", "orderDescending").text == "true"
    assert find(listing, "paging", "limit").text == "50"
    assert find(listing, "paging", "offset").text == "2"


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(invoice_number="X" * 21),
        dict(invoice_number=""),
        dict(ref_id="R" * 21),
        dict(customer_id="C" * 21),
        dict(description="D" * 256),
        dict(amount_minor=-1),
        dict(currency="usd"),
        dict(exponent=5),
        dict(billing=None, payment=None),
    ],
)
def test_invalid_charge_requests_are_rejected_locally(kwargs):
    with pytest.raises((ValueError, TypeError)):
        card_request(**kwargs)


def test_amount_must_be_int_not_float():
    with pytest.raises(TypeError):
        card_request(amount_minor=12.5)


@pytest.mark.parametrize(
    "args",
    [("41111111111111112222", 12, 2030, None), ("41111111111", 12, 2030, None), ("4111-1111", 12, 2030, None), (PAN, 13, 2030, None),
     (PAN, 12, 30, None), (PAN, 12, 2030, "12"), (PAN, 12, 2030, "12345")],
)
def test_invalid_cards_rejected_without_echoing_values(args):
    with pytest.raises(ValueError) as info:
        Card(*args)
    assert args[0] not in str(info.value)
    if args[3]:
        assert args[3] not in str(info.value)


async def test_invalid_reference_arguments(recorder):
    client = make_client(recorder)
    with pytest.raises(ValueError):
        await client.void("abc")
    with pytest.raises(ValueError):
        await client.void("0")
    with pytest.raises(ValueError):
        await client.refund("123", 100, "USD", 2, "11")
    with pytest.raises(ValueError):
        await client.list_unsettled(limit=1001)
    await client.aclose()
    assert recorder.requests == []


def test_binding_errors_do_not_quote_values():
    # Bypass our own validation to reach a PyXB facet error; the message must not echo the value.
    from engine.processor import wire

    secret = "4" * 40
    with pytest.raises(RequestBuildError) as info:
        wire.build_refund(wire.Credentials(LOGIN, KEY), "1", "1.00", "USD", secret, None, None, None)
    assert secret not in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__


async def test_card_number_over_schema_limit_is_rejected_locally(recorder):
    long_pan = "4111111111111111113"  # 19 digits: a valid Card, but the XSD caps cardNumber at 16
    client = make_client(recorder)
    result = await client.charge(card_request(payment=Card(long_pan, 12, 2035, CVC)))
    await client.aclose()
    assert result.outcome is Outcome.ERROR and result.reason_code is None
    assert "not sent" in result.error and long_pan not in result.error
    assert recorder.requests == []
