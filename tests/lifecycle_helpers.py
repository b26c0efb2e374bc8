"""Helpers for lifecycle tests: engine-side dependencies built like a worker's, and DB peeks."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from typing import Any, AsyncIterator

import httpx
from redis.asyncio import Redis
from sqlalchemy import text

from engine.cache import PaymentCache
from engine.db.session import make_engine
from engine.method_stash import MethodStash
from engine.job_deps import ProcessingDeps
from engine.processor import ProcessorClient
from engine.sealing import Sealer
from engine.settings import Settings
from jobs.brokers import connect_sender

DAY_S = 86_400


@contextlib.asynccontextmanager
async def worker_deps(settings: Settings, **lifecycle: Any) -> AsyncIterator[ProcessingDeps]:
    """What ``workers.runtime`` builds, in-process (to run a reconciler/sweep pass with a chosen ``now``)."""
    redis = Redis.from_url(settings.redis.cache_url)
    jobs = connect_sender(settings)
    client = ProcessorClient(settings.processor)
    engine = make_engine(settings.database)
    deps = ProcessingDeps(
        engine=engine,
        client=client,
        sealer=Sealer(settings.secret_key),
        cache=PaymentCache(redis, prefix=settings.redis.key_prefix, ttl_s=60),
        unknown_outcome_resends=1,
        resend_backoff_s=0.05,
        stash=MethodStash(jobs.redis, prefix=settings.redis.key_prefix),
        jobs=jobs,
        lifecycle=dataclasses.replace(settings.lifecycle, **lifecycle),
        duplicate_window_s=settings.processor.duplicate_window_s,
        card_message_ttl_s=settings.card_message_ttl_s,
    )
    try:
        yield deps
    finally:
        await client.aclose()
        await jobs.close()
        await redis.aclose()
        await engine.dispose()


async def payment_row(db: Any, payment_id: str) -> Any:
    async with db.connect() as conn:
        return (await conn.execute(text("SELECT * FROM payments WHERE id = :id"), {"id": payment_id})).one()


async def refund_rows(db: Any, payment_id: str) -> list[Any]:
    async with db.connect() as conn:
        return list((await conn.execute(text("SELECT * FROM refunds WHERE payment_id = :id ORDER BY created_at"), {"id": payment_id})).all())


async def wait_for(
    client: httpx.AsyncClient, headers: dict[str, str], path: str, predicate: Any, *, timeout_s: float = 30.0
) -> dict[str, Any]:
    """Poll ``GET path`` until ``predicate(body)`` holds (or fail the test)."""
    deadline = time.monotonic() + timeout_s
    while True:
        response = await client.get(path, headers=headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if predicate(body):
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} never satisfied the condition; last: {body}")
        await asyncio.sleep(0.05)


async def merchant_events(db: Any, object_id: str) -> list[str]:
    async with db.connect() as conn:
        rows = await conn.execute(
            text("SELECT type FROM events WHERE object_id = :id ORDER BY created_at, id"), {"id": object_id}
        )
        return [r.type for r in rows]
