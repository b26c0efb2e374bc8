"""Which exceptions mean "a dependency is away" (503) and which are bugs (500), from real failures."""

from __future__ import annotations

import asyncpg
import pytest
import redis

from engine.outages import unreachable_dependency
from tests.conftest import free_port


def _raised(call) -> BaseException:
    with pytest.raises(BaseException) as info:
        call()
    return info.value


async def test_a_refused_postgres_connection_is_postgres():
    with pytest.raises(OSError) as info:
        await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{free_port()}/x", timeout=2)
    assert unreachable_dependency(info.value) == "PostgreSQL"


async def test_a_missing_database_is_postgres_but_a_constraint_violation_is_a_bug():
    with pytest.raises(asyncpg.InvalidCatalogNameError) as missing:
        await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/no_such_db_for_outage_test", timeout=5)
    assert unreachable_dependency(missing.value) == "PostgreSQL"
    conn = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
    try:
        with pytest.raises(asyncpg.PostgresError) as bug:
            await conn.execute("SELECT 1/0")
    finally:
        await conn.close()
    assert unreachable_dependency(bug.value) is None


def test_a_refused_redis_connection_is_redis():
    client = redis.Redis(port=free_port(), socket_connect_timeout=1)
    assert unreachable_dependency(_raised(client.ping)) == "Redis"


def test_our_own_errors_are_not_outages_even_when_wrapped():
    assert unreachable_dependency(_raised(lambda: open("/nonexistent/easypay"))) is None
    try:
        try:
            1 / 0  # noqa: B018 - the point is the ZeroDivisionError
        except ZeroDivisionError as exc:
            raise RuntimeError("wrapped") from exc
    except RuntimeError as wrapped:
        assert unreachable_dependency(wrapped) is None
