"""After Redis restarts, the API's pooled connections are checked before use: no stray 503."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from tests.conftest import ROOT, free_port, make_merchant, stop, wait_for_http
from tests.helpers import card_payment
from tests.private_redis import PrivateRedis


@pytest.fixture
def private_redis(log_dir: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(free_port(), log_dir / "private-redis-restart.log")
    server.start()
    yield server
    server.stop()


async def test_requests_after_a_redis_restart_find_working_connections(private_redis, test_env, settings, database, log_dir):
    import subprocess
    import sys

    merchant = await make_merchant(settings)
    env = {
        **test_env,
        "REDIS_URL": f"redis://127.0.0.1:{private_redis.port}/0",
        "BROKER_URL": f"redis://127.0.0.1:{private_redis.port}/1",
        "EASYPAY_REDIS_PREFIX": f"restart-{uuid.uuid4().hex[:6]}",
    }
    port = free_port()
    with open(log_dir / "web-redis-restart.log", "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "easypay.cli", "web", "--port", str(port)],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for_http(f"{base}/health/live", proc=proc)
        with httpx.Client(base_url=base, timeout=20, headers=merchant.headers) as client:
            # Several connections in the API's pools, all used before the restart
            for _ in range(20):
                assert client.post("/v1/payments", json=card_payment("2.00")).status_code == 202
            private_redis.stop()
            private_redis.start()  # empty, on the same port: every pooled connection is now dead
            time.sleep(6)  # idle past the health-check interval, as a quiet API would be
            answers = [client.post("/v1/payments", json=card_payment("3.00")).status_code for _ in range(20)]
        assert answers == [202] * 20, answers
    finally:
        stop(proc, timeout_s=15)
