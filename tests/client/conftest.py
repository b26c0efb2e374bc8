"""The whole system over real HTTP for the client: an ``easypay web`` process, the payments worker
pool, the emulator, and (where a module asks) a ``webhooks`` pool with its dispatcher loop."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from easypay_client import Client
from tests.conftest import ROOT, Merchant, make_merchant, start_web, stop
from tests.webhooks.conftest import BASE_WEBHOOK_ENV, start_webhook_worker
from tests.webhooks.receiver import Receiver


@pytest.fixture(scope="session")
def client_env(test_env: dict[str, str]) -> dict[str, str]:
    return {**test_env, **BASE_WEBHOOK_ENV, "WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8,::1/128"}


@pytest.fixture(scope="session")
def api_url(client_env: dict[str, str], database: str, redis_clean: None, log_dir: Path) -> Iterator[str]:
    """A real ``easypay web`` process on a free port."""
    base, proc = start_web(client_env, log_dir / "web-client.log", timeout_s=30)
    try:
        yield base
    finally:
        stop(proc, timeout_s=15)


@pytest.fixture(scope="module")
def system(api_url: str, worker: Path, sandbox: Any) -> str:
    """API + payments worker pool + emulator: payments reach an outcome."""
    return api_url


@pytest.fixture(scope="module")
def webhooks_pool(client_env: dict[str, str], database: str, redis_clean: None, log_dir: Path, request: pytest.FixtureRequest) -> Iterator[None]:
    """A ``webhooks`` worker pool and ``easypay webhooks dispatch --loop`` (what the scheduler runs)."""
    name = request.module.__name__.rsplit(".", 1)[-1]
    pool = start_webhook_worker(client_env, log_dir / f"webhooks-{name}.log")
    with open(log_dir / f"dispatch-{name}.log", "ab") as log:
        dispatcher = subprocess.Popen(
            [sys.executable, "-m", "easypay.cli", "webhooks", "dispatch", "--loop", "--interval-s", "0.1"],
            cwd=ROOT, env=client_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    yield
    stop(dispatcher)
    stop(pool, timeout_s=15)


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def client(api_url: str, merchant: Merchant) -> Iterator[Client]:
    with Client(api_url, merchant.key) as c:
        yield c


@pytest.fixture
async def admin(settings: Any, database: str) -> Merchant:
    return await make_merchant(settings, name="Platform", role="admin")


def eventually(predicate: Callable[[], Any], *, timeout_s: float = 30.0, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy (a liveness deadline, not a speed check)."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


VISA = {"number": "4111111111111111", "exp_month": 12, "exp_year": 2031, "cvc": "123"}
