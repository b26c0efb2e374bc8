"""Async engine factory; one per process, built from settings (no globals)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from engine.settings import DatabaseSettings


def make_engine(
    settings: DatabaseSettings, *, application_name: str = "easypay", lock_timeout_ms: int | None = None
) -> AsyncEngine:
    """``lock_timeout_ms`` bounds every lock wait on these connections (the API uses it)."""
    server_settings = {"application_name": application_name}
    if lock_timeout_ms is not None:
        server_settings["lock_timeout"] = f"{lock_timeout_ms}ms"
    return create_async_engine(
        settings.url,
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_pre_ping=True,
        pool_recycle=1800,
        connect_args={
            "server_settings": server_settings,
            "timeout": 5,
            "command_timeout": 30,
        },
    )
