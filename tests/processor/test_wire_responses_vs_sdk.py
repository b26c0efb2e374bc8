"""Every answer the emulator can send is read by the lxml reader exactly as the SDK-based one read it.

The corpus: the canned bodies of ``bodies.py``; the emulator's own renderer driven in-process
through the client for every call it makes (approvals, declines, duplicates, 310/311, capture and
refund errors, details, unsettled and batch lists, empty lists, wrong credentials); the emulator's
API errors for malformed, unknown and wrongly-typed requests; each also without its BOM. Every
interpretation in :mod:`engine.processor.results` is applied to every body through both readers,
and the values (or the refusal) must be equal.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import httpx
import pytest

from engine.processor import Billing, Card, OpaqueData, TransactionResult, results, wire
from sandbox import methods
from sandbox.config import Config
from sandbox.ledger import Ledger

from . import bodies, sdk_oracle
from .helpers import NONCE, card_request, make_client

INTERPRETERS = {
    "transaction_result": results.transaction_result,
    "transaction_details": lambda doc: results.transaction_details(doc, 2),
    "transaction_details_jpy": lambda doc: results.transaction_details(doc, 0),
    "unsettled_list": lambda doc: results.unsettled_list(doc, 2),
    "batch_transaction_list": lambda doc: results.batch_transaction_list(doc, 2),
    "settled_batches": results.settled_batches,
    "envelope": lambda doc: (doc.root_name, doc.get("refId"), doc.get("messages", "resultCode"),
                             doc.get("messages", "message", "code"), doc.get("messages", "message", "text")),
}

CANNED = {
    "approved": bodies.approved(ref_id="ref-42"),
    "approved_000123": bodies.approved(auth_code="000123"),
    "approved_unknown_element": bodies.approved(unknown_element=True),
    "declined": bodies.declined(),
    "declined_avs": bodies.declined("27", "The transaction has been declined because of an AVS mismatch."),
    "error": bodies.error("6", "The credit card number is invalid."),
    "duplicate": bodies.duplicate(),
    "duplicate_no_window": bodies.error("11", "A duplicate transaction has been submitted."),
    "held": bodies.held(),
    "already_captured": bodies.already_captured(),
    "already_voided": bodies.tx_response("1", trans_id="600", ref_trans_id="600", message=("310", "already")),
    "not_found": bodies.error("16", "The transaction cannot be found.", ref_trans_id="999"),
    "e00007": bodies.api_error("E00007"),
    "e00007_upper_declaration": bodies.api_error("E00007", decl_upper=True),
    "error_response_root": bodies.api_error("E00004", "The element is not valid.", root="ErrorResponse"),
    "ok_without_transaction_response": bodies.envelope("createTransactionResponse",
                                                       bodies.top_messages("Ok", "I00001", "Successful.")),
    "no_response_code": bodies.tx_response("1").replace(b"<responseCode>1</responseCode>", b""),
    "response_code_7": bodies.tx_response("7", trans_id="123"),
    "details": bodies.details(),
    "details_settled_refund": bodies.details(batch="12345", ref_trans_id="600", status="refundSettledSuccessfully"),
    "details_jpy": bodies.details(auth_amount="1250", settle_amount="1250", submit="2024-05-01T10:20:30"),
    "details_e00011": bodies.api_error("E00011", "Access denied.", root="getTransactionDetailsResponse"),
    "unsettled": bodies.unsettled(("1", "authorizedPendingCapture", "INV-1", "12.50"), ("2", "voided", "INV-2", "0.00")),
    "unsettled_empty": bodies.unsettled(),
    "unsettled_e00007": bodies.api_error("E00007", root="getUnsettledTransactionListResponse"),
    "transaction_list": bodies.transaction_list(("7", "settledSuccessfully", "INV-7", "7.00")),
    "settled_batches": bodies.settled_batches(("10000001", "2024-05-02T01:00:00Z"), ("10000002", "2024-05-03T01:00:00Z")),
    "settled_batches_empty": bodies.settled_batches(),
    "truncated": bodies.approved()[:-20],
    "empty": b"",
    "bom_only": bodies.BOM,
    "not_xml": b"<html><body>503 Service Unavailable</body></html",
}


class InProcessEmulator:
    """The emulator's gateway without its HTTP server: request bytes in, response bytes out."""

    def __init__(self) -> None:
        self.config = Config()
        self.ledger = Ledger(self.config)
        self.gateway = methods.Gateway(self.ledger, self.config)
        self.answers: list[tuple[str, bytes]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        reply = self.gateway.handle(methods.parse(request.content, request.headers.get("content-type")))
        self.answers.append((reply.summary, reply.body))
        return httpx.Response(200, content=reply.body)

    def client(self, **overrides):
        from .helpers import Recorder

        settings = dict(login_id=self.config.login_id, transaction_key=self.config.transaction_key)
        settings.update(overrides)
        return make_client(Recorder([self]), **settings)


_invoices = itertools.count(1)


def _request(**overrides):
    values = dict(invoice_number=f"ORACLE-{next(_invoices)}", billing=Billing(first_name="Ada", postal_code="46201"))
    values.update(overrides)
    return card_request(**values)


async def _emulator_answers() -> dict[str, bytes]:
    emu = InProcessEmulator()
    client = emu.client()
    sale = await client.charge(_request(amount_minor=3000))
    await client.charge(_request(payment=OpaqueData("COMMON.ACCEPT.INAPP.PAYMENT", NONCE)))
    await client.charge(_request(billing=Billing(postal_code="46282")))
    again = _request(payment=Card("4111111111111111", 12, 2035, "901"))
    await client.charge(again)
    await client.charge(again)
    auth = await client.charge(_request(capture=False, amount_minor=2000, description="ns1: <b>&amp; Zo\u00eb"))
    await client.capture(auth.transaction_id, 1500, "USD", 2)
    await client.capture(auth.transaction_id, 1500, "USD", 2)
    other = await client.charge(_request(capture=False, amount_minor=1000))
    await client.capture(other.transaction_id, 1001, "USD", 2)
    await client.void(other.transaction_id)
    await client.void(other.transaction_id)
    await client.void("999999999")
    await client.refund(sale.transaction_id, 1000, "USD", 2, "1111")
    await client.get_transaction_details(sale.transaction_id)
    await client.get_transaction_details(other.transaction_id)
    await client.get_transaction_details("999999999")
    await client.list_unsettled(limit=3, offset=1)
    await client.list_settled_batches()
    batch = emu.ledger.settle()["batch_id"]
    refund = await client.refund(sale.transaction_id, 1000, "USD", 2, "XXXX1111", invoice_number="RF-1")
    await client.refund(sale.transaction_id, 2001, "USD", 2, "1111")
    await client.get_transaction_details(sale.transaction_id)
    await client.get_transaction_details(refund.transaction_id)
    await client.list_unsettled()
    await client.list_settled_batches(first=datetime(2000, 1, 1, tzinfo=UTC), last=datetime(2000, 1, 2, tzinfo=UTC))
    await client.list_settled_batches()
    await client.list_batch_transactions(batch, limit=2, offset=1)
    await client.list_batch_transactions("987654")
    emu.ledger.settle()
    await client.list_unsettled()
    await client.aclose()
    wrong = emu.client(transaction_key="WrongKey12345678")
    await wrong.charge(_request())
    await wrong.get_transaction_details(sale.transaction_id)
    await wrong.list_unsettled()
    await wrong.list_settled_batches()
    await wrong.aclose()
    for body, content_type in (
        (b"<createTransactionRequest", "application/xml"),
        (b'<bogusRequest xmlns="AnetApi/xml/v1/schema/AnetApiSchema.xsd"/>', "application/xml"),
        (b'<createTransactionRequest xmlns="AnetApi/xml/v1/schema/AnetApiSchema.xsd"><refId>r</refId>'
         b"</createTransactionRequest>", "application/xml"),
        (b"<isAliveRequest xmlns=\"AnetApi/xml/v1/schema/AnetApiSchema.xsd\"/>", "application/xml"),
        (b"{}", "application/json"),
    ):
        emu(httpx.Request("POST", "http://emulator/", content=body, headers={"content-type": content_type}))
    return {f"emulator_{i:02d}_{summary.split(' ')[0]}": body for i, (summary, body) in enumerate(emu.answers)}


def _read(reader, body: bytes):
    try:
        doc = reader(body)
    except wire.ResponseParseError:
        return "ResponseParseError", {}
    readings = {}
    for name, interpret in INTERPRETERS.items():
        try:
            readings[name] = interpret(doc)
        except wire.ResponseParseError:
            readings[name] = "ResponseParseError"
    return doc.root_name, readings


def _old(body: bytes) -> wire.Document:
    return sdk_oracle.read_with_sdk(body).document


async def corpus() -> dict[str, bytes]:
    out = dict(CANNED)
    out.update(await _emulator_answers())
    for name, body in list(out.items()):
        if body.startswith(bodies.BOM):
            out[f"{name}_without_bom"] = body[len(bodies.BOM):]
    return out


@pytest.fixture(scope="module")
async def all_bodies() -> dict[str, bytes]:
    return await corpus()


async def test_both_readers_agree_on_every_body(all_bodies):
    assert len(all_bodies) > 100
    disagreements = {name: (_read(_old, body), _read(wire.parse_response, body))
                     for name, body in all_bodies.items()
                     if _read(_old, body) != _read(wire.parse_response, body)}
    assert disagreements == {}


async def test_the_corpus_exercises_every_interpretation(all_bodies):
    """Guard against a vacuous comparison: real values come out, and the SDK reads most bodies strictly."""
    values: dict[str, set[str]] = {}
    strict = 0
    for body in all_bodies.values():
        _root, readings = _read(wire.parse_response, body)
        for name, value in readings.items():
            values.setdefault(name, set()).add(type(value).__name__)
        try:
            strict += sdk_oracle.read_with_sdk(body).strict
        except wire.ResponseParseError:
            pass
    assert {"TransactionResult", "str"} <= values["transaction_result"]
    assert "TransactionDetails" in values["transaction_details"]
    assert "list" in values["unsettled_list"] and "list" in values["batch_transaction_list"]
    assert "list" in values["settled_batches"]
    lists = [readings.get("unsettled_list") for readings in (_read(wire.parse_response, b)[1] for b in all_bodies.values())]
    assert max(len(v) for v in lists if isinstance(v, list)) >= 3
    batches = [r[1].get("settled_batches") for r in (_read(wire.parse_response, b) for b in all_bodies.values())]
    assert any(isinstance(v, list) and v and v[0].settled_at is not None for v in batches)
    assert strict >= len(all_bodies) // 2


@pytest.mark.parametrize("name", ["approved", "declined", "duplicate", "held", "already_captured", "details", "unsettled",
                                  "transaction_list", "settled_batches"])
def test_canned_bodies_are_schema_valid_for_the_sdk(name):
    assert sdk_oracle.read_with_sdk(CANNED[name]).strict


def test_transaction_results_of_canned_bodies():
    doc = wire.parse_response(CANNED["approved_000123"])
    assert results.transaction_result(doc).auth_code == "000123"
    result = results.transaction_result(wire.parse_response(CANNED["e00007_upper_declaration"]))
    assert isinstance(result, TransactionResult) and result.reason_code == "E00007"
