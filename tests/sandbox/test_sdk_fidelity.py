"""The official SDK (authorizenet 1.1.6) against the emulator: responses must take the strict PyXB path.

The SDK strips 3 characters (the BOM), validates with PyXB, and on failure logs
"Create Document Exception" on logger ``authorizenet.sdk`` and falls back to a raw
objectify parse. For valid responses the fallback must not happen (docs/authorizenet.md, "The official
SDK's transport and parser").
"""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest

from authorizenet import apicontractsv1 as c
from authorizenet import apicontrollers as ctl

from .conftest import Emulator
from .helpers import KEY, LOGIN



@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(var, raising=False)


def _auth(key: str = KEY):
    a = c.merchantAuthenticationType()
    a.name = LOGIN
    a.transactionKey = key
    return a


def _run(emu: Emulator, controller):
    # After construction: the SDK resets it in __init__ (docs/authorizenet.md, "The official SDK's
    # transport and parser").
    controller.setenvironment(emu.url)
    controller.execute()
    return controller


def _create(emu: Emulator, tr, key: str = KEY, ref_id: str = "sdk-ref"):
    req = c.createTransactionRequest()
    req.merchantAuthentication = _auth(key)
    req.refId = ref_id
    req.transactionRequest = tr
    return _run(emu, ctl.createTransactionController(req))


def _card_request(ttype: str, amount: str, zip_code: str = "10001", invoice: str = "SDK-1"):
    cc = c.creditCardType()
    cc.cardNumber = "4111111111111111"
    cc.expirationDate = "2035-12"
    cc.cardCode = "123"
    pay = c.paymentType()
    pay.creditCard = cc
    tr = c.transactionRequestType()
    tr.transactionType = ttype
    tr.amount = Decimal(amount)
    tr.payment = pay
    order = c.orderType()
    order.invoiceNumber = invoice
    order.description = "sdk test"
    tr.order = order
    cust = c.customerDataType()
    cust.type = "individual"
    cust.id = "99"
    cust.email = "a@example.com"
    tr.customer = cust
    bill = c.customerAddressType()
    bill.firstName = "Ada"
    bill.lastName = "Lovelace"
    bill.zip = zip_code
    tr.billTo = bill
    setting = c.settingType()
    setting.settingName = "duplicateWindow"
    setting.settingValue = "600"
    settings = c.ArrayOfSetting()
    settings.setting.append(setting)
    tr.transactionSettings = settings
    return tr


def _ref_request(ttype: str, ref: str, amount: str | None = None, last4: str | None = None):
    tr = c.transactionRequestType()
    tr.transactionType = ttype
    if amount is not None:
        tr.amount = Decimal(amount)
    if last4 is not None:
        cc = c.creditCardType()
        cc.cardNumber = last4
        cc.expirationDate = "XXXX"
        pay = c.paymentType()
        pay.creditCard = cc
        tr.payment = pay
    tr.refTransId = ref
    return tr


def _fallbacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "authorizenet.sdk" and r.levelno >= logging.ERROR]


def _strict(k, caplog: pytest.LogCaptureFixture) -> None:
    assert k._response is not None, "PyXB did not parse the response"
    assert not [m for m in _fallbacks(caplog) if "Create Document Exception" in m], _fallbacks(caplog)


def test_sdk_approved_auth_capture(emu: Emulator, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="authorizenet.sdk")
    k = _create(emu, _card_request("authCaptureTransaction", "12.50"))
    r = k.getresponse()
    _strict(k, caplog)
    assert r.messages.resultCode == "Ok"
    assert r.messages.message[0]["code"].text == "I00001"
    assert r.refId == "sdk-ref"
    tr = r.transactionResponse
    assert tr.responseCode.text == "1"
    assert len(tr.authCode.text) == 6
    assert tr.accountNumber.text == "XXXX1111" and tr.accountType.text == "Visa"
    assert tr.messages.message[0].code.text == "1"
    row = emu.ledger("SDK-1")[0]
    assert row["trans_id"] == tr.transId.text and row["amount"] == "12.50" and row["ref_id"] == "sdk-ref"
    assert row["customer_id"] == "99"


def test_sdk_decline_46282(emu: Emulator, caplog: pytest.LogCaptureFixture) -> None:
    k = _create(emu, _card_request("authCaptureTransaction", "5.00", zip_code="46282", invoice="SDK-D"))
    r = k.getresponse()
    _strict(k, caplog)
    assert r.messages.resultCode == "Ok"
    assert r.transactionResponse.responseCode.text == "2"
    assert r.transactionResponse.errors.error[0].errorCode.text == "2"
    assert r.transactionResponse.errors.error[0].errorText.text == "This transaction has been declined."
    assert emu.ledger("SDK-D")[0]["status"] == "declined"


def test_sdk_bad_credentials_e00007(emu: Emulator, caplog: pytest.LogCaptureFixture) -> None:
    k = _create(emu, _card_request("authCaptureTransaction", "5.00"), key="WrongKey12345678")
    r = k.getresponse()
    assert r is not None
    assert r.messages.resultCode == "Error"
    assert r.messages.message[0]["code"] == "E00007"
    assert not hasattr(r, "transactionResponse")
    # No transactionResponse is schema-invalid, so the SDK takes its objectify fallback, as with the real API.
    assert any("Create Document Exception" in m for m in _fallbacks(caplog))
    assert emu.ledger() == []


def test_sdk_duplicate_capture_void_refund_details_list(emu: Emulator, caplog: pytest.LogCaptureFixture) -> None:
    auth = _create(emu, _card_request("authOnlyTransaction", "30.00", invoice="SDK-F"))
    tid = auth.getresponse().transactionResponse.transId.text
    dup = _create(emu, _card_request("authOnlyTransaction", "30.00", invoice="SDK-F"))
    d = dup.getresponse()
    assert d.messages.resultCode == "Error" and d.messages.message[0]["code"] == "E00027"
    assert d.transactionResponse.errors.error[0].errorCode.text == "11"
    assert d.transactionResponse.transId.text == tid
    cap = _create(emu, _ref_request("priorAuthCaptureTransaction", tid, "20.00"))
    assert cap.getresponse().transactionResponse.responseCode.text == "1"
    again = _create(emu, _ref_request("priorAuthCaptureTransaction", tid))
    assert again.getresponse().transactionResponse.messages.message[0].code.text == "311"
    emu.settle()
    ref = _create(emu, _ref_request("refundTransaction", tid, "5.00", last4="1111"))
    rtid = ref.getresponse().transactionResponse.transId.text
    assert ref.getresponse().transactionResponse.refTransID.text == tid
    void = _create(emu, _ref_request("voidTransaction", rtid))
    assert void.getresponse().transactionResponse.responseCode.text == "1"
    for k in (auth, dup, cap, again, ref, void):
        _strict(k, caplog)

    req = c.getTransactionDetailsRequest()
    req.merchantAuthentication = _auth()
    req.transId = tid
    k = _run(emu, ctl.getTransactionDetailsController(req))
    _strict(k, caplog)
    t = k.getresponse().transaction
    assert t.transactionStatus.text == "settledSuccessfully"
    assert Decimal(t.authAmount.text) == Decimal("30.00") and Decimal(t.settleAmount.text) == Decimal("20.00")
    assert t.order.invoiceNumber.text == "SDK-F"
    assert t.payment.creditCard.cardNumber.text == "XXXX1111"

    req = c.getUnsettledTransactionListRequest()
    req.merchantAuthentication = _auth()
    k = _run(emu, ctl.getUnsettledTransactionListController(req))
    _strict(k, caplog)
    r = k.getresponse()
    assert r.totalNumInResultSet == 1
    assert r.transactions.transaction[0].transId.text == rtid
    assert r.transactions.transaction[0].transactionStatus.text == "voided"

    req = c.getSettledBatchListRequest()
    req.merchantAuthentication = _auth()
    req.includeStatistics = True
    k = _run(emu, ctl.getSettledBatchListController(req))
    _strict(k, caplog)
    batch_id = k.getresponse().batchList.batch[0].batchId.text
    req = c.getTransactionListRequest()
    req.merchantAuthentication = _auth()
    req.batchId = batch_id
    k = _run(emu, ctl.getTransactionListController(req))
    _strict(k, caplog)
    assert k.getresponse().transactions.transaction[0].transId.text == tid

    req = c.authenticateTestRequest()
    req.merchantAuthentication = _auth()
    k = _run(emu, ctl.authenticateTestController(req))
    _strict(k, caplog)
    assert k.getresponse().messages.resultCode == "Ok"
