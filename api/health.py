"""``/health/live`` (the process answers) and ``/health/ready`` (its dependencies answer)."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

from litestar import Response, get
from litestar.di import NamedDependency

from api.openapi_strict import NO_CREDENTIALS
from api.state import AppState
from engine.db.session import ping

#: Each readiness check gives up after this long (all run concurrently), so /health/ready answers
#: within about a second even when a dependency hangs: set the probe's timeout to 2 s or more.
CHECK_TIMEOUT_S = 1.0


@get("/health/live", tags=["operations"], summary="Liveness", include_in_schema=True, opt={"permission": None}, security=NO_CREDENTIALS)
async def live() -> dict[str, str]:
    return {"status": "ok"}


async def _database(state: AppState) -> None:
    async with state.engine.connect() as conn:
        await ping(conn)


async def _cache(state: AppState) -> None:
    await state.redis.ping()


async def _broker(state: AppState) -> None:
    await state.jobs.ping()


async def _processor(state: AppState) -> None:
    """A TCP connect to the processor endpoint: cheap, and sends nothing."""
    parts = urlsplit(state.settings.processor.endpoint_url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    _, writer = await asyncio.open_connection(parts.hostname, port)
    writer.close()
    await writer.wait_closed()


CHECKS = {"database": _database, "cache": _cache, "broker": _broker, "processor": _processor}


def replica_check(state: AppState) -> str | None:
    """The read replica as its last lag sample saw it (None: no ``DATABASE_READ_URL``).

    Reported, never failing readiness: while it is down or lagging, reads go to the primary.
    """
    lag = state.read_router.lag
    if lag is None:
        return None
    if not lag.up:
        return f"error: {lag.problem}"
    if lag.staleness_s() > state.read_router.max_lag_s:
        return f"lagging: {lag.staleness_s():.1f}s"
    return "ok"


@get(
    "/health/ready",
    tags=["operations"],
    summary="Readiness: database, cache, broker, processor",
    description="200 when every check passes; 503 with each check's result (ok, timeout, error: <type>). "
    "With a read replica, `replica` (ok, lagging: <s>, error: <why>) and `reads` (where reads go) are reported "
    "without failing readiness. "
    "With `EASYPAY_OPS_TOKEN` set, it needs that token as a Bearer token.",
    opt={"permission": None, "ops": True},
    security=NO_CREDENTIALS,
)
async def ready(easypay: NamedDependency[AppState]) -> Response[dict[str, Any]]:
    state = easypay

    async def run(name: str) -> tuple[str, str]:
        try:
            await asyncio.wait_for(CHECKS[name](state), timeout=CHECK_TIMEOUT_S)
            return name, "ok"
        except asyncio.TimeoutError:
            return name, "timeout"
        except Exception as exc:  # noqa: BLE001 - report any failure as the check's result
            return name, f"error: {type(exc).__name__}"

    results = dict(await asyncio.gather(*(run(name) for name in CHECKS)))
    healthy = all(value == "ok" for value in results.values())
    body: dict[str, Any] = {"status": "ok" if healthy else "unavailable", "checks": results}
    replica = replica_check(state)
    if replica is not None:
        body["replica"] = replica
        body["reads"] = "replica" if replica == "ok" else "primary"
    return Response(body, status_code=200 if healthy else 503)
