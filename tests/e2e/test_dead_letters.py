"""A payment message that dies (retries exhausted) is dead-lettered without its sealed card, and a
``dlq retry`` of it charges only from the stash copy, never on a guess (``workers.dead_letters``)."""

from __future__ import annotations

import asyncio
import uuid

import dramatiq
import pytest
import redis

from engine.db import payments as repo
from engine.method_secrets import seal_method
from engine.method_stash import MethodStash
from engine.payments import NewPayment, accept_payment
from engine.processor import Card
from engine.sealing import Sealer
from jobs.names import NAMESPACE, PAYMENT_MESSAGE_MAX_AGE_MS, PAYMENTS_QUEUE, PROCESS_PAYMENT, REMOVED_ARGUMENT
from jobs.redis_dead_letters import dead_letters, retry_dead_letter
from jobs.brokers import connect_sender
from jobs.sender import JobSender
from tests.conftest import BROKER_DB
from tests.helpers import VISA

pytestmark = [pytest.mark.usefixtures("worker"), pytest.mark.redis_broker]  # the Redis broker's dead letters

DEAD_LETTERS = f"{NAMESPACE}:{PAYMENTS_QUEUE}.XQ.msgs"


async def _send_doomed(sender: JobSender, settings, payment_id: uuid.UUID, *, stash: bool) -> str:
    """A charge for a payment row that does not exist yet (as if the API's commit were late): the
    worker fails it with ``PaymentNotVisible``, and ``max_retries=0`` dead-letters it at once."""
    sealed = seal_method(
        Sealer(settings.secret_key), payment_id, Card(number=VISA, exp_month=12, exp_year=2031, cvc="123"),
        ttl_s=settings.card_message_ttl_s,
    )
    message = dramatiq.Message(
        queue_name=PAYMENTS_QUEUE,
        actor_name=PROCESS_PAYMENT,
        args=(str(payment_id), sealed),
        kwargs={},
        options={
            "max_age": PAYMENT_MESSAGE_MAX_AGE_MS,
            "max_retries": 0,
            "log_context": {"request_id": f"req-dlq-{payment_id.hex[:8]}", "payment_id": str(payment_id)},
        },
    )
    key = MethodStash(sender.redis, prefix=settings.redis.key_prefix).key(payment_id)
    await sender._enqueue(message, also_set=(key, sealed, settings.card_message_ttl_s) if stash else None)
    return sealed


async def _dead_letter_bytes(broker: redis.Redis, payment_id: uuid.UUID, timeout_s: float = 30.0) -> tuple[bytes, bytes]:
    for _ in range(int(timeout_s * 10)):
        for rid, raw in broker.hgetall(DEAD_LETTERS).items():
            if str(payment_id).encode() in raw:
                return rid, raw
        await asyncio.sleep(0.1)
    raise AssertionError(f"no dead letter for {payment_id}")


async def _final(db, payment_id: uuid.UUID, timeout_s: float = 30.0):
    for _ in range(int(timeout_s * 10)):
        async with db.connect() as conn:
            row = await repo.get_payment(conn, payment_id)
        if row.status not in ("pending", "processing"):
            return row
        await asyncio.sleep(0.1)
    raise AssertionError(f"payment {payment_id} is still {row.status}")


async def test_dead_letter_holds_no_sealed_card_and_its_retry_uses_only_the_stash(settings, merchant, db):
    broker = redis.Redis(host="127.0.0.1", port=6379, db=BROKER_DB)
    sender = connect_sender(settings)
    stashed, gone = uuid.uuid4(), uuid.uuid4()
    try:
        sealed = {p: await _send_doomed(sender, settings, p, stash=p == stashed) for p in (stashed, gone)}
        raw = {p: await _dead_letter_bytes(broker, p) for p in (stashed, gone)}
        for payment_id, (_, body) in raw.items():
            token = sealed[payment_id].encode()
            assert token not in body and token[3:40] not in body, "the dead letter still holds the sealed card"
            assert REMOVED_ARGUMENT.encode() in body

        # Still listed by message, actor, payment and request
        listed = {d.subject: d for d in dead_letters(broker, NAMESPACE, PAYMENTS_QUEUE)}
        for payment_id in (stashed, gone):
            dead = listed[str(payment_id)]
            assert (dead.actor, dead.request_id) == (PROCESS_PAYMENT, f"req-dlq-{payment_id.hex[:8]}")
            assert dead.message_id and "PaymentNotVisible" in (dead.error or "")

        # The API's commit lands after all; the operator retries both dead letters.
        async with db.begin() as conn:
            for payment_id in (stashed, gone):
                new = NewPayment(merchant_id=merchant.id, amount_minor=1234, currency="USD", capture=True, payment_method_type="card")
                await accept_payment(conn, new, payment_id=payment_id)
        for payment_id in (stashed, gone):
            assert retry_dead_letter(broker, NAMESPACE, PAYMENTS_QUEUE, raw[payment_id][0].decode())

        charged = await _final(db, stashed)
        assert charged.status == "captured" and charged.processor_transaction_id
        # No stash copy and well inside CARD_MESSAGE_TTL_S: the card was lost, not expired.
        lost = await _final(db, gone)
        assert (lost.status, lost.failure_code, lost.processor_attempts) == ("failed", "payment_method_lost", 0)
    finally:
        await sender.close()
        broker.close()
