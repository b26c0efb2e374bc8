"""Probes under failure: readiness gives up on a hanging dependency after its short timeout and
names it; liveness touches no dependency."""

from __future__ import annotations

import asyncio
import dataclasses

from litestar.testing import AsyncTestClient

from api.health import CHECK_TIMEOUT_S
from tests.conftest import free_port


async def _silent_server() -> tuple[asyncio.AbstractServer, int]:
    """Accepts connections and never answers (a hung Redis)."""

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the client goes away

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def test_a_hanging_dependency_is_reported_as_timeout_with_503(settings, database):
    server, port = await _silent_server()
    try:
        hung = dataclasses.replace(settings, redis=dataclasses.replace(settings.redis, cache_url=f"redis://127.0.0.1:{port}/0"))
        from api.app import create_app

        async with AsyncTestClient(app=create_app(hung, configure_logs=False), timeout=CHECK_TIMEOUT_S * 5) as client:
            response = await client.get("/health/ready")
    finally:
        server.close()
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["cache"] == "timeout"
    assert body["checks"]["database"] == "ok" and body["checks"]["broker"] == "ok"
    assert CHECK_TIMEOUT_S <= 1.0


async def test_liveness_does_not_touch_dependencies(settings, database):
    from api.app import create_app

    dead = free_port()
    broken = dataclasses.replace(
        settings,
        redis=dataclasses.replace(settings.redis, cache_url=f"redis://127.0.0.1:{dead}/0", broker_url=f"redis://127.0.0.1:{dead}/1"),
        processor=dataclasses.replace(settings.processor, endpoint_url=f"http://127.0.0.1:{dead}/xml/v1/request.api"),
    )
    async with AsyncTestClient(app=create_app(broken, configure_logs=False)) as client:
        assert (await client.get("/health/live")).json() == {"status": "ok"}
        ready = await client.get("/health/ready")
    assert ready.status_code == 503
    assert {name for name, result in ready.json()["checks"].items() if result != "ok"} == {"cache", "broker", "processor"}
