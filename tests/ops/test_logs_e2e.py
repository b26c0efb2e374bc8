"""Correlation ids travel from the API request into the worker's JSON log lines (through the
message's ``log_context`` option), and no card number reaches them.

This module runs its own worker pool in production mode (JSON logs) instead of the shared one.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path
from typing import Iterator

import pytest

from tests.conftest import SandboxControl, free_port, start_worker, stop
from tests.helpers import VISA, card_payment, wait_final

MASTERCARD = "5424000000000015"


@pytest.fixture(scope="module")
def json_worker(test_env, database, redis_clean, sandbox: SandboxControl, log_dir: Path) -> Iterator[Path]:
    log_path = log_dir / "worker-json.log"
    proc = start_worker(test_env, log_path, EASYPAY_ENV="production", WORKER_METRICS_PORT=str(free_port()))
    yield log_path
    stop(proc, timeout_s=15)


def _json_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


async def _lines_for(path: Path, payment_id: str, *, until_message: str, timeout_s: float = 20.0) -> list[dict]:
    """The payment's JSON lines, once ``until_message`` is among them (the worker writes its last
    line just after the status a client sees, so the file is read until it is there)."""
    deadline = time.monotonic() + timeout_s
    while True:
        lines = [line for line in _json_lines(path) if line.get("payment_id") == payment_id]
        if any(line["message"] == until_message for line in lines) or time.monotonic() > deadline:
            return lines
        await asyncio.sleep(0.1)


async def test_worker_log_lines_carry_request_merchant_payment_and_message_ids(api, merchant, json_worker, sandbox):
    request_id = f"req-e2e-{uuid.uuid4().hex[:12]}"
    # Given: a lost processor answer, so the worker logs several lines (resend, duplicate lookup)
    sandbox.add_fault("drop_after_commit", match={"amount": "51.00"})
    response = await api.post(
        "/v1/payments",
        json=card_payment("51.00", number=MASTERCARD),
        headers={**merchant.headers, "X-Request-ID": request_id},
    )
    assert response.status_code == 202 and response.headers["x-request-id"] == request_id
    payment_id = response.json()["id"]
    assert (await wait_final(api, merchant.headers, payment_id))["status"] == "captured"

    lines = await _lines_for(json_worker, payment_id, until_message=f"payment {payment_id} is captured")
    messages = [line["message"] for line in lines]
    assert any(m == f"payment {payment_id} is captured" for m in messages), messages
    assert any(m.startswith("authorize.net authCaptureTransaction") for m in messages), messages
    message_ids = {line.get("message_id") for line in lines}
    assert len(message_ids) == 1 and None not in message_ids
    for line in lines:
        assert line["request_id"] == request_id
        assert line["merchant_id"] == str(merchant.id)
        assert line["level"] in {"INFO", "WARNING"}


async def test_worker_logs_never_hold_a_card_number(api, merchant, json_worker, sandbox):
    for number in (VISA, MASTERCARD):
        response = await api.post("/v1/payments", json=card_payment("52.00", number=number), headers=merchant.headers)
        assert (await wait_final(api, merchant.headers, response.json()["id"]))["status"] == "captured"
    text = json_worker.read_text()
    assert "payment job done" in text, "sanity: the worker's log is this file"
    assert VISA not in text and MASTERCARD not in text
    assert all(json.loads(line) for line in text.splitlines() if line.startswith("{"))
