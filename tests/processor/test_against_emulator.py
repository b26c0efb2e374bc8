"""The client against the real emulator (``python -m sandbox``) in a subprocess."""

from __future__ import annotations

import itertools
import os
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from engine.processor import Billing, Card, Outcome, ProcessorClient, TransactionDetails
from engine.settings import EMULATOR_LOGIN_ID, EMULATOR_TRANSACTION_KEY, ProcessorSettings

from .helpers import card_request

ROOT = Path(__file__).resolve().parents[2]

_invoices = itertools.count(1)


def invoice() -> str:
    return f"PT{os.getpid() % 10000}-{int(time.time()) % 100000}-{next(_invoices)}"[:20]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def emulator_url():
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    proc = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "--port", str(port), "--log-level", "WARNING"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            if proc.poll() is not None:
                pytest.fail(f"emulator exited: {proc.stderr.read().decode(errors='replace')[-2000:]}")
            try:
                if httpx.get(f"{base}/_sandbox/health", timeout=0.5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("emulator did not start")
            time.sleep(0.05)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
async def control(emulator_url):
    async with httpx.AsyncClient(base_url=emulator_url, timeout=5, trust_env=False) as http:
        (await http.post("/_sandbox/reset")).raise_for_status()
        yield http


def settings_for(base: str, **overrides) -> ProcessorSettings:
    return replace(
        ProcessorSettings(endpoint_url=f"{base}/xml/v1/request.api", login_id=EMULATOR_LOGIN_ID,
                          transaction_key=EMULATOR_TRANSACTION_KEY, connect_timeout_s=1.0, read_timeout_s=5.0),
        **overrides,
    )


@pytest.fixture
async def client(emulator_url, control):
    c = ProcessorClient(settings_for(emulator_url), connect_backoff_initial_s=0.05, connect_backoff_max_s=0.5)
    yield c
    await c.aclose()


def request(**overrides):
    values = dict(invoice_number=invoice(), payment=Card("4111111111111111", 12, 2035, "123"),
                  billing=Billing(first_name="Ada", last_name="Lovelace", postal_code="46201"))
    values.update(overrides)
    return card_request(**values)


async def fault(control, **rule) -> None:
    (await control.post("/_sandbox/faults", json=rule)).raise_for_status()


async def test_approve_and_details(client):
    req = request(amount_minor=1250)
    result = await client.charge(req)
    assert result.outcome is Outcome.APPROVED, result
    assert result.transaction_id and result.auth_code and result.response_code == 1
    assert result.account_number and result.account_number.endswith("1111")
    details = await client.get_transaction_details(result.transaction_id)
    assert isinstance(details, TransactionDetails)
    assert details.transaction_id == result.transaction_id
    assert details.status == "capturedPendingSettlement"
    assert details.invoice_number == req.invoice_number
    assert details.auth_amount_minor == 1250
    assert details.auth_code == result.auth_code
    rows = await client.list_unsettled()
    assert isinstance(rows, list)
    assert [r.transaction_id for r in rows if r.invoice_number == req.invoice_number] == [result.transaction_id]


async def test_decline_zip_46282(client):
    result = await client.charge(request(billing=Billing(postal_code="46282")))
    assert result.outcome is Outcome.DECLINED
    assert result.reason_code == "2"


async def test_duplicate_resend_returns_original(client):
    req = request()
    first = await client.charge(req)
    assert first.outcome is Outcome.APPROVED
    again = await client.charge(req)
    assert again.outcome is Outcome.DUPLICATE
    assert again.reason_code == "11"
    assert again.transaction_id == first.transaction_id


async def test_auth_capture_void(client):
    auth = await client.charge(request(capture=False, amount_minor=2000))
    assert auth.outcome is Outcome.APPROVED
    captured = await client.capture(auth.transaction_id, 1500, "USD", 2)
    assert captured.outcome is Outcome.APPROVED, captured
    details = await client.get_transaction_details(auth.transaction_id)
    assert details.status == "capturedPendingSettlement"
    assert details.settle_amount_minor == 1500
    again = await client.capture(auth.transaction_id, 1500, "USD", 2)
    assert (again.outcome, again.reason_code) == (Outcome.APPROVED, "311")

    other = await client.charge(request(capture=False))
    voided = await client.void(other.transaction_id)
    assert voided.outcome is Outcome.APPROVED
    assert (await client.get_transaction_details(other.transaction_id)).status == "voided"
    again = await client.void(other.transaction_id)
    assert (again.outcome, again.reason_code) == (Outcome.APPROVED, "310")


async def test_capture_more_than_authorized(client):
    auth = await client.charge(request(capture=False, amount_minor=1000))
    result = await client.capture(auth.transaction_id, 1001, "USD", 2)
    assert (result.outcome, result.reason_code) == (Outcome.ERROR, "47")


async def test_refund_after_settlement(client, control):
    sale = await client.charge(request(amount_minor=3000))
    early = await client.refund(sale.transaction_id, 1000, "USD", 2, "1111")
    assert (early.outcome, early.reason_code) == (Outcome.ERROR, "54")
    (await control.post("/_sandbox/settle")).raise_for_status()
    refund = await client.refund(sale.transaction_id, 1000, "USD", 2, sale.account_number)
    assert refund.outcome is Outcome.APPROVED, refund
    assert refund.transaction_id not in (None, sale.transaction_id)
    assert refund.ref_transaction_id == sale.transaction_id
    details = await client.get_transaction_details(refund.transaction_id)
    assert details.status == "refundPendingSettlement"
    too_much = await client.refund(sale.transaction_id, 2001, "USD", 2, "1111")
    assert (too_much.outcome, too_much.reason_code) == (Outcome.ERROR, "55")


async def test_unknown_transaction(client):
    result = await client.void("999999999")
    assert (result.outcome, result.reason_code) == (Outcome.ERROR, "16")


async def test_bad_credentials(emulator_url, control):
    c = ProcessorClient(settings_for(emulator_url, transaction_key="WrongKey00000000"))
    result = await c.charge(request())
    await c.aclose()
    assert (result.outcome, result.reason_code) == (Outcome.ERROR, "E00007")


async def test_read_timeout_after_commit_then_resend_finds_original(emulator_url, control):
    req = request()
    await fault(control, fault="hang_after_commit", delay_ms=1500, match={"invoice_number": req.invoice_number})
    c = ProcessorClient(settings_for(emulator_url, read_timeout_s=0.3))
    lost = await c.charge(req)
    assert lost.outcome is Outcome.UNKNOWN and "SocketTimeoutError" in lost.error
    resent = await c.charge(req)
    await c.aclose()
    assert resent.outcome is Outcome.DUPLICATE and resent.transaction_id
    ledger = (await control.get("/_sandbox/ledger", params={"invoice_number": req.invoice_number})).json()
    assert len(ledger["transactions"]) == 1


@pytest.mark.parametrize("kind", ["drop_after_commit", "reset_before_commit", "http_500", "http_503", "malformed"])
async def test_faults_are_unknown(client, control, kind):
    req = request()
    await fault(control, fault=kind, match={"invoice_number": req.invoice_number})
    result = await client.charge(req)
    assert result.outcome is Outcome.UNKNOWN, result


async def test_no_bom_is_read(client, control):
    req = request()
    await fault(control, fault="no_bom", match={"invoice_number": req.invoice_number})
    assert (await client.charge(req)).outcome is Outcome.APPROVED


async def test_refused_connections_are_retried(emulator_url, control):
    c = ProcessorClient(settings_for(emulator_url, connect_attempts=6),
                        connect_backoff_initial_s=0.1, connect_backoff_max_s=0.4, connect_backoff_jitter_s=0)
    await fault(control, fault="refuse_connections", duration_ms=400)
    result = await c.charge(request())
    await c.aclose()
    assert result.outcome is Outcome.APPROVED, result


async def test_settled_batches_and_their_transactions(client, control):
    sale = await client.charge(request(amount_minor=4200))
    assert sale.outcome is Outcome.APPROVED
    settled = (await control.post("/_sandbox/settle")).raise_for_status().json()
    batches = await client.list_settled_batches()
    assert [b.batch_id for b in batches] == [settled["batch_id"]]
    assert batches[0].state == "settledSuccessfully" and batches[0].settled_at is not None
    rows = await client.list_batch_transactions(settled["batch_id"], limit=10)
    assert [(r.transaction_id, r.status, r.settle_amount_minor) for r in rows] == [
        (sale.transaction_id, "settledSuccessfully", 4200)]
    assert await client.list_unsettled() == []
