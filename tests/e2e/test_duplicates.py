"""At-least-once delivery: a duplicate message for a payment does nothing."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from engine.method_secrets import seal_method
from engine.processor import Card
from engine.sealing import Sealer
from tests.helpers import card_payment, wait_final

pytestmark = pytest.mark.usefixtures("worker")


async def test_duplicate_messages_charge_once(api, merchant, db, sandbox, settings):
    from jobs.brokers import connect_sender

    response = await api.post("/v1/payments", json=card_payment("55.10"), headers=merchant.headers)
    payment_id = uuid.UUID(response.json()["id"])
    sealed = seal_method(Sealer(settings.secret_key), payment_id, Card("4111111111111111", 12, 2031, "123"), ttl_s=600)
    jobs = connect_sender(settings)
    for _ in range(3):  # the same payment queued three more times, as a redelivery would
        await jobs.process_payment(payment_id, sealed, request_id="dup-test")
    await jobs.close()

    final = await wait_final(api, merchant.headers, str(payment_id))
    assert final["status"] == "captured"
    async with db.connect() as conn:
        invoice = (
            await conn.execute(text("SELECT invoice_number FROM payments WHERE id = :id"), {"id": payment_id})
        ).scalar_one()
        claims = (
            await conn.execute(
                text("SELECT count(*) FROM payment_events WHERE payment_id = :id AND to_status = 'processing' AND from_status = 'pending'"),
                {"id": payment_id},
            )
        ).scalar_one()
    assert claims == 1
    # Give the duplicates time to be consumed, then check the processor saw one charge.
    import asyncio

    for _ in range(50):
        depth = await _queue_depth(settings)
        if depth == 0:
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.5)
    assert len(sandbox.ledger(invoice)) == 1


async def _queue_depth(settings) -> int:
    from jobs.brokers import connect_sender

    jobs = connect_sender(settings)
    try:
        [stats] = await jobs.queue_stats(["payments"])
    finally:
        await jobs.close()
    return stats.depth


async def test_a_message_for_a_payment_not_yet_visible_waits_for_it(api, merchant, db, settings):
    """The API enqueues before committing; the worker must not drop a message that wins the race."""
    from jobs.brokers import connect_sender

    from engine.payments import NewPayment, accept_payment

    payment_id = uuid.uuid4()
    sealed = seal_method(Sealer(settings.secret_key), payment_id, Card("4111111111111111", 12, 2031, "123"), ttl_s=600)
    jobs = connect_sender(settings)
    async with db.begin() as conn:
        await accept_payment(
            conn,
            NewPayment(merchant_id=merchant.id, amount_minor=777, currency="USD", capture=True,
                       payment_method_type="card", card_brand="visa", card_last4="1111", card_exp_month=12, card_exp_year=2031),
            payment_id=payment_id,
        )
        await jobs.process_payment(payment_id, sealed, request_id="race-test")
        import asyncio

        await asyncio.sleep(0.8)  # the worker already has the message; the row is not committed yet
    await jobs.close()
    final = await wait_final(api, merchant.headers, str(payment_id))
    assert final["status"] == "captured"
