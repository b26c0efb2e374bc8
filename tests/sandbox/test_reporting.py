"""Reporting calls: details, unsettled list, settled batches, batch transaction list.

See docs/authorizenet.md: "Reporting calls and paging", "Response element order".
"""

from __future__ import annotations

from lxml import etree

from .conftest import Emulator
from .helpers import Q, authorize, capture, charge, envelope, refund

DETAILS_ORDER = (  # transactionDetailsType, a subset ("Response element order")
    "transId refTransId splitTenderId submitTimeUTC submitTimeLocal transactionType transactionStatus responseCode "
    "responseReasonCode subscription responseReasonDescription authCode AVSResponse cardCodeResponse CAVVResponse "
    "FDSFilterAction FDSFilters batch order requestedAmount authAmount settleAmount tax shipping duty lineItems "
    "prepaidBalanceRemaining taxExempt payment customer billTo shipTo recurringBilling customerIP product "
    "entryMode marketType mobileDeviceId customerSignature returnedItems solution emvDetails profile surcharge "
    "employeeId tip otherTax shipFrom networkTransId"
).split()
SUMMARY_ORDER = ("transId submitTimeUTC submitTimeLocal transactionStatus invoiceNumber firstName lastName "
                 "accountType accountNumber settleAmount marketType product").split()


def names(el) -> list[str]:
    return [etree.QName(c).localname for c in el]


def ordered(found: list[str], order: list[str]) -> bool:
    idx = [order.index(n) for n in found]
    return idx == sorted(idx)


def details(emu: Emulator, tid: str, ref_id: str | None = None):
    return emu.call(envelope("getTransactionDetailsRequest", f"<transId>{tid}</transId>", ref_id=ref_id))


def test_details_of_a_captured_partial_auth(emu: Emulator) -> None:
    auth = emu.call(authorize("40.00", invoice="RD-1", zip_code="46217", cvv="902", customer_id="c-9",
                              first_name="Ann", ref_id="orig-ref"))
    emu.call(capture(auth.trans_id, "25.00"))
    a = details(emu, auth.trans_id, ref_id="q")
    assert a.name == "getTransactionDetailsResponse" and (a.result_code, a.code) == ("Ok", "I00001")
    assert a.find("refId") == "q"
    t = a.root.find(Q + "transaction")
    assert ordered(names(t), DETAILS_ORDER), names(t)
    assert names(a.root)[-2:] == ["clientId", "transrefId"] and a.find("transrefId") == "orig-ref"
    f = a.find
    assert f("transaction/transId") == auth.trans_id
    assert f("transaction/transactionType") == "authOnlyTransaction"
    assert f("transaction/transactionStatus") == "capturedPendingSettlement"
    assert (f("transaction/responseCode"), f("transaction/responseReasonCode")) == ("1", "1")
    assert f("transaction/authCode") == auth.tx["authCode"]
    assert (f("transaction/AVSResponse"), f("transaction/cardCodeResponse")) == ("Z", "S")
    assert (f("transaction/authAmount"), f("transaction/settleAmount")) == ("40.00", "25.00")
    assert f("transaction/order/invoiceNumber") == "RD-1"
    assert f("transaction/payment/creditCard/cardNumber") == "XXXX1111"
    assert f("transaction/payment/creditCard/expirationDate") == "XXXX"
    assert f("transaction/payment/creditCard/cardType") == "Visa"
    assert f("transaction/customer/id") == "c-9" and f("transaction/billTo/firstName") == "Ann"
    assert f("transaction/batch") is None
    assert f("transaction/submitTimeUTC").endswith("Z")


def test_details_after_settlement_and_of_a_refund(emu: Emulator) -> None:
    orig = emu.call(charge("12.00", invoice="RD-2"))
    batch = emu.settle()["batch_id"]
    a = details(emu, orig.trans_id)
    assert a.find("transaction/transactionStatus") == "settledSuccessfully"
    assert a.find("transaction/batch/batchId") == batch
    assert a.find("transaction/batch/settlementState") == "settledSuccessfully"
    r = emu.call(refund(orig.trans_id, "2.00"))
    d = details(emu, r.trans_id)
    assert d.find("transaction/transactionType") == "refundTransaction"
    assert d.find("transaction/transactionStatus") == "refundPendingSettlement"
    assert d.find("transaction/refTransId") == orig.trans_id
    assert d.find("transaction/authAmount") == "2.00"


def test_details_of_a_decline(emu: Emulator) -> None:
    tid = emu.call(charge("3.00", zip_code="46282")).trans_id
    a = details(emu, tid)
    assert a.find("transaction/transactionStatus") == "declined"
    assert (a.find("transaction/responseCode"), a.find("transaction/responseReasonCode")) == ("2", "2")


def test_details_unknown_and_invalid_ids(emu: Emulator) -> None:
    a = details(emu, "999999999")
    assert (a.result_code, a.code, a.text) == ("Error", "E00040", "The record cannot be found.")
    assert details(emu, "12ab").code == "E00003"
    assert emu.call(envelope("getTransactionDetailsRequest", "<transId>1</transId>", key="nope")).code == "E00007"


def unsettled(emu: Emulator, inner: str = ""):
    return emu.call(envelope("getUnsettledTransactionListRequest", inner))


def test_unsettled_list_summaries_sorting_and_paging(emu: Emulator) -> None:
    ids = [emu.call(charge(f"{i}.00", invoice=f"UL-{i}", first_name=f"N{i}")).trans_id for i in range(1, 6)]
    emu.call(authorize("9.00", invoice="UL-auth"))
    a = unsettled(emu)
    assert (a.result_code, a.code) == ("Ok", "I00001")
    assert a.find("totalNumInResultSet") == "6"
    rows = a.root.findall(f"{Q}transactions/{Q}transaction")
    assert [r.findtext(Q + "transId") for r in rows][:5] == ids
    first = rows[0]
    assert ordered(names(first), SUMMARY_ORDER), names(first)
    assert first.findtext(Q + "invoiceNumber") == "UL-1"
    assert first.findtext(Q + "transactionStatus") == "capturedPendingSettlement"
    assert first.findtext(Q + "accountNumber") == "XXXX1111"
    assert first.findtext(Q + "settleAmount") == "1.00"
    assert first.findtext(Q + "firstName") == "N1"
    page = unsettled(emu, "<sorting><orderBy>submitTimeUTC</orderBy><orderDescending>true</orderDescending>"
                          "</sorting><paging><limit>2</limit><offset>2</offset></paging>")
    got = [r.findtext(Q + "invoiceNumber") for r in page.root.findall(f"{Q}transactions/{Q}transaction")]
    assert got == ["UL-4", "UL-3"]
    assert page.find("totalNumInResultSet") == "6"


def test_unsettled_list_drops_settled_and_is_empty_with_i00004(emu: Emulator) -> None:
    emu.call(charge("1.00"))
    emu.settle()
    a = unsettled(emu)
    assert (a.result_code, a.code, a.text) == ("Ok", "I00004", "No records found.")
    assert a.find("totalNumInResultSet") == "0"


def test_unsettled_list_rejects_bad_paging(emu: Emulator) -> None:
    assert unsettled(emu, "<paging><limit>1001</limit><offset>1</offset></paging>").code == "E00003"
    assert unsettled(emu, "<paging><offset>1</offset><limit>5</limit></paging>").code == "E00003"


def test_settled_batch_list_and_transaction_list(emu: Emulator) -> None:
    a1 = emu.call(charge("10.00", invoice="B-1"))
    emu.call(charge("5.00", invoice="B-2", zip_code="46282"))
    batch = emu.settle()["batch_id"]
    r = emu.call(refund(a1.trans_id, "4.00"))
    emu.advance(3600)
    batch2 = emu.settle()["batch_id"]
    bl = emu.call(envelope("getSettledBatchListRequest", "<includeStatistics>true</includeStatistics>"))
    assert (bl.result_code, bl.code) == ("Ok", "I00001")
    batches = bl.root.findall(f"{Q}batchList/{Q}batch")
    assert [b.findtext(Q + "batchId") for b in batches] == [batch, batch2]
    stat = batches[0].find(f"{Q}statistics/{Q}statistic")
    assert stat.findtext(Q + "accountType") == "Visa"
    assert (stat.findtext(Q + "chargeAmount"), stat.findtext(Q + "chargeCount")) == ("10.00", "1")
    assert stat.findtext(Q + "declineCount") == "1"
    stat2 = batches[1].find(f"{Q}statistics/{Q}statistic")
    assert (stat2.findtext(Q + "refundAmount"), stat2.findtext(Q + "refundCount")) == ("4.00", "1")
    tl = emu.call(envelope("getTransactionListRequest", f"<batchId>{batch}</batchId>"))
    assert [t.findtext(Q + "invoiceNumber") for t in tl.root.findall(f"{Q}transactions/{Q}transaction")] == \
        ["B-1", "B-2"]
    tl2 = emu.call(envelope("getTransactionListRequest", f"<batchId>{batch2}</batchId>"))
    assert [t.findtext(Q + "transId") for t in tl2.root.findall(f"{Q}transactions/{Q}transaction")] == \
        [r.trans_id]
    # default range is the last 24 hours of the emulator clock
    emu.advance(2 * 86400)
    assert emu.call(envelope("getSettledBatchListRequest")).code == "I00004"


def test_authenticate_test_and_is_alive(emu: Emulator) -> None:
    ok = emu.call(envelope("authenticateTestRequest", ref_id="a"))
    assert ok.name == "authenticateTestResponse" and (ok.result_code, ok.code) == ("Ok", "I00001")
    assert emu.call(envelope("authenticateTestRequest", key="bad")).code == "E00007"
    alive = emu.call(b'<isAliveRequest xmlns="AnetApi/xml/v1/schema/AnetApiSchema.xsd"/>')
    assert alive.name == "isAliveResponse" and alive.code == "I00001"
