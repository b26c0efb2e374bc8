"""createTransactionRequest rules over raw XML.

See docs/authorizenet.md: "Duplicate detection", "Reason codes", "Capture, void and refund rules",
"Transaction states", "Sandbox test values".
"""

from __future__ import annotations

import re

import pytest

from .conftest import Emulator
from .helpers import VISA, authorize, capture, charge, refund, txn, void

TX_ORDER = [  # "Response element order", the subset the emulator sends
    "responseCode", "authCode", "avsResultCode", "cvvResultCode", "cavvResultCode", "transId", "refTransID",
    "transHash", "testRequest", "accountNumber", "accountType", "messages", "errors", "transHashSha2",
    "networkTransId",
]


def in_schema_order(names: list[str]) -> bool:
    idx = [TX_ORDER.index(n) for n in names]
    return idx == sorted(idx)


# ---------------------------------------------------------------------------- approvals and declines

@pytest.mark.parametrize("number, brand", [
    ("4007000000027", "Visa"), ("4012888818888", "Visa"), (VISA, "Visa"),
    ("5424000000000015", "MasterCard"), ("2223000010309703", "MasterCard"), ("2223000010309711", "MasterCard"),
    ("370000000000002", "AmericanExpress"), ("6011000000000012", "Discover"), ("3088000000000017", "JCB"),
    ("38000000000006", "DinersClub"),
])
def test_test_cards_approve_with_brand_and_mask(emu: Emulator, number: str, brand: str) -> None:
    cvv = "1234" if brand == "AmericanExpress" else "123"
    a = emu.call(charge("12.50", card=number, cvv=cvv, invoice=f"I-{number[-6:]}"))
    assert (a.result_code, a.code, a.text) == ("Ok", "I00001", "Successful.")
    assert a.tx["responseCode"] == "1"
    assert a.tx_messages == [("1", "This transaction has been approved.")]
    assert re.fullmatch(r"[A-Z0-9]{6}", a.tx["authCode"])
    assert a.tx["avsResultCode"] == "Y" and a.tx["cvvResultCode"] == "M"
    assert a.trans_id.isdigit() and int(a.trans_id) > 0
    assert a.tx["accountNumber"] == "XXXX" + number[-4:]
    assert a.tx["accountType"] == brand
    assert a.tx["testRequest"] == "0"
    assert in_schema_order(a.tx_order), a.tx_order
    assert a.find("refId") == "r-1"


def test_trans_ids_unique_and_ledger_row(emu: Emulator) -> None:
    ids = [emu.call(charge("1.00", invoice=f"U-{i}", customer_id="cust-7")).trans_id for i in range(5)]
    assert len(set(ids)) == 5 and all(int(i) > 0 for i in ids)
    rows = emu.ledger()
    assert [r["trans_id"] for r in rows] == ids
    row = emu.ledger("U-3")[0]
    assert row["trans_id"] == ids[3]
    assert row["type"] == "authCaptureTransaction" and row["amount"] == "1.00"
    assert row["status"] == "capturedPendingSettlement"
    assert row["card_last4"] == "1111" and row["account_type"] == "Visa"
    assert row["ref_id"] == "r-1" and row["customer_id"] == "cust-7" and row["ref_trans_id"] is None
    assert (row["response_code"], row["reason_code"]) == (1, 1)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", row["submit_time"])
    assert VISA not in str(rows)


def test_zip_46282_declines(emu: Emulator) -> None:
    a = emu.call(charge("5.00", zip_code="46282", invoice="D-1"))
    assert (a.result_code, a.code) == ("Ok", "I00001")
    assert a.tx["responseCode"] == "2"
    assert a.errors == [("2", "This transaction has been declined.")]
    assert a.tx["authCode"] == ""
    assert int(a.trans_id) > 0
    assert emu.ledger("D-1")[0]["status"] == "declined"
    assert (emu.ledger("D-1")[0]["response_code"], emu.ledger("D-1")[0]["reason_code"]) == (2, 2)


@pytest.mark.parametrize("zip_code, avs", [
    ("46201", "A"), ("46203", "E"), ("46204", "G"), ("46205", "N"), ("46206", "P"), ("46207", "R"),
    ("46208", "S"), ("46209", "U"), ("46211", "W"), ("46214", "X"), ("46217", "Z"), ("10001", "Y"),
])
def test_avs_zip_triggers(emu: Emulator, zip_code: str, avs: str) -> None:
    a = emu.call(charge("3.00", zip_code=zip_code))
    assert a.tx["responseCode"] == "1"
    assert a.tx["avsResultCode"] == avs


@pytest.mark.parametrize("code, cvv", [("900", "M"), ("901", "N"), ("902", "S"), ("903", "U"), ("904", "P"),
                                       ("123", "M")])
def test_card_code_triggers(emu: Emulator, code: str, cvv: str) -> None:
    a = emu.call(charge("3.00", cvv=code))
    assert a.tx["responseCode"] == "1"
    assert a.tx["cvvResultCode"] == cvv


def test_no_card_code_gives_empty_cvv_result(emu: Emulator) -> None:
    a = emu.call(txn("authCaptureTransaction", amount="3.00", card=VISA))
    assert a.tx["responseCode"] == "1" and a.tx["cvvResultCode"] == ""


def test_merchant_filters_decline_27_65_45(emu: Emulator) -> None:
    emu.configure(avs_reject=["N"], cvv_reject=["N"])
    assert emu.call(charge("1.00", zip_code="46205", invoice="F1")).errors[0][0] == "27"
    assert emu.call(charge("1.00", cvv="901", invoice="F2")).errors[0][0] == "65"
    both = emu.call(charge("1.00", zip_code="46205", cvv="901", invoice="F3"))
    assert both.tx["responseCode"] == "2" and both.errors[0][0] == "45"
    assert emu.call(charge("1.00", zip_code="46201", invoice="F4")).tx["responseCode"] == "1"
    assert [r["status"] for r in emu.ledger()] == ["declined", "declined", "declined", "capturedPendingSettlement"]


# ---------------------------------------------------------------------------- card and field errors

def _assert_error(a, reason: str) -> None:
    assert (a.result_code, a.code, a.text) == ("Error", "E00027", "The transaction was unsuccessful.")
    assert a.tx["responseCode"] == "3"
    assert a.tx["transId"] == "0"
    assert a.tx["authCode"] == ""
    assert a.errors[0][0] == reason, a.errors


def test_luhn_failure_is_6(emu: Emulator) -> None:
    a = emu.call(charge(card="4111111111111112"))
    _assert_error(a, "6")
    assert a.errors[0][1] == "The credit card number is invalid."
    assert emu.ledger() == []


@pytest.mark.parametrize("exp", ["13/30", "2035-13", "20351", "ab12", "0000"])
def test_bad_expiration_format_is_7(emu: Emulator, exp: str) -> None:
    _assert_error(emu.call(charge(exp=exp)), "7")


@pytest.mark.parametrize("exp", ["2035-12", "1235", "122035", "12/35", "12-2035"])
def test_accepted_expiration_formats(emu: Emulator, exp: str) -> None:
    assert emu.call(charge(exp=exp, invoice="E" + exp)).tx["responseCode"] == "1"


def test_expired_card_is_8_also_by_emulator_clock(emu: Emulator) -> None:
    _assert_error(emu.call(charge(exp="2020-01")), "8")
    # A card valid today expires once the clock moves past its month.
    assert emu.call(charge(exp="2099-12", invoice="X1")).tx["responseCode"] == "1"
    emu.advance(80 * 365 * 86400)
    a = emu.call(charge(exp="2099-12", invoice="X2"))
    _assert_error(a, "8")
    assert a.errors[0][1] == "The credit card has expired."


def test_missing_payment_is_33(emu: Emulator) -> None:
    a = emu.call(txn("authCaptureTransaction", amount="5.00"))
    _assert_error(a, "33")
    assert a.errors[0][1] == "Credit card number cannot be left blank."


def test_refund_without_card_is_33(emu: Emulator) -> None:
    tid = emu.call(charge("5.00")).trans_id
    emu.settle()
    a = emu.call(txn("refundTransaction", amount="1.00", ref_trans_id=tid))
    _assert_error(a, "33")
    assert a.tx["refTransID"] == tid


@pytest.mark.parametrize("amount", [None, "0", "-1.00", "1.001"])
def test_invalid_amount_is_5(emu: Emulator, amount: str | None) -> None:
    _assert_error(emu.call(txn("authCaptureTransaction", amount=amount, card=VISA)), "5")


def test_unknown_brand_is_17(emu: Emulator) -> None:
    _assert_error(emu.call(charge(card="9000000000000001")), "17")


# ---------------------------------------------------------------------------- opaque data

def test_opaque_data_approves_declines_and_expires(emu: Emulator) -> None:
    ok = emu.call(txn("authCaptureTransaction", amount="7.00", opaque="eyJub25jZSI6IjEyMyJ9"))
    assert ok.tx["responseCode"] == "1" and ok.tx["accountNumber"] == "XXXX1111" and ok.tx["accountType"] == "Visa"
    declined = emu.call(txn("authCaptureTransaction", amount="7.00", opaque="decline-me"))
    assert declined.tx["responseCode"] == "2" and declined.errors[0][0] == "2"
    _assert_error(emu.call(txn("authCaptureTransaction", amount="7.00", opaque="expired-nonce")), "8")
    assert [r["status"] for r in emu.ledger()] == ["capturedPendingSettlement", "declined"]


# ------------------------------------------------------------------- duplicates ("Duplicate detection")

def test_duplicate_with_window_returns_original(emu: Emulator) -> None:
    first = emu.call(charge("9.99", invoice="DUP-1", zip_code="46201", cvv="901", window=600))
    assert first.tx["responseCode"] == "1"
    # Neither refId nor CVV is among the compared fields ("Duplicate detection").
    again = emu.call(charge("9.99", invoice="DUP-1", zip_code="46201", cvv="123", window=600, ref_id="other"))
    _dup = again
    assert (_dup.result_code, _dup.code) == ("Error", "E00027")
    assert _dup.tx["responseCode"] == "3"
    assert _dup.errors == [("11", "A duplicate transaction has been submitted.")]
    assert _dup.trans_id == first.trans_id
    assert _dup.tx["authCode"] == first.tx["authCode"]
    assert (_dup.tx["avsResultCode"], _dup.tx["cvvResultCode"]) == ("A", "N")
    assert len(emu.ledger()) == 1


def test_duplicate_without_window_has_no_original_data(emu: Emulator) -> None:
    first = emu.call(charge("9.99", invoice="DUP-2"))
    again = emu.call(charge("9.99", invoice="DUP-2"))
    assert again.errors[0][0] == "11"
    assert again.trans_id == "0" and again.tx["authCode"] == ""
    assert first.trans_id != "0"
    assert len(emu.ledger()) == 1


def test_default_window_is_120_s(emu: Emulator) -> None:
    emu.call(charge("4.00", invoice="W-1"))
    emu.advance(119)
    assert emu.call(charge("4.00", invoice="W-1")).errors[0][0] == "11"
    emu.advance(2)
    assert emu.call(charge("4.00", invoice="W-1")).tx["responseCode"] == "1"
    assert len(emu.ledger()) == 2


def test_after_window_a_new_transaction(emu: Emulator) -> None:
    first = emu.call(charge("9.99", invoice="DUP-3", window=300))
    emu.advance(299)
    assert emu.call(charge("9.99", invoice="DUP-3", window=300)).trans_id == first.trans_id
    emu.advance(2)
    second = emu.call(charge("9.99", invoice="DUP-3", window=300))
    assert second.tx["responseCode"] == "1" and second.trans_id != first.trans_id
    assert len(emu.ledger("DUP-3")) == 2


def test_window_capped_at_28800_and_zero_disables(emu: Emulator) -> None:
    emu.call(charge("2.00", invoice="CAP", window=99999))
    emu.advance(28801)
    assert emu.call(charge("2.00", invoice="CAP", window=99999)).tx["responseCode"] == "1"
    emu.call(charge("2.00", invoice="ZERO", window=0))
    assert emu.call(charge("2.00", invoice="ZERO", window=0)).tx["responseCode"] == "1"


@pytest.mark.parametrize("change", [
    {"amount": "9.98"}, {"invoice": "DUP-X"}, {"customer_id": "c2"}, {"zip_code": "46201"},
    {"first_name": "Other"}, {"card": "5424000000000015"}, {"exp": "2036-01"}, {"window": 601},
])
def test_any_compared_field_differs_not_duplicate(emu: Emulator, change: dict) -> None:
    base = dict(amount="9.99", invoice="DUP-4", customer_id="c1", zip_code="10001", first_name="Ann", window=600)
    emu.call(charge(**base))
    a = emu.call(charge(**{**base, **change}))
    assert a.tx["responseCode"] == "1", a.errors


def test_duplicate_of_declined_original_carries_its_trans_id(emu: Emulator) -> None:
    first = emu.call(charge("6.00", invoice="DD", zip_code="46282", window=600))
    assert first.tx["responseCode"] == "2"
    again = emu.call(charge("6.00", invoice="DD", zip_code="46282", window=600))
    assert again.errors[0][0] == "11" and again.trans_id == first.trans_id and again.tx["authCode"] == ""


def test_auth_only_and_auth_capture_are_not_duplicates_of_each_other(emu: Emulator) -> None:
    emu.call(charge("6.00", invoice="T"))
    assert emu.call(authorize("6.00", invoice="T")).tx["responseCode"] == "1"


# ----------------------------------------------------------- capture ("Capture, void and refund rules")

def test_capture_full_amount(emu: Emulator) -> None:
    auth = emu.call(authorize("20.00", invoice="C-1"))
    assert emu.ledger("C-1")[0]["status"] == "authorizedPendingCapture"
    cap = emu.call(capture(auth.trans_id))
    assert (cap.result_code, cap.tx["responseCode"]) == ("Ok", "1")
    assert cap.trans_id == auth.trans_id and cap.tx["refTransID"] == auth.trans_id
    assert cap.tx["authCode"] == auth.tx["authCode"]
    assert cap.tx_messages[0][0] == "1"
    row = emu.ledger("C-1")[0]
    assert (row["status"], row["settle_amount"]) == ("capturedPendingSettlement", "20.00")


def test_capture_partial_then_311_repeat(emu: Emulator) -> None:
    auth = emu.call(authorize("20.00"))
    assert emu.call(capture(auth.trans_id, "12.34")).tx["responseCode"] == "1"
    assert emu.ledger()[0]["settle_amount"] == "12.34"
    again = emu.call(capture(auth.trans_id, "1.00"))
    assert (again.result_code, again.code, again.text) == ("Ok", "I00001", "This transaction has already been captured.")
    assert again.tx["responseCode"] == "1"
    assert again.tx_messages == [("311", "This transaction has already been captured.")]
    assert again.trans_id == auth.trans_id == again.tx["refTransID"]
    assert emu.ledger()[0]["settle_amount"] == "12.34"


def test_capture_more_than_authorized_is_47(emu: Emulator) -> None:
    auth = emu.call(authorize("20.00"))
    a = emu.call(capture(auth.trans_id, "20.01"))
    _assert_error(a, "47")
    assert a.tx["refTransID"] == auth.trans_id
    assert emu.ledger()[0]["status"] == "authorizedPendingCapture"


def test_capture_of_auth_capture_is_311(emu: Emulator) -> None:
    tid = emu.call(charge("3.00")).trans_id
    assert emu.call(capture(tid)).tx_messages[0][0] == "311"


def test_unknown_ref_trans_id_is_16(emu: Emulator) -> None:
    for body in (capture("123456"), void("123456"), refund("123456", "1.00")):
        a = emu.call(body)
        _assert_error(a, "16")
        assert a.errors[0][1] == "The transaction cannot be found."
        assert a.tx["refTransID"] == "123456"


def test_authorization_expires_after_30_days(emu: Emulator) -> None:
    auth = emu.call(authorize("8.00", invoice="EXP"))
    emu.advance(29 * 86400)
    assert emu.ledger("EXP")[0]["status"] == "authorizedPendingCapture"
    emu.advance(2 * 86400)  # 31 days in all
    assert emu.ledger("EXP")[0]["status"] == "expired"
    a = emu.call(capture(auth.trans_id))
    _assert_error(a, "16")
    assert emu.ledger("EXP")[0]["status"] == "expired"


def test_capture_within_30_days_works(emu: Emulator) -> None:
    auth = emu.call(authorize("8.00"))
    emu.advance(29 * 86400)
    assert emu.call(capture(auth.trans_id)).tx["responseCode"] == "1"


# -------------------------------------------------------------- void ("Capture, void and refund rules")

def test_void_then_310(emu: Emulator) -> None:
    auth = emu.call(authorize("15.00"))
    v = emu.call(void(auth.trans_id))
    assert (v.result_code, v.tx["responseCode"], v.trans_id, v.tx["refTransID"]) == \
        ("Ok", "1", auth.trans_id, auth.trans_id)
    assert emu.ledger()[0]["status"] == "voided"
    again = emu.call(void(auth.trans_id))
    assert (again.result_code, again.code, again.tx["responseCode"]) == ("Ok", "I00001", "1")
    assert again.tx_messages == [("310", "This transaction has already been voided.")]
    assert again.text == "This transaction has already been voided."
    _assert_error(emu.call(capture(auth.trans_id)), "16")


def test_void_captured_unsettled_and_settled_cannot_be_voided(emu: Emulator) -> None:
    a = emu.call(charge("4.00", invoice="V1"))
    assert emu.call(void(a.trans_id)).tx["responseCode"] == "1"
    b = emu.call(charge("4.00", invoice="V2"))
    emu.settle()
    _assert_error(emu.call(void(b.trans_id)), "16")
    assert emu.ledger("V2")[0]["status"] == "settledSuccessfully"


def test_non_numeric_ref_trans_id_is_15(emu: Emulator) -> None:
    _assert_error(emu.call(txn("voidTransaction", ref_trans_id="abc")), "15")
    _assert_error(emu.call(txn("voidTransaction")), "15")


# ------------------------------------------------------------ refund ("Capture, void and refund rules")

def test_refund_of_unsettled_is_54(emu: Emulator) -> None:
    tid = emu.call(charge("30.00")).trans_id
    a = emu.call(refund(tid, "5.00"))
    _assert_error(a, "54")
    assert a.errors[0][1] == "The referenced transaction does not meet the criteria for issuing a credit."
    auth = emu.call(authorize("30.00", invoice="A"))
    _assert_error(emu.call(refund(auth.trans_id, "5.00")), "54")


def test_settle_then_partial_refunds_then_55(emu: Emulator) -> None:
    orig = emu.call(charge("30.00", invoice="R-1"))
    assert emu.settle()["settled"] == 1
    assert emu.ledger("R-1")[0]["status"] == "settledSuccessfully"
    r1 = emu.call(refund(orig.trans_id, "10.00", invoice="R-1a"))
    assert (r1.result_code, r1.tx["responseCode"]) == ("Ok", "1")
    assert r1.trans_id not in ("0", orig.trans_id) and r1.tx["refTransID"] == orig.trans_id
    assert r1.tx["accountNumber"] == "XXXX1111"
    r2 = emu.call(refund(orig.trans_id, "15.00", invoice="R-1b"))
    assert r2.tx["responseCode"] == "1" and r2.trans_id != r1.trans_id
    over = emu.call(refund(orig.trans_id, "5.01", invoice="R-1c"))
    _assert_error(over, "55")
    assert over.errors[0][1] == ("The sum of credits against the referenced transaction would exceed "
                                 "original debit amount.")
    exact = emu.call(refund(orig.trans_id, "5.00", invoice="R-1d"))
    assert exact.tx["responseCode"] == "1"
    rows = {r["trans_id"]: r for r in emu.ledger()}
    assert rows[r1.trans_id]["type"] == "refundTransaction"
    assert rows[r1.trans_id]["status"] == "refundPendingSettlement"
    assert rows[r1.trans_id]["ref_trans_id"] == orig.trans_id and rows[r1.trans_id]["amount"] == "10.00"
    assert emu.settle()["settled"] == 3
    assert emu.ledger("R-1a")[0]["status"] == "refundSettledSuccessfully"


def test_refund_limit_uses_captured_amount(emu: Emulator) -> None:
    auth = emu.call(authorize("50.00"))
    emu.call(capture(auth.trans_id, "20.00"))
    emu.settle()
    _assert_error(emu.call(refund(auth.trans_id, "20.01")), "55")
    assert emu.call(refund(auth.trans_id, "20.00")).tx["responseCode"] == "1"


def test_voided_refund_frees_its_amount(emu: Emulator) -> None:
    orig = emu.call(charge("10.00"))
    emu.settle()
    r = emu.call(refund(orig.trans_id, "10.00", invoice="RV-1"))
    assert emu.call(void(r.trans_id)).tx["responseCode"] == "1"
    assert emu.call(refund(orig.trans_id, "10.00", invoice="RV-2")).tx["responseCode"] == "1"


def test_refund_card_must_match_and_refund_of_refund_is_54(emu: Emulator) -> None:
    orig = emu.call(charge("10.00"))
    emu.settle()
    _assert_error(emu.call(refund(orig.trans_id, "1.00", last4="0015")), "6")
    assert emu.call(refund(orig.trans_id, "1.00", last4="XXXX1111")).tx["responseCode"] == "1"
    r = emu.call(refund(orig.trans_id, "2.00", last4=VISA))
    assert r.tx["responseCode"] == "1"
    emu.settle()
    _assert_error(emu.call(refund(r.trans_id, "1.00")), "54")


def test_equal_partial_refunds_are_duplicates_unless_invoice_differs(emu: Emulator) -> None:
    orig = emu.call(charge("10.00"))
    emu.settle()
    assert emu.call(refund(orig.trans_id, "1.00")).tx["responseCode"] == "1"
    assert emu.call(refund(orig.trans_id, "1.00")).errors[0][0] == "11"
    assert emu.call(refund(orig.trans_id, "1.00", invoice="second")).tx["responseCode"] == "1"


def test_settle_returns_count_and_leaves_authorizations(emu: Emulator) -> None:
    emu.call(authorize("1.00", invoice="S-A"))
    emu.call(charge("1.00", invoice="S-C"))
    emu.call(charge("1.00", invoice="S-D", zip_code="46282"))
    result = emu.settle()
    assert result["settled"] == 1 and result["batch_id"]
    assert emu.ledger("S-A")[0]["status"] == "authorizedPendingCapture"
    assert emu.ledger("S-A")[0]["batch_id"] is None
    assert emu.ledger("S-C")[0]["batch_id"] == result["batch_id"]
    assert emu.settle() == {"settled": 0, "batch_id": None}


def test_capture_only_needs_auth_code(emu: Emulator) -> None:
    _assert_error(emu.call(txn("captureOnlyTransaction", amount="5.00", card=VISA)), "12")
    a = emu.call(txn("captureOnlyTransaction", amount="5.00", card=VISA, auth_code="ABC123"))
    assert a.tx["responseCode"] == "1" and a.tx["authCode"] == "ABC123"
