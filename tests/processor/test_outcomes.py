"""Response → TransactionResult mapping."""

from __future__ import annotations

import logging

import pytest
from engine.processor import Outcome, TransactionResult

from . import bodies
from .helpers import Recorder, card_request, make_client


async def charge(body: bytes) -> TransactionResult:
    recorder = Recorder([body])
    client = make_client(recorder)
    try:
        return await client.charge(card_request())
    finally:
        await client.aclose()


async def test_approved():
    result = await charge(bodies.approved(ref_id="ref-42"))
    assert result == TransactionResult(
        outcome=Outcome.APPROVED,
        transaction_id="60012345678",
        auth_code="ABC123",
        avs_result="Y",
        cvv_result="M",
        response_code=1,
        reason_code="1",
        reason_text="This transaction has been approved.",
        message_code="I00001",
        account_number="XXXX1111",
        account_type="Visa",
        ref_transaction_id=None,
        error=None,
    )
    assert result.approved


async def test_auth_code_leading_zeros_preserved():
    result = await charge(bodies.approved(auth_code="000123"))
    assert result.auth_code == "000123"


async def test_declined():
    result = await charge(bodies.declined())
    assert result.outcome is Outcome.DECLINED
    assert (result.response_code, result.reason_code, result.message_code) == (2, "2", "I00001")
    assert result.reason_text == "This transaction has been declined."
    assert result.transaction_id == "60012345679"


async def test_avs_decline_keeps_reason():
    result = await charge(bodies.declined("27", "The transaction has been declined because of an AVS mismatch."))
    assert (result.outcome, result.reason_code) == (Outcome.DECLINED, "27")


async def test_error_response_code_3():
    result = await charge(bodies.error("6", "The credit card number is invalid."))
    assert result.outcome is Outcome.ERROR
    assert (result.response_code, result.reason_code, result.message_code) == (3, "6", "E00027")
    assert result.transaction_id is None  # "0" means none


async def test_duplicate_returns_original_transaction():
    result = await charge(bodies.duplicate("60012345678", auth_code="000777"))
    assert result.outcome is Outcome.DUPLICATE
    assert result.transaction_id == "60012345678"
    assert result.auth_code == "000777"
    assert (result.reason_code, result.message_code) == ("11", "E00027")


async def test_duplicate_without_window_has_no_transaction_id():
    result = await charge(bodies.error("11", "A duplicate transaction has been submitted."))
    assert result.outcome is Outcome.DUPLICATE
    assert result.transaction_id is None


async def test_held_for_review():
    result = await charge(bodies.held("253"))
    assert result.outcome is Outcome.HELD
    assert (result.response_code, result.reason_code) == (4, "253")
    assert result.transaction_id == "60012345680"


@pytest.mark.parametrize("code", ["310", "311"])
async def test_already_actioned_is_approved_with_reason_kept(recorder, code):
    body = bodies.tx_response("1", trans_id="600", ref_trans_id="600", message=(code, "already"))
    recorder.steps = [body]
    client = make_client(recorder)
    result = await (client.capture("600", None, "USD", 2) if code == "311" else client.void("600"))
    await client.aclose()
    assert result.outcome is Outcome.APPROVED
    assert result.reason_code == code
    assert result.transaction_id == result.ref_transaction_id == "600"


async def test_already_captured_fixture_shape():
    result = await charge(bodies.already_captured())
    assert (result.outcome, result.reason_code, result.ref_transaction_id) == (Outcome.APPROVED, "311", "60012345678")


async def test_refund_has_new_transaction_and_ref():
    recorder = Recorder([bodies.approved(trans_id="60099", ref_trans_id="60012345678")])
    client = make_client(recorder)
    result = await client.refund("60012345678", 500, "USD", 2, "1111")
    await client.aclose()
    assert (result.outcome, result.transaction_id, result.ref_transaction_id) == (Outcome.APPROVED, "60099", "60012345678")


async def test_transaction_not_found():
    recorder = Recorder([bodies.error("16", "The transaction cannot be found.", ref_trans_id="999")])
    client = make_client(recorder)
    result = await client.void("999")
    await client.aclose()
    assert (result.outcome, result.reason_code, result.ref_transaction_id) == (Outcome.ERROR, "16", "999")


@pytest.mark.parametrize("upper", [False, True])
async def test_e00007_without_transaction_response(caplog, upper):
    caplog.set_level(logging.DEBUG)
    result = await charge(bodies.api_error("E00007", decl_upper=upper))
    assert result.outcome is Outcome.ERROR
    assert result.reason_code == result.message_code == "E00007"
    assert result.reason_text == "User authentication failed due to invalid authentication values."
    assert result.response_code is None and result.transaction_id is None
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_error_response_root():
    body = bodies.api_error("E00004", "The element is not valid.", root="ErrorResponse")
    result = await charge(body)
    assert (result.outcome, result.reason_code) == (Outcome.ERROR, "E00004")


async def test_ok_without_transaction_response_is_unknown():
    body = bodies.envelope("createTransactionResponse", bodies.top_messages("Ok", "I00001", "Successful."))
    result = await charge(body)
    assert result.outcome is Outcome.UNKNOWN
    assert "transactionResponse" in result.error


@pytest.mark.parametrize("code", ["", "7", "x"])
async def test_unrecognised_response_code_is_unknown(code):
    body = bodies.tx_response(code, trans_id="123") if code else bodies.tx_response("1").replace(b"<responseCode>1</responseCode>", b"")
    result = await charge(body)
    assert result.outcome is Outcome.UNKNOWN


async def test_wrong_root_is_unknown():
    result = await charge(bodies.details())
    assert result.outcome is Outcome.UNKNOWN
    assert "getTransactionDetailsResponse" in result.error


async def test_unknown_elements_tolerated(caplog):
    caplog.set_level(logging.DEBUG)
    result = await charge(bodies.approved(unknown_element=True))
    assert result.outcome is Outcome.APPROVED and result.auth_code == "ABC123"
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING or r.name.startswith("pyxb")]
