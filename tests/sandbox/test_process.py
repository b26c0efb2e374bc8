"""The process itself: CLI flags, auto-settlement, clean SIGTERM, port in use, and what it logs."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import httpx

from .conftest import ROOT, Emulator, free_port, start_emulator, stop_emulator
from .helpers import charge, envelope, read

LOG_LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (INFO|WARNING|ERROR) sandbox: [ -~]*")


def test_cli_flags_login_key_latency_and_auto_settle(tmp_path: Path) -> None:
    port = free_port()
    proc = start_emulator(port, tmp_path / "e.log", "--login", "merchant-x", "--key", "KeyX", "--latency-ms", "120",
                          "--settle-interval-s", "0.3")
    try:
        url = f"http://127.0.0.1:{port}/xml/v1/request.api"
        headers = {"Content-Type": "text/xml"}
        assert read(httpx.post(url, content=charge(), headers=headers)).code == "E00007"
        t0 = time.monotonic()
        a = read(httpx.post(url, content=charge(login="merchant-x", key="KeyX"), headers=headers))
        assert time.monotonic() - t0 >= 0.12
        assert a.tx["responseCode"] == "1"
        deadline = time.monotonic() + 3
        while True:
            rows = httpx.get(f"http://127.0.0.1:{port}/_sandbox/ledger").json()["transactions"]
            if rows[0]["status"] == "settledSuccessfully":
                break
            assert time.monotonic() < deadline, rows
            time.sleep(0.1)
        assert rows[0]["batch_id"]
    finally:
        assert stop_emulator(proc) == 0


def test_fail_rate_flag(tmp_path: Path) -> None:
    port = free_port()
    proc = start_emulator(port, tmp_path / "e.log", "--fail-rate", "1")
    try:
        r = httpx.post(f"http://127.0.0.1:{port}/xml/v1/request.api", content=charge(),
                       headers={"Content-Type": "application/xml"})
        assert r.status_code == 503
        assert httpx.get(f"http://127.0.0.1:{port}/_sandbox/ledger").json() == {"transactions": []}
    finally:
        started = time.monotonic()
        assert stop_emulator(proc) == 0
        assert time.monotonic() - started < 5


def test_port_in_use_exits_non_zero(emulator_process: Emulator) -> None:
    out = subprocess.run([sys.executable, "-m", "sandbox", "--port", str(emulator_process.port)], cwd=ROOT,
                         capture_output=True, timeout=20)
    assert out.returncode == 1
    assert b"cannot listen" in out.stderr


def test_log_has_one_line_per_request_and_no_card_data(emu: Emulator) -> None:
    pan, cvv = "6011000000000012", "4821"
    before = emu.log_path.read_text().count("\n")
    emu.call(charge("77.31", card=pan, cvv=cvv, invoice="LOG-1"))
    emu.call(envelope("getTransactionDetailsRequest", "<transId>1</transId>"))
    emu.call(charge(card="6011000000000013", cvv=cvv))  # invalid: must not be echoed either
    time.sleep(0.1)
    lines = emu.log_path.read_text().splitlines()[before:]
    assert len(lines) == 3, lines
    tid = emu.ledger("LOG-1")[0]["trans_id"]
    messages = [line.split(" sandbox: ", 1)[1] for line in lines]
    assert messages == [
        f"createTransactionRequest authCaptureTransaction 77.31 -> Ok I00001 rc=1 reason=1 transId={tid}",
        "getTransactionDetailsRequest -> Error E00040",
        "createTransactionRequest authCaptureTransaction 10.00 -> Error E00027 rc=3 reason=6 transId=0",
    ]
    text = emu.log_path.read_text()
    assert pan not in text and "6011000000000013" not in text and "EmulatorKey12345" not in text
    for line in text.splitlines():
        assert LOG_LINE.fullmatch(line), line
        assert "<" not in line  # never an XML dump
