"""`easypay web` (what the Procfile, Dockerfile and docker-compose start) names no server software."""

from __future__ import annotations

import subprocess
import sys

import httpx

from tests.conftest import ROOT, free_port, stop, wait_for_http


def test_web_sends_no_server_header(test_env, database, redis_clean, log_dir):
    port = free_port()
    with open(log_dir / "web-server-header.log", "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "easypay.cli", "web", "--port", str(port)],
            cwd=ROOT, env=test_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{base}/health/live", proc=proc)
        for path in ("/health/live", "/v1/payments", "/no/such/route"):
            response = httpx.get(base + path, timeout=5)
            assert "server" not in response.headers, (path, response.headers.get("server"))
            assert response.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
    finally:
        stop(proc, timeout_s=15)
