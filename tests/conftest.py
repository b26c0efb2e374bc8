"""Shared fixtures: real PostgreSQL, real Redis, the emulator and a worker pool as subprocesses.

The suite owns a database (``easypay_test``, rebuilt with Alembic at session start), Redis
databases 14 (cache) and 15 (broker), and free loopback ports; it never touches development data.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, AsyncIterator, Iterator

import asyncpg
import httpx
import pytest
import redis

from engine.settings import Settings
from engine.settings_from_env import load_settings

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_DSN = os.environ.get("TEST_PG_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
#: ``EASYPAY_TEST_SLOT=N`` (0-4) gives a run its own database and Redis databases (slot N uses
#: 14-2N and 15-2N; benchmarks use 2-5), so several checkouts can run the suite at once.
TEST_SLOT = int(os.environ.get("EASYPAY_TEST_SLOT", "0"))
TEST_DB = "easypay_test" if TEST_SLOT == 0 else f"easypay_test_{TEST_SLOT}"
CACHE_DB, BROKER_DB = 14 - 2 * TEST_SLOT, 15 - 2 * TEST_SLOT
TEST_SECRET = "test-secret-key-0123456789abcdef-0123456789abcdef"
#: ``EASYPAY_TEST_BROKER=rabbitmq`` runs the suite's processes on RabbitMQ (127.0.0.1:5672, a
#: virtual host of the slot's own, rebuilt at session start) instead of the Redis broker.
TEST_BROKER = os.environ.get("EASYPAY_TEST_BROKER", "redis")
RABBITMQ_VHOST = f"easypay-test{TEST_SLOT}"
BROKER_URL = (
    f"amqp://guest:guest@127.0.0.1:5672/{RABBITMQ_VHOST}"
    if TEST_BROKER == "rabbitmq"
    else f"redis://127.0.0.1:6379/{BROKER_DB}"
)



#: The kind of every test, by where it lives (markers registered in ``pyproject.toml``): select one
#: with ``pytest -m unit`` and so on. ``make test`` runs them all.
KIND_BY_DIRECTORY = {
    "unit": "unit",
    "api": "api",
    "access": "api",
    "dashboard": "api",
    "integration": "integration",
    "webhooks": "integration",
    "processor": "integration",
    "sandbox": "integration",
    "client": "integration",
    "ops": "integration",
    "e2e": "e2e",
    "faults": "faults",
}
#: Files of another kind than their directory's.
KIND_BY_FILE = {"test_browser.py": "browser"}


def kind_of(test_file: Path) -> str | None:
    path = test_file.resolve().relative_to(ROOT / "tests")
    return KIND_BY_FILE.get(path.name) or KIND_BY_DIRECTORY.get(path.parts[0])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        kind = kind_of(Path(str(item.path)))
        if kind is not None:
            item.add_marker(getattr(pytest.mark, kind))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_http(url: str, timeout_s: float = 20.0, proc: subprocess.Popen[Any] | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process for {url} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout_s} s")


def stop(proc: subprocess.Popen[Any], timeout_s: float = 10.0) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def _recreate_database() -> None:
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            TEST_DB,
        )
        await conn.execute(f'DROP DATABASE IF EXISTS "{TEST_DB}"')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def sandbox_port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def worker_metrics_port() -> int:
    """The payments pool's Prometheus endpoint in tests (``WORKER_METRICS_PORT``)."""
    return free_port()


@pytest.fixture(scope="session")
def test_env(sandbox_port: int, worker_metrics_port: int, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment every process of the suite runs with."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(
            ("ANET_", "DATABASE_", "REDIS_", "BROKER_", "WORKER_", "WEBHOOKS_", "RECOVERY_", "SCHEDULER_", "PROMETHEUS_", "prometheus_", "dramatiq_")
        )
    }
    env.update(
        {
            "DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{TEST_DB}",
            "REDIS_URL": f"redis://127.0.0.1:6379/{CACHE_DB}",
            "BROKER_URL": BROKER_URL,
            "EASYPAY_SECRET_KEY": TEST_SECRET,
            "EASYPAY_ENV": "test",
            "EASYPAY_REDIS_PREFIX": f"easypay-test{TEST_SLOT or ''}",
            "SANDBOX_PORT": str(sandbox_port),
            "ANET_READ_TIMEOUT_S": "2",
            "ANET_CONNECT_TIMEOUT_S": "1",
            "WORKER_POLL_TIMEOUT_MS": "50",
            "WORKER_PROCESSES": "1",
            "WORKER_HEARTBEAT_TIMEOUT_MS": "3000",
            "WORKER_THREADS": "8",
            "WORKER_METRICS_PORT": str(worker_metrics_port),
            # Other pools serve metrics only where a test asks (fixed defaults would collide).
            "WEBHOOKS_METRICS_PORT": "0",
            "RECOVERY_METRICS_PORT": "0",
            "SCHEDULER_METRICS_PORT": "0",
            "METRICS_HOST": "127.0.0.1",
            "EASYPAY_METRICS_DIR": str(tmp_path_factory.mktemp("metrics")),
            # Ordinary tests are not throttled; rate-limit tests set limits per key.
            "RATE_LIMIT_PER_MINUTE": "1000000",
            "RATE_LIMIT_PER_HOUR": "10000000",
            "RATE_LIMIT_PER_DAY": "100000000",
            "EASYPAY_KEY_FAILURES_PER_MINUTE": "1000000",
            "EASYPAY_LOGIN_PER_MINUTE_PER_EMAIL": "1000000",
            "EASYPAY_LOGIN_PER_MINUTE": "1000000",
            # The suite's webhook receivers listen on loopback: opted in explicitly (nothing is by default).
            "WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8,::1/128",
            "NO_PROXY": "127.0.0.1,localhost",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


@pytest.fixture(scope="session")
def settings(test_env: dict[str, str]) -> Settings:
    return load_settings(test_env)


@pytest.fixture(scope="session")
def database(settings: Settings) -> str:
    """A fresh ``easypay_test`` database migrated to head with Alembic."""
    from migrations.runner import upgrade

    asyncio.run(_recreate_database())
    upgrade(settings.database.url)
    return settings.database.url


@pytest.fixture(scope="session")
def redis_clean(settings: Settings) -> None:
    """Empty cache and broker: the slot's Redis databases, and its RabbitMQ virtual host."""
    for db in (CACHE_DB, BROKER_DB):
        redis.Redis(host="127.0.0.1", port=6379, db=db).flushdb()
    if TEST_BROKER == "rabbitmq":
        reset_rabbitmq_vhost(RABBITMQ_VHOST)


def reset_rabbitmq_vhost(vhost: str) -> None:
    """Delete and recreate ``vhost`` on the local RabbitMQ, open to ``guest`` (``rabbitmqctl``)."""
    subprocess.run(["rabbitmqctl", "-q", "delete_vhost", vhost], capture_output=True, timeout=60)
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", vhost], check=True, capture_output=True, timeout=60)
    subprocess.run(
        ["rabbitmqctl", "-q", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
        check=True,
        capture_output=True,
        timeout=60,
    )


@pytest.fixture(scope="session")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("logs")


@pytest.fixture(scope="session")
def sandbox(test_env: dict[str, str], sandbox_port: int, log_dir: Path) -> Iterator["SandboxControl"]:
    """The Authorize.net emulator, as a real process."""
    log = open(log_dir / "sandbox.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "--port", str(sandbox_port)],
        cwd=ROOT,
        env=test_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{sandbox_port}"
    wait_for_http(f"{base}/_sandbox/health", proc=proc)
    yield SandboxControl(base)
    stop(proc)
    log.close()


class SandboxControl:
    """The emulator's control API (ledger, faults, settlement, clock)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.xml_url = f"{base_url}/xml/v1/request.api"
        self._http = httpx.Client(base_url=base_url, timeout=10.0)

    def ledger(self, invoice_number: str | None = None) -> list[dict[str, Any]]:
        params = {"invoice_number": invoice_number} if invoice_number else None
        response = self._http.get("/_sandbox/ledger", params=params)
        response.raise_for_status()
        return list(response.json()["transactions"])

    def add_fault(self, fault: str, **options: Any) -> None:
        self._http.post("/_sandbox/faults", json={"fault": fault, **options}).raise_for_status()

    def clear_faults(self) -> None:
        self._http.delete("/_sandbox/faults").raise_for_status()

    def configure(self, **changes: Any) -> dict[str, Any]:
        """Change the emulator's run-time settings (``latency_ms``, ``fail_rate``…)."""
        response = self._http.post("/_sandbox/config", json=changes)
        response.raise_for_status()
        return dict(response.json())

    def settle(self) -> dict[str, Any]:
        response = self._http.post("/_sandbox/settle")
        response.raise_for_status()
        return dict(response.json())

    def advance_clock(self, seconds: float) -> dict[str, Any]:
        response = self._http.post("/_sandbox/clock", json={"advance_s": seconds})
        response.raise_for_status()
        return dict(response.json())


@pytest.fixture(autouse=True)
def _clear_sandbox_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "sandbox" in request.fixturenames:
        request.getfixturevalue("sandbox").clear_faults()


def start_worker(
    test_env: dict[str, str], log_path: Path, *, cli_args: tuple[str, ...] = (), **overrides: str
) -> subprocess.Popen[bytes]:
    env = {**test_env, **overrides}
    log = open(log_path, "ab")
    return subprocess.Popen(
        [sys.executable, "-m", "easypay.cli", "worker", *cli_args],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def start_web(
    env: dict[str, str], log_path: Path, *, port: int | None = None, timeout_s: float = 20.0
) -> tuple[str, subprocess.Popen[bytes]]:
    """A real ``easypay web`` process on ``port`` (default: a free one), answering ``/health/live``;
    returns its base URL and the process (stop it with ``stop``)."""
    port = port or free_port()
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "easypay.cli", "web", "--port", str(port)],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{base}/health/live", timeout_s=timeout_s, proc=proc)
    except BaseException:
        stop(proc)
        raise
    return base, proc


@pytest.fixture(scope="module")
def worker(
    request: pytest.FixtureRequest, test_env: dict[str, str], database: str, redis_clean: None, sandbox: SandboxControl, log_dir: Path
) -> Iterator[Path]:
    """A real Dramatiq worker pool for the ``payments`` queue, per test module; yields its log file.

    Per module, so a module that needs to control exactly which workers run (killing one, say)
    does not share the queue with another module's pool. It also serves ``recovery`` (the
    reconciliation the API asks for), which production runs in a pool of its own.
    """
    log_path = log_dir / f"worker-{request.module.__name__.rsplit('.', 1)[-1]}.log"
    proc = start_worker(test_env, log_path, cli_args=("--queues", "payments,recovery"))
    yield log_path
    stop(proc, timeout_s=15)


@pytest.fixture(scope="session")
async def api(settings: Settings, database: str, redis_clean: None) -> AsyncIterator[httpx.AsyncClient]:
    """The Litestar app in-process (real PostgreSQL, Redis and broker behind it)."""
    from litestar.testing import AsyncTestClient

    from api.app import create_app

    app = create_app(settings, configure_logs=False)
    async with AsyncTestClient(app=app, timeout=40) as client:
        yield client


class Merchant:
    def __init__(self, merchant_id: uuid.UUID, key: str, key_id: str) -> None:
        self.id = merchant_id
        self.key = key
        self.key_id = key_id

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


async def make_merchant(settings: Settings, name: str = "Test shop", role: str = "merchant") -> Merchant:
    from engine.auth import derive_pepper
    from engine.db.accounts import create_api_key, create_merchant
    from engine.db.session import make_engine

    engine = make_engine(settings.database)
    try:
        async with engine.begin() as conn:
            row = await create_merchant(conn, name)
            issued = await create_api_key(conn, merchant_id=row.id, role=role, pepper=derive_pepper(settings.secret_key))
    finally:
        await engine.dispose()
    return Merchant(row.id, issued.token, issued.key_id)


@pytest.fixture
async def merchant(settings: Settings, database: str) -> Merchant:
    return await make_merchant(settings)


@pytest.fixture
async def db(settings: Settings, database: str) -> AsyncIterator[Any]:
    """A SQLAlchemy async engine on the test database, for assertions."""
    from engine.db.session import make_engine

    engine = make_engine(settings.database)
    yield engine
    await engine.dispose()
