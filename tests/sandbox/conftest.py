"""The emulator as a real subprocess (``python -m sandbox --port <free>``), reset before each test."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from .helpers import Answer, read

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_emulator(port: int, log_path: Path, *flags: str) -> subprocess.Popen[bytes]:
    log = open(log_path, "wb")
    proc = subprocess.Popen([sys.executable, "-m", "sandbox", "--port", str(port), *flags],
                            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"emulator exited with {proc.returncode}: {log_path.read_text()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/_sandbox/health", timeout=0.5).json() == {"status": "ok"}:
                return proc
        except httpx.TransportError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("emulator did not become healthy")


def stop_emulator(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


class Emulator:
    """A running emulator: XML endpoint plus control API helpers."""

    def __init__(self, port: int, proc: subprocess.Popen[bytes], log_path: Path) -> None:
        self.port = port
        self.proc = proc
        self.log_path = log_path
        self.base = f"http://127.0.0.1:{port}"
        self.url = f"{self.base}/xml/v1/request.api"
        self.http = httpx.Client(base_url=self.base, timeout=10)

    def post(self, body: bytes, content_type: str = "application/xml", **kw: Any) -> httpx.Response:
        return self.http.post("/xml/v1/request.api", content=body, headers={"Content-Type": content_type}, **kw)

    def call(self, body: bytes) -> Answer:
        return read(self.post(body))

    def ledger(self, invoice_number: str | None = None) -> list[dict[str, Any]]:
        params = {"invoice_number": invoice_number} if invoice_number else None
        r = self.http.get("/_sandbox/ledger", params=params)
        r.raise_for_status()
        return r.json()["transactions"]

    def settle(self) -> dict[str, Any]:
        return self.http.post("/_sandbox/settle").raise_for_status().json()

    def advance(self, seconds: float) -> dict[str, Any]:
        return self.http.post("/_sandbox/clock", json={"advance_s": seconds}).raise_for_status().json()

    def fault(self, fault: str, **rule: Any) -> dict[str, Any]:
        return self.http.post("/_sandbox/faults", json={"fault": fault, **rule}).raise_for_status().json()

    def configure(self, **changes: Any) -> dict[str, Any]:
        return self.http.post("/_sandbox/config", json=changes).raise_for_status().json()

    def reset(self) -> None:
        self.http.post("/_sandbox/reset").raise_for_status()


@pytest.fixture(scope="session")
def emulator_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    port = free_port()
    log_path = tmp_path_factory.mktemp("sandbox") / "emulator.log"
    proc = start_emulator(port, log_path)
    emu = Emulator(port, proc, log_path)
    yield emu
    emu.http.close()
    assert stop_emulator(proc) == 0, log_path.read_text()[-2000:]


@pytest.fixture
def emu(emulator_process: Emulator) -> Iterator[Emulator]:
    """The shared emulator, with ledger, faults, clock and config reset before the test."""
    emulator_process.reset()
    yield emulator_process
