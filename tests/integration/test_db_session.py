"""``make_engine(ping_idle_s=...)``: an idle connection whose server side died is replaced unseen."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from engine.db.session import make_engine


async def test_a_dead_idle_connection_is_replaced_before_use(settings, database, db):
    engine = make_engine(settings.database, ping_idle_s=0.2)
    try:
        async with engine.connect() as conn:
            first_pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        async with db.connect() as admin:  # the server ends that session (a restart, an idle timeout)
            assert (await admin.execute(text("SELECT pg_terminate_backend(:p)"), {"p": first_pid})).scalar_one()
            await admin.commit()
        await asyncio.sleep(0.3)
        async with engine.connect() as conn:
            second_pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        assert second_pid != first_pid
    finally:
        await engine.dispose()


async def test_a_recently_used_connection_is_not_pinged(settings, database, db):
    """The trade-off, as documented: a connection used a moment ago goes out unchecked; if its
    session died, that one statement fails and the pool starts over with new connections."""
    engine = make_engine(settings.database, ping_idle_s=60)
    try:
        async with engine.connect() as conn:
            first_pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        async with db.connect() as admin:
            assert (await admin.execute(text("SELECT pg_terminate_backend(:p)"), {"p": first_pid})).scalar_one()
            await admin.commit()
        await asyncio.sleep(0.2)
        with pytest.raises(DBAPIError) as failed:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        assert failed.value.connection_invalidated
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one() != first_pid
    finally:
        await engine.dispose()
