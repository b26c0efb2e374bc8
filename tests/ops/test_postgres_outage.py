"""PostgreSQL away: every route answers 503 with Retry-After (no internals), and recovers by itself.

The API runs as a real process on a private PostgreSQL cluster that the test stops and starts;
the CLI against an unreachable database prints one line and exits 1.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Iterator

import asyncpg
import httpx
import pytest

from tests.conftest import ROOT, free_port, stop, wait_for_http
from tests.helpers import card_payment
from tests.private_postgres import PrivatePostgres


@pytest.fixture
def private_pg() -> Iterator[PrivatePostgres]:
    pg = PrivatePostgres()
    try:
        pg.start()
        yield pg
    finally:
        pg.remove()


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "easypay.cli", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


async def _create_database(pg: PrivatePostgres, name: str) -> None:
    conn = await asyncpg.connect(pg.dsn())
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def _routes(payment_id: str) -> list[tuple[str, str, dict | None]]:
    return [
        ("GET", "/v1/payments", None),
        ("POST", "/v1/payments", card_payment("3.00")),
        ("POST", f"/v1/payments/{payment_id}/void", None),
        ("POST", f"/v1/payments/{payment_id}/refunds", {"amount": "1.00"}),
        ("GET", f"/v1/refunds/{uuid.uuid4()}", None),
        ("GET", "/v1/events", None),
        ("GET", "/v1/webhook-endpoints", None),
        ("POST", "/v1/webhook-endpoints", {"url": "https://example.com/hooks", "events": ["payment.captured"]}),
        ("GET", "/v1/api-keys", None),
    ]


def test_every_route_answers_503_while_postgres_is_away_and_recovers(private_pg, test_env, redis_clean, log_dir: Path):
    env = {**test_env, "DATABASE_URL": private_pg.url("easypay"), "EASYPAY_REDIS_PREFIX": f"outage-{uuid.uuid4().hex[:8]}"}
    asyncio.run(_create_database(private_pg, "easypay"))
    assert _cli(env, "db", "upgrade").returncode == 0
    merchant = json.loads(_cli(env, "merchants", "create", "--name", "Outage shop", "--json").stdout)
    key = json.loads(_cli(env, "keys", "create", "--merchant", merchant["id"], "--json").stdout)["key"]
    headers = {"Authorization": f"Bearer {key}"}

    port = free_port()
    log_path = log_dir / "web-postgres-outage.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "easypay.cli", "web", "--port", str(port)],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for_http(f"{base}/health/live", proc=proc)
        with httpx.Client(base_url=base, timeout=20) as client:
            accepted = client.post("/v1/payments", json=card_payment("5.00"), headers={**headers, "Idempotency-Key": "before"})
            assert accepted.status_code == 202, accepted.text
            payment_id = accepted.json()["id"]
            assert client.get("/v1/payments", headers=headers).status_code == 200
            log_size = log_path.stat().st_size

            # When: PostgreSQL goes away
            private_pg.stop()
            for method, path, body in _routes(payment_id):
                answer = client.request(method, path, json=body, headers={**headers, "Idempotency-Key": uuid.uuid4().hex})
                # Then: 503 with Retry-After and a problem document that names no internals
                assert answer.status_code == 503, (method, path, answer.status_code, answer.text)
                assert int(answer.headers["Retry-After"]) >= 1
                assert answer.headers["Content-Type"].startswith("application/problem+json")
                problem = answer.json()
                assert problem["code"] == "service_unavailable", problem
                assert problem["request_id"] == answer.headers["X-Request-ID"]
                lowered = answer.text.lower()
                assert not any(word in lowered for word in ("postgres", "asyncpg", "sqlalchemy", str(private_pg.port)))
            assert client.get("/health/ready").status_code == 503
            during = log_path.read_bytes()[log_size:].decode(errors="replace")
            assert "Traceback" not in during, during[-3000:]
            assert "PostgreSQL unavailable" in during

            # When: it comes back, the API recovers by itself
            private_pg.start()
            deadline = time.monotonic() + 30
            while (listed := client.get("/v1/payments", headers=headers)).status_code != 200:
                assert time.monotonic() < deadline, listed.text
                time.sleep(0.5)
            assert payment_id in {p["id"] for p in listed.json()["data"]}
            again = client.post("/v1/payments", json=card_payment("6.00"), headers={**headers, "Idempotency-Key": "after"})
            assert again.status_code == 202, again.text
    finally:
        stop(proc, timeout_s=15)


def test_cli_says_in_one_line_that_postgres_cannot_be_reached(test_env):
    closed = free_port()
    env = {**test_env, "DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:{closed}/easypay"}
    for args in (("payments", "stuck"), ("db", "upgrade"), ("users", "list"), ("webhooks", "dead")):
        done = _cli(env, *args)
        assert done.returncode == 1, (args, done.returncode, done.stderr[-2000:])
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"Error: cannot reach PostgreSQL at 127.0.0.1:{closed}: "), done.stderr
    env = {**test_env, "BROKER_URL": f"redis://127.0.0.1:{closed}/0"}
    done = _cli(env, "queues")
    # redis-py words the refusal in one of two ways (its own ConnectionError naming the address,
    # or the socket's ConnectionRefusedError beneath it); either way it is one line that says so.
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1, done.stderr
    assert lines[0].startswith("Error: cannot reach Redis: ") and "refused" in lines[0].lower(), lines


def test_cli_says_in_one_line_that_rabbitmq_cannot_be_reached(test_env):
    closed = free_port()
    env = {**test_env, "BROKER_URL": f"amqp://guest:guest@127.0.0.1:{closed}/"}
    for args in (("queues",), ("dlq", "list"), ("dlq", "purge")):
        done = _cli(env, *args)
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 1 and len(lines) == 1, (args, done.stderr[-3000:])
        assert lines[0].startswith("Error: cannot reach RabbitMQ: "), (args, lines)
