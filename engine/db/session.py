"""Async engine factory; one per process, built from settings (no globals)."""

from __future__ import annotations

import functools
import time
from typing import Any

import msgspec
from sqlalchemy import event, text
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from engine.settings import DatabaseSettings

#: A pooled connection idle longer than this is pinged before use (API, workers, CLI alike).
PING_IDLE_S = 5.0


def _json_text(value: Any) -> str:
    """JSONB parameters (metadata, billing, event data) encoded by msgspec, not the stdlib."""
    return msgspec.json.encode(value).decode()


def make_engine(
    settings: DatabaseSettings,
    *,
    application_name: str = "easypay",
    lock_timeout_ms: int | None = None,
    ping_idle_s: float | None = PING_IDLE_S,
) -> AsyncEngine:
    """``lock_timeout_ms`` bounds every lock wait on these connections (the API uses it).

    A connection is checked (pinged) when it leaves the pool after being idle ``ping_idle_s``
    (None: every time). asyncpg's ping costs three round trips, paid by every
    transaction otherwise; a connection used a moment ago is very likely alive, and if it is
    not (the server restarted), the one statement that finds out fails and SQLAlchemy discards
    every connection of the pool.
    """
    server_settings = {"application_name": application_name}
    if lock_timeout_ms is not None:
        server_settings["lock_timeout"] = f"{lock_timeout_ms}ms"
    engine = create_async_engine(
        settings.url,
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_pre_ping=ping_idle_s is None,
        pool_recycle=1800,
        # msgspec reads the jsonb columns (metadata, billing, event data) several times faster than json.loads.
        json_serializer=_json_text,
        json_deserializer=msgspec.json.decode,
        connect_args={
            "server_settings": server_settings,
            "timeout": 5,
            "command_timeout": 30,
        },
    )
    if ping_idle_s is not None:
        _ping_when_idle(engine, ping_idle_s)
    return engine


@functools.lru_cache(maxsize=64)
def autocommit(engine: AsyncEngine) -> AsyncEngine:
    """``engine``'s pool in autocommit, for one statement that is atomic on its own (a read, or a
    write done in one statement): one round trip instead of BEGIN, the statement and COMMIT or
    ROLLBACK. Built once per engine (the options engine shares the pool)."""
    return engine.execution_options(isolation_level="AUTOCOMMIT")


def _ping_when_idle(engine: AsyncEngine, idle_s: float) -> None:
    """SQLAlchemy's "pessimistic disconnect handling" via pool events, for idle connections only."""
    pool = engine.sync_engine.pool

    @event.listens_for(pool, "connect")
    def _connected(dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(pool, "checkin")
    def _checked_in(dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        if time.monotonic() - record.info.get("idle_since", 0.0) < idle_s:
            return
        try:
            dbapi_connection.ping()
        except Exception as exc:  # noqa: BLE001 - the pool retries with a new connection
            raise DisconnectionError() from exc


async def ping(conn: AsyncConnection) -> None:
    """One round trip: the database answers (readiness checks)."""
    await conn.execute(text("SELECT 1"))
