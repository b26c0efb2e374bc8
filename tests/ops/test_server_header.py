"""`easypay web` (what the Procfile, Dockerfile and docker-compose start) names no server software."""

from __future__ import annotations


import httpx

from tests.conftest import start_web, stop


def test_web_sends_no_server_header(test_env, database, redis_clean, log_dir):
    base, proc = start_web(test_env, log_dir / "web-server-header.log")
    try:
        for path in ("/health/live", "/v1/payments", "/no/such/route"):
            response = httpx.get(base + path, timeout=5)
            assert "server" not in response.headers, (path, response.headers.get("server"))
            assert response.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
    finally:
        stop(proc, timeout_s=15)
