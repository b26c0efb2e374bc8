"""Wire format: framing, API-level errors (E00002/3/4/7), schema order, ASCII.

See docs/authorizenet.md: "One endpoint, the root element names the call", "Element order",
"API message codes", "Response framing".
"""

from __future__ import annotations

import pytest

from .conftest import Emulator
from .helpers import KEY, LOGIN, NS, charge, envelope, read, txn

XSI = 'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema" '


def test_framing_bom_declaration_root_namespaces(emu: Emulator) -> None:
    r = emu.post(charge())
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/xml; charset=utf-8"
    assert r.content.startswith(b'\xef\xbb\xbf<?xml version="1.0" encoding="utf-8"?><createTransactionResponse '
                                + XSI.encode() + f'xmlns="{NS}">'.encode())


@pytest.mark.parametrize("ctype", ["text/xml", "application/xml", "text/xml; charset=utf-8"])
def test_accepted_content_types(emu: Emulator, ctype: str) -> None:
    assert read(emu.post(charge(), content_type=ctype)).result_code == "Ok"


@pytest.mark.parametrize("ctype", ["application/json", "text/plain", "application/x-www-form-urlencoded"])
def test_other_content_type_is_e00002(emu: Emulator, ctype: str) -> None:
    a = read(emu.post(charge(), content_type=ctype))
    assert a.name == "ErrorResponse"
    assert (a.result_code, a.code) == ("Error", "E00002")
    assert a.text == "The content-type specified is not supported."
    assert emu.ledger() == []


def test_unknown_method_is_e00004(emu: Emulator) -> None:
    a = emu.call(envelope("chargeMyCardRequest", "<x>1</x>"))
    assert a.name == "ErrorResponse"
    assert (a.result_code, a.code) == ("Error", "E00004")


@pytest.mark.parametrize("body", [b"", b"<createTransactionRequest", b"not xml at all",
                                  b'<?xml version="1.0"?><a><b></a>'])
def test_malformed_xml_is_e00003(emu: Emulator, body: bytes) -> None:
    a = emu.call(body)
    assert (a.result_code, a.code) == ("Error", "E00003")
    assert a.find("transactionResponse") is None


def test_wrong_namespace_is_e00003(emu: Emulator) -> None:
    a = emu.call(envelope("createTransactionRequest", "<transactionRequest/>", ns="urn:other"))
    assert a.code == "E00003"


def test_element_out_of_order_is_e00003_with_validator_text(emu: Emulator) -> None:
    body = envelope("createTransactionRequest",
                    "<transactionRequest><transactionType>authCaptureTransaction</transactionType>"
                    "<amount>5.00</amount><billTo><zip>10001</zip></billTo>"
                    "<order><invoiceNumber>X</invoiceNumber></order></transactionRequest>", ref_id="ooo")
    a = emu.call(body)
    assert a.name == "createTransactionResponse"
    assert (a.result_code, a.code) == ("Error", "E00003")
    assert a.text.startswith(f"The element 'transactionRequest' in namespace '{NS}' has invalid child element "
                             f"'order' in namespace '{NS}'. List of possible elements expected: 'shipTo, ")
    assert a.find("transactionResponse") is None
    assert a.find("refId") == "ooo"
    assert emu.ledger() == []


def test_envelope_order_matters(emu: Emulator) -> None:
    body = (f'<createTransactionRequest xmlns="{NS}"><refId>1</refId><merchantAuthentication><name>{LOGIN}</name>'
            f"<transactionKey>{KEY}</transactionKey></merchantAuthentication><transactionRequest>"
            "<transactionType>authCaptureTransaction</transactionType></transactionRequest>"
            "</createTransactionRequest>").encode()
    a = emu.call(body)
    assert a.code == "E00003" and "merchantAuthentication" in a.text


def test_missing_required_element_is_e00003(emu: Emulator) -> None:
    a = emu.call(envelope("createTransactionRequest"))
    assert a.code == "E00003"
    assert "has incomplete content" in a.text and "expected: 'refId, transactionRequest'" in a.text
    card_without_exp = envelope("createTransactionRequest", (
        "<transactionRequest><transactionType>authCaptureTransaction</transactionType><amount>1</amount>"
        "<payment><creditCard><cardNumber>4111111111111111</cardNumber></creditCard></payment>"
        "</transactionRequest>"))
    a = emu.call(card_without_exp)
    assert a.code == "E00003" and "'expirationDate'" in a.text
    assert "4111111111111111" not in a.text


@pytest.mark.parametrize("kwargs, field", [
    ({"invoice": "X" * 21}, "invoiceNumber"),
    ({"ref_id": "R" * 21}, "refId"),
    ({"card": "41111111111111111111"}, "cardNumber"),
    ({"amount": "twelve"}, "amount"),
    ({"cvv": "12a"}, "cardCode"),
])
def test_facets_are_e00003(emu: Emulator, kwargs: dict, field: str) -> None:
    a = emu.call(charge(**kwargs))
    assert a.code == "E00003"
    assert f"{NS}:{field}' element is invalid" in a.text
    assert "41111111111111111111" not in a.text  # card values are never echoed


def test_unknown_transaction_type_is_e00003(emu: Emulator) -> None:
    a = emu.call(txn("bogusTransaction", amount="1.00"))
    assert a.code == "E00003" and "Enumeration constraint failed" in a.text


def test_bad_credentials_e00007_without_transaction_response(emu: Emulator) -> None:
    for body in (charge(key="WrongKey12345678"), charge(login="someone-else")):
        a = emu.call(body)
        assert a.name == "createTransactionResponse"
        assert (a.result_code, a.code) == ("Error", "E00007")
        assert a.text == "User authentication failed due to invalid authentication values."
        assert a.find("transactionResponse") is None
        assert a.find("refId") == "r-1"
    assert emu.ledger() == []


def test_schema_errors_win_over_bad_credentials(emu: Emulator) -> None:
    assert emu.call(charge(key="WrongKey", invoice="X" * 21)).code == "E00003"


def test_ref_id_echo_and_absence(emu: Emulator) -> None:
    assert emu.call(charge(ref_id="abc-123")).find("refId") == "abc-123"
    a = emu.call(charge(ref_id=None, invoice="no-ref"))
    assert a.find("refId") is None and b"<refId" not in a.raw


def test_non_ascii_input_is_answered_in_ascii(emu: Emulator) -> None:
    tid = emu.call(charge(first_name="Ærøskøbing Ünïcode", invoice="ascii")).trans_id
    r = emu.post(envelope("getTransactionDetailsRequest", f"<transId>{tid}</transId>"))
    a = read(r)  # read() asserts the body after the BOM is pure ASCII
    assert a.find("transaction/billTo/firstName") == "Ærøskøbing Ünïcode"


def test_xml_entities_are_not_expanded(emu: Emulator) -> None:
    body = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
            + envelope("authenticateTestRequest", ref_id="&e;").split(b"?>", 1)[1])
    a = emu.call(body)
    assert "root:" not in (a.text or "") and b"root:" not in a.raw


def test_get_on_xml_endpoint_is_405(emu: Emulator) -> None:
    assert emu.http.get("/xml/v1/request.api").status_code == 405
