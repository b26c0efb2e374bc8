"""``DATABASE_READ_URL``: reads from a real streaming replica, read-your-writes, lag, fallback.

A private primary (``initdb``) and a standby made from it with ``pg_basebackup -R``, on ports of
their own. The API runs in-process with ``DATABASE_URL`` on the primary and ``DATABASE_READ_URL``
on the standby. Pausing replay on the standby (``pg_wal_replay_pause()``) makes what it serves
visibly older than the primary: a list by another client does not show a payment just accepted,
while the client that accepted it reads it back, and the lag gauges report it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any, AsyncIterator, Awaitable, Callable, Iterator

import asyncpg
import httpx
import pytest
import redis
from litestar.testing import AsyncTestClient

from api.app import create_app
from engine.settings import Settings
from engine.settings_from_env import load_settings
from tests.conftest import make_merchant
from tests.helpers import card_payment
from tests.ops.metrics_text import value
from tests.private_postgres import PrivatePostgres

#: How long a condition the test waits for may take on a loaded machine (a wait bound, not a timing assertion).
WAIT_S = 60.0


@pytest.fixture
def replicated() -> Iterator[tuple[PrivatePostgres, PrivatePostgres]]:
    primary = PrivatePostgres()
    standby: PrivatePostgres | None = None
    try:
        primary.start()
        primary.allow_replication()
        primary.psql('CREATE DATABASE "easypay"')
        from migrations.runner import upgrade

        upgrade(primary.url("easypay"))
        standby = PrivatePostgres(primary=primary)
        standby.start()
        yield primary, standby
    finally:
        if standby is not None:
            standby.remove()
        primary.remove()


def _settings(test_env: dict[str, str], primary: PrivatePostgres, standby: PrivatePostgres, **extra: str) -> Settings:
    return load_settings(
        {
            **test_env,
            "DATABASE_URL": primary.url("easypay"),
            "DATABASE_READ_URL": standby.url("easypay"),
            "DATABASE_READ_LAG_INTERVAL_S": "0.2",
            "EASYPAY_REDIS_PREFIX": f"replica-{uuid.uuid4().hex[:8]}",
            **extra,
        }
    )


async def _second_key(settings: Settings, merchant_id: uuid.UUID) -> dict[str, str]:
    """Another API key of the same merchant: another client."""
    from engine.auth import derive_pepper
    from engine.db.accounts import create_api_key
    from engine.db.session import make_engine

    engine = make_engine(settings.database)
    try:
        async with engine.begin() as conn:
            issued = await create_api_key(conn, merchant_id=merchant_id, role="merchant", pepper=derive_pepper(settings.secret_key))
    finally:
        await engine.dispose()
    return {"Authorization": f"Bearer {issued.token}"}


async def _until(what: str, check: Callable[[], Awaitable[Any]]) -> Any:
    deadline = time.monotonic() + WAIT_S
    while not (result := await check()):
        assert time.monotonic() < deadline, f"not seen within {WAIT_S} s: {what}"
        await asyncio.sleep(0.1)
    return result


async def _replay(standby: PrivatePostgres, action: str) -> None:
    conn = await asyncpg.connect(standby.dsn("easypay"))
    try:
        await conn.execute(f"SELECT pg_wal_replay_{action}()")
        wanted = "paused" if action == "pause" else "not paused"
        while await conn.fetchval("SELECT pg_get_wal_replay_pause_state()") != wanted:
            await asyncio.sleep(0.05)
    finally:
        await conn.close()


def _ids(listed: httpx.Response) -> set[str]:
    assert listed.status_code == 200, listed.text
    return {p["id"] for p in listed.json()["data"]}


@pytest.fixture
async def app_client(replicated, test_env, redis_clean, sandbox) -> AsyncIterator[tuple[AsyncTestClient, Settings]]:
    primary, standby = replicated
    settings = _settings(test_env, primary, standby, DATABASE_READ_MAX_LAG_S="300")
    async with AsyncTestClient(app=create_app(settings, configure_logs=False), timeout=40) as client:
        yield client, settings


@pytest.fixture
async def strict_client(replicated, test_env, redis_clean, sandbox) -> AsyncIterator[AsyncTestClient]:
    """A second API process whose bound is 1 s: it stops using the replica sooner."""
    primary, standby = replicated
    settings = _settings(test_env, primary, standby, DATABASE_READ_MAX_LAG_S="1")
    async with AsyncTestClient(app=create_app(settings, configure_logs=False), timeout=40) as client:
        yield client


@pytest.fixture
async def unsampled_client(replicated, test_env, redis_clean, sandbox) -> AsyncIterator[AsyncTestClient]:
    """A third API process that samples once a minute: it learns of a failure from a read first."""
    primary, standby = replicated
    settings = _settings(test_env, primary, standby, DATABASE_READ_MAX_LAG_S="3600", DATABASE_READ_LAG_INTERVAL_S="60")
    async with AsyncTestClient(app=create_app(settings, configure_logs=False), timeout=40) as client:
        yield client


async def test_reads_come_from_the_replica_with_read_your_writes_lag_and_fallback(
    app_client, strict_client, unsampled_client, replicated
):
    client, settings = app_client
    standby = replicated[1]
    writer = await make_merchant(settings, "Replica shop")
    other = await _second_key(settings, writer.id)

    async def ready() -> dict[str, Any]:
        answer = await client.get("/health/ready")
        return dict(answer.json()) | {"http_status": answer.status_code}

    async def metrics() -> str:
        return (await client.get("/metrics")).text

    await _until("reads routed to the replica", lambda: _is(ready(), lambda r: r.get("reads") == "replica"))
    for other_api in (strict_client, unsampled_client):
        await _until(
            "the other APIs' reads routed to the replica",
            lambda api=other_api: _is(api.get("/health/ready"), lambda r: r.json().get("reads") == "replica"),
        )
    assert (await ready())["http_status"] == 200

    # Given: the replica stops replaying what the primary sends it
    await _replay(standby, "pause")

    # When: one client accepts a payment
    accepted = await client.post("/v1/payments", json=card_payment("12.00"), headers=writer.headers)
    assert accepted.status_code == 202, accepted.text
    payment_id = accepted.json()["id"]
    cache = redis.Redis.from_url(settings.redis.cache_url)
    snapshot = f"{settings.redis.key_prefix}:payment:{payment_id}"

    # Then: that client reads its own write, from the cache and (the snapshot gone) from PostgreSQL
    assert (await client.get(f"/v1/payments/{payment_id}", headers=writer.headers)).status_code == 200
    cache.delete(snapshot)
    assert (await client.get(f"/v1/payments/{payment_id}", headers=writer.headers)).json()["id"] == payment_id
    cache.delete(snapshot)
    assert payment_id in _ids(await client.get("/v1/payments", headers=writer.headers))

    # And: another client's list is served by the paused replica, which does not have it yet
    before = value(await metrics(), "easypay_db_reads_total", target="replica", reason="fresh")
    assert payment_id not in _ids(await client.get("/v1/payments", headers=other))
    assert value(await metrics(), "easypay_db_reads_total", target="replica", reason="fresh") > before
    # ... while fetching the object itself finds it (missing on the replica, asked of the primary)
    assert (await client.get(f"/v1/payments/{payment_id}", headers=other)).json()["id"] == payment_id
    cache.delete(snapshot)

    # And: the lag gauges report the replica behind, in bytes and in seconds
    text = await _until(
        "replica lag reported",
        lambda: _is(metrics(), lambda t: value(t, "easypay_db_replica_lag_seconds") > 0.5),
    )
    assert value(text, "easypay_db_replica_lag_bytes") > 0
    assert value(text, "easypay_db_replica_up") == 1

    # When: the API whose bound is 1 s measures the replica lagging beyond it, its reads fall back to the primary
    await _until(
        "the strict API's replica lagging",
        lambda: _is(strict_client.get("/health/ready"), lambda r: r.json().get("replica", "").startswith("lagging")),
    )
    assert payment_id in _ids(await strict_client.get("/v1/payments", headers=other))
    assert payment_id not in _ids(await client.get("/v1/payments", headers=other))  # the 300 s one still reads the replica

    # When: replay resumes, the other client's list shows the payment from the replica
    await _replay(standby, "resume")
    await _until("the payment replayed", lambda: _is(client.get("/v1/payments", headers=other), lambda r: payment_id in _ids(r)))
    await _until("lag back under the bound", lambda: _is(ready(), lambda r: r.get("reads") == "replica"))

    # When: the replica stops, reads keep working from the primary, and readiness holds
    standby.stop()
    assert payment_id in _ids(await client.get("/v1/payments", headers=other))
    cache.delete(snapshot)
    assert (await client.get(f"/v1/payments/{payment_id}", headers=other)).status_code == 200
    report = await _until("the replica reported down", lambda: _is(ready(), lambda r: r.get("replica", "").startswith("error")))
    assert report["http_status"] == 200 and report["reads"] == "primary", report
    assert report["checks"]["database"] == "ok"
    assert value(await metrics(), "easypay_db_replica_up") == 0
    # ... also where no lag sample has seen it go yet: the failed read is asked again on the primary
    failed_over = value(await metrics(), "easypay_db_reads_total", target="primary", reason="replica_error")
    assert (await unsampled_client.get("/health/ready")).json()["reads"] == "replica"
    assert payment_id in _ids(await unsampled_client.get("/v1/payments", headers=other))
    assert value(await metrics(), "easypay_db_reads_total", target="primary", reason="replica_error") == failed_over + 1
    assert (await unsampled_client.get("/health/ready")).json()["replica"].startswith("error")
    # ... and writes were never affected
    assert (await client.post("/v1/payments", json=card_payment("13.00"), headers=writer.headers)).status_code == 202


async def _is(answer: Awaitable[Any], test: Callable[[Any], bool]) -> Any:
    """``answer`` when ``test(answer)`` holds, else None (for ``_until``)."""
    result = await answer
    return result if test(result) else None
