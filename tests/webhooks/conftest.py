"""Webhook fixtures: a loopback receiver, a ``webhooks`` worker pool per module (with the module's
compressed schedule) and the dispatcher running in the test's event loop."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any, AsyncIterator, Iterator

import pytest
from sqlalchemy import text

from engine.settings import Settings
from engine.settings_from_env import load_settings
from tests.conftest import ROOT, stop
from tests.webhooks.receiver import Receiver

#: Defaults for webhook test modules; a module overrides with a ``WEBHOOK_ENV`` dict.
BASE_WEBHOOK_ENV = {
    "WEBHOOK_RETRY_SCHEDULE_S": "0,0.2,0.2,1.5",
    "WEBHOOK_RETRY_JITTER": "0",
    "WEBHOOK_DISABLE_AFTER_S": "1.8",
    "WEBHOOK_TIMEOUT_S": "2",
    "WEBHOOK_CONNECT_TIMEOUT_S": "1",
    "WEBHOOK_LEASE_S": "5",
    "WEBHOOK_ENDPOINT_MAX_IN_FLIGHT": "2",
    "WEBHOOKS_PROCESSES": "1",
    "WEBHOOKS_THREADS": "8",
    "WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
}


@pytest.fixture(scope="module")
def webhook_env(request: pytest.FixtureRequest, test_env: dict[str, str]) -> dict[str, str]:
    return {**test_env, **BASE_WEBHOOK_ENV, **getattr(request.module, "WEBHOOK_ENV", {})}


@pytest.fixture(scope="module")
def webhook_settings(webhook_env: dict[str, str]) -> Settings:
    return load_settings(webhook_env)


def start_webhook_worker(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    log = open(log_path, "ab")
    return subprocess.Popen(
        [sys.executable, "-m", "easypay.cli", "worker", "--pool", "webhooks"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


@pytest.fixture(scope="module")
def webhook_worker(
    request: pytest.FixtureRequest, webhook_env: dict[str, str], database: str, redis_clean: None, log_dir: Path
) -> Iterator[Path]:
    log_path = log_dir / f"webhooks-{request.module.__name__.rsplit('.', 1)[-1]}.log"
    proc = start_webhook_worker(webhook_env, log_path)
    yield log_path
    stop(proc, timeout_s=15)


@pytest.fixture
async def dispatcher(webhook_settings: Settings, database: str) -> AsyncIterator[None]:
    """``dispatch_due_deliveries`` every 50 ms in this event loop, as the scheduler would run it."""
    from engine.db.session import make_engine
    from engine.webhooks.dispatch import run_forever
    from jobs.brokers import connect_sender

    engine = make_engine(webhook_settings.database)
    jobs = connect_sender(webhook_settings)
    stop_event = asyncio.Event()
    task = asyncio.create_task(
        run_forever(engine=engine, jobs=jobs, settings=webhook_settings.webhooks, interval_s=0.05, stop=stop_event)
    )
    yield
    stop_event.set()
    await task
    await jobs.close()
    await engine.dispose()


async def emit_event(db: Any, merchant_id: uuid.UUID, type: str = "payment.captured") -> uuid.UUID:
    """Record one event for a new payment, as ``transition()`` does, in its own transaction."""
    from engine.events import record_event
    from engine.payments import NewPayment, accept_payment
    from engine.views import payment_view

    async with db.begin() as conn:
        row = await accept_payment(
            conn, NewPayment(merchant_id=merchant_id, amount_minor=1250, currency="USD", capture=True, payment_method_type="card")
        )
        view = await record_event(
            conn, merchant_id=merchant_id, type=type, object_type="payment", object_id=row.id, snapshot=payment_view(row)
        )
    return uuid.UUID(view.id)


async def create_endpoint(api: Any, merchant: Any, url: str, events: list[str] | None = None) -> dict[str, Any]:
    response = await api.post(
        "/v1/webhook-endpoints", json={"url": url, "events": events or ["*"]}, headers=merchant.headers
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def delivery_rows(db: Any, endpoint_id: str) -> list[Any]:
    async with db.connect() as conn:
        return list(
            (
                await conn.execute(
                    text("SELECT * FROM webhook_deliveries WHERE endpoint_id = :e ORDER BY created_at"), {"e": endpoint_id}
                )
            ).all()
        )


async def endpoint_row(db: Any, endpoint_id: str) -> Any:
    async with db.connect() as conn:
        return (await conn.execute(text("SELECT * FROM webhook_endpoints WHERE id = :e"), {"e": endpoint_id})).one()


async def event_body(db: Any, event_id: uuid.UUID) -> bytes:
    async with db.connect() as conn:
        return bytes((await conn.execute(text("SELECT body FROM events WHERE id = :e"), {"e": event_id})).scalar_one())
