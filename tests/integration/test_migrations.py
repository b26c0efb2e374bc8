"""Alembic migrations: up, down, up again on a scratch database; the event log is append-only."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from migrations.runner import alembic_config, upgrade
from tests.conftest import PG_ADMIN_DSN

SCRATCH = "easypay_migrations_test"


async def _drop(name: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def test_upgrade_downgrade_upgrade_matches_the_models():
    url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{SCRATCH}"
    asyncio.run(_drop(SCRATCH))
    try:
        upgrade(url)
        command.downgrade(alembic_config(url), "base")
        upgrade(url)
        command.check(alembic_config(url))  # raises if the models and the migrated schema differ
    finally:
        asyncio.run(_drop(SCRATCH))


async def test_merchant_events_refuse_update_and_delete(db, merchant):
    from engine.events import record_event
    from engine.payments import NewPayment, accept_payment
    from engine.views import payment_view

    async with db.begin() as conn:
        row = await accept_payment(
            conn, NewPayment(merchant_id=merchant.id, amount_minor=100, currency="USD", capture=True, payment_method_type="card")
        )
        await record_event(
            conn, merchant_id=merchant.id, type="payment.captured", object_type="payment", object_id=row.id,
            snapshot=payment_view(row),
        )
    for statement in ("UPDATE events SET type = 'x' WHERE object_id = :id", "DELETE FROM events WHERE object_id = :id"):
        with pytest.raises(DBAPIError, match="append-only"):
            async with db.begin() as conn:
                await conn.execute(text(statement), {"id": row.id})


async def test_payment_events_refuse_update_and_delete(db, merchant):
    from engine.payments import NewPayment, accept_payment

    async with db.begin() as conn:
        row = await accept_payment(
            conn, NewPayment(merchant_id=merchant.id, amount_minor=100, currency="USD", capture=True, payment_method_type="card")
        )
    for statement in ("UPDATE payment_events SET type = 'x' WHERE payment_id = :id", "DELETE FROM payment_events WHERE payment_id = :id"):
        with pytest.raises(DBAPIError, match="append-only"):
            async with db.begin() as conn:
                await conn.execute(text(statement), {"id": row.id})
