"""``EASYPAY_OPS_TOKEN``: a real ``easypay web`` answers ``/metrics`` and ``/health/ready`` only to a
request carrying the token; liveness stays open; the token opens nothing else. In production
the API refuses to start without one."""

from __future__ import annotations

import secrets
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from tests.conftest import ROOT, free_port, start_web, stop

TOKEN = secrets.token_urlsafe(32)


@pytest.fixture(scope="module")
def guarded_api(test_env: dict[str, str], database: str, redis_clean: None, sandbox, log_dir: Path) -> Iterator[str]:
    url, proc = start_web({**test_env, "EASYPAY_OPS_TOKEN": TOKEN}, log_dir / "web-ops-token.log")
    try:
        yield url
    finally:
        stop(proc)


@pytest.mark.parametrize("path", ["/metrics", "/health/ready"])
def test_operations_routes_answer_only_with_the_token(guarded_api, path):
    assert httpx.get(guarded_api + path).status_code == 401
    wrong = httpx.get(guarded_api + path, headers={"Authorization": f"Bearer {TOKEN[:-1]}x"})
    assert wrong.status_code == 401
    assert wrong.headers["content-type"].startswith("application/problem+json")
    assert TOKEN not in wrong.text
    assert httpx.get(guarded_api + path, headers={"X-API-Key": TOKEN}).status_code == 200  # either header form
    right = httpx.get(guarded_api + path, headers={"Authorization": f"Bearer {TOKEN}"})
    assert right.status_code == 200, right.text
    if path == "/metrics":
        assert "easypay_http_requests_total" in right.text
        assert 'easypay_auth_failures_total{reason="invalid_ops_token"}' in right.text
    else:
        assert right.json()["status"] == "ok"


def test_liveness_stays_open_and_the_token_opens_no_api_route(guarded_api):
    assert httpx.get(guarded_api + "/health/live").status_code == 200
    assert httpx.get(guarded_api + "/v1/payments", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 401


def _web_exits(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "easypay.cli", "web", "--port", str(free_port())],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )


def test_production_api_refuses_to_start_without_a_token(test_env):
    env = {**test_env, "EASYPAY_ENV": "production", "EASYPAY_SECRET_KEY": secrets.token_urlsafe(48)}
    env.pop("EASYPAY_OPS_TOKEN", None)
    result = _web_exits(env)
    assert result.returncode == 1
    assert "EASYPAY_OPS_TOKEN is required when EASYPAY_ENV=production" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_short_token_is_refused(test_env):
    result = _web_exits({**test_env, "EASYPAY_OPS_TOKEN": "short-token"})
    assert result.returncode == 1
    assert "EASYPAY_OPS_TOKEN must be at least 32 characters" in result.stderr
