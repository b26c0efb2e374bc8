"""getTransactionDetails / getUnsettledTransactionList / getSettledBatchList / getTransactionList parsing."""

from __future__ import annotations

from datetime import UTC, datetime

import aiohttp

from engine.processor import BatchSummary, Outcome, TransactionDetails, TransactionResult, TransactionSummary

from . import bodies
from .helpers import Recorder, connect_refused, make_client


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
    result = await call(aiohttp.SocketTimeoutError, "get_transaction_details", "1")
    assert isinstance(result, TransactionResult) and result.outcome is Outcome.UNKNOWN
    result = await call(connect_refused(), "get_transaction_details", "1")
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


async def test_settled_batches():
    body = bodies.settled_batches(("10000001", "2024-05-02T01:00:00Z"), ("10000002", "2024-05-03T01:00:00.5Z"))
    assert await call(body, "list_settled_batches") == [
        BatchSummary("10000001", datetime(2024, 5, 2, 1, tzinfo=UTC), "settledSuccessfully"),
        BatchSummary("10000002", datetime(2024, 5, 3, 1, 0, 0, 500000, tzinfo=UTC), "settledSuccessfully"),
    ]
    assert await call(bodies.settled_batches(), "list_settled_batches") == []


async def test_batch_transaction_list():
    body = bodies.transaction_list(("60012345678", "settledSuccessfully", "INV-1", "12.50"))
    assert await call(body, "list_batch_transactions", "10000001") == [
        TransactionSummary("60012345678", "settledSuccessfully", "INV-1", 1250,
                           datetime(2024, 5, 1, 10, 20, 30, tzinfo=UTC), "XXXX1111"),
    ]
    # The unsettled list's answer is not a batch's transaction list.
    result = await call(bodies.unsettled(("1", "voided", "INV-2", "0.00")), "list_batch_transactions", "10000001")
    assert isinstance(result, TransactionResult) and result.outcome is Outcome.UNKNOWN


async def test_thousand_row_page():
    rows = [(str(60000000000 + i), "capturedPendingSettlement", f"INV-{i}", f"{i}.{i % 100:02d}") for i in range(1000)]
    page = await call(bodies.unsettled(*rows), "list_unsettled")
    assert len(page) == 1000
    assert [(s.transaction_id, s.invoice_number, s.settle_amount_minor) for s in page[::250]] == [
        ("60000000000", "INV-0", 0), ("60000000250", "INV-250", 25050), ("60000000500", "INV-500", 50000),
        ("60000000750", "INV-750", 75050)]
