"""getTransactionDetails / getUnsettledTransactionList parsing."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from engine.processor import Outcome, TransactionDetails, TransactionResult, TransactionSummary

from . import bodies
from .helpers import Recorder, make_client


async def call(body, method: str, *args, **kwargs):
    recorder = Recorder([body])
    client = make_client(recorder)
    try:
        return await getattr(client, method)(*args, **kwargs)
    finally:
        await client.aclose()


async def test_details_parsed():
    details = await call(bodies.details(batch="998877"), "get_transaction_details", "60012345678")
    assert details == TransactionDetails(
        transaction_id="60012345678",
        status="capturedPendingSettlement",
        transaction_type="authCaptureTransaction",
        response_code=1,
        reason_code="1",
        auth_code="000123",
        avs_result="Y",
        cvv_result="M",
        invoice_number="INV-1",
        auth_amount_minor=1250,
        settle_amount_minor=1250,
        submitted_at=datetime(2024, 5, 1, 10, 20, 30, 123000, tzinfo=UTC),
        ref_transaction_id=None,
        batch_id="998877",
        account_number="XXXX1111",
        ref_id="ref1",
    )


async def test_details_of_refund_and_other_exponent():
    details = await call(
        bodies.details(ref_trans_id="600", tx_type="refundTransaction", status="refundPendingSettlement",
                       auth_amount="1250", settle_amount="1250", submit="2024-05-01T10:20:30"),
        "get_transaction_details", "601", exponent=0,
    )
    assert details.ref_transaction_id == "600"
    assert details.auth_amount_minor == 1250
    assert details.submitted_at == datetime(2024, 5, 1, 10, 20, 30, tzinfo=UTC)  # naive → UTC
    assert details.batch_id is None


async def test_details_amount_not_fitting_exponent_is_none():
    details = await call(bodies.details(auth_amount="12.345"), "get_transaction_details", "1")
    assert details.auth_amount_minor is None and details.settle_amount_minor == 1250


async def test_details_api_error():
    body = bodies.api_error("E00011", "Access denied. You do not have permissions to call the Transaction Details API.",
                            root="getTransactionDetailsResponse")
    result = await call(body, "get_transaction_details", "1")
    assert isinstance(result, TransactionResult)
    assert (result.outcome, result.reason_code) == (Outcome.ERROR, "E00011")


async def test_details_transport_failure():
    result = await call(httpx.ReadTimeout, "get_transaction_details", "1")
    assert isinstance(result, TransactionResult) and result.outcome is Outcome.UNKNOWN
    result = await call(httpx.ConnectError, "get_transaction_details", "1")
    assert result.outcome is Outcome.NOT_SENT


async def test_unsettled_list():
    body = bodies.unsettled(("60012345678", "capturedPendingSettlement", "INV-1", "12.50"),
                            ("60012345679", "authorizedPendingCapture", "INV-2", "0.01"))
    rows = await call(body, "list_unsettled")
    assert rows == [
        TransactionSummary("60012345678", "capturedPendingSettlement", "INV-1", 1250,
                           datetime(2024, 5, 1, 10, 20, 30, tzinfo=UTC), "XXXX1111"),
        TransactionSummary("60012345679", "authorizedPendingCapture", "INV-2", 1,
                           datetime(2024, 5, 1, 10, 20, 30, tzinfo=UTC), "XXXX1111"),
    ]


async def test_unsettled_empty():
    assert await call(bodies.unsettled(), "list_unsettled") == []


async def test_unsettled_error():
    body = bodies.api_error("E00007", root="getUnsettledTransactionListResponse")
    result = await call(body, "list_unsettled")
    assert isinstance(result, TransactionResult) and result.reason_code == "E00007"
