"""RabbitMQ as the broker, on real RabbitMQ: what survives a broker restart, dead letters without
card data, and the held counters the recovery jobs read.

These tests choose their own broker (a virtual host of their own on the local RabbitMQ, or a
private node they stop and start), whichever broker the rest of the suite runs on.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid

import dramatiq
import pika
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import text

from engine.method_secrets import seal_method
from engine.method_stash import MethodStash
from engine.processor import Card
from engine.sealing import Sealer
from engine.settings_from_env import load_settings
from jobs.names import PAYMENT_MESSAGE_MAX_AGE_MS, PAYMENTS_QUEUE, PROCESS_PAYMENT, REMOVED_ARGUMENT
from jobs.queue_metrics import blocking_stats_reader
from jobs.brokers import connect_sender, open_dead_letters
from tests.conftest import ROOT, TEST_SLOT, reset_rabbitmq_vhost, start_worker, stop
from tests.helpers import VISA, card_payment, wait_final
from tests.rabbitmq_node import RabbitmqNode

pytestmark = pytest.mark.rabbitmq_broker

PAYMENTS = 12


@pytest.fixture
def vhost_env(test_env: dict[str, str]) -> dict[str, str]:
    vhost = f"easypay-test{TEST_SLOT}-own"
    reset_rabbitmq_vhost(vhost)
    return {**test_env, "BROKER_URL": f"amqp://guest:guest@127.0.0.1:5672/{vhost}"}


def _get_all(url: str, queue: str) -> list[bytes]:
    """Every message of ``queue``, taken and put back (the channel closes without acknowledging)."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        bodies = []
        while True:
            method, _, body = channel.basic_get(queue, auto_ack=False)
            if method is None:
                return bodies
            bodies.append(body)
    finally:
        connection.close()


async def test_dead_letter_keeps_no_sealed_card_and_the_held_count_follows_the_message(
    vhost_env, database, redis_clean, merchant, log_dir
):
    settings = load_settings(vhost_env)
    payment_id = uuid.uuid4()  # no such payment: the worker fails it (not visible), max_retries=0
    sealed = seal_method(
        Sealer(settings.secret_key), payment_id, Card(number=VISA, exp_month=12, exp_year=2031, cvc="123"),
        ttl_s=settings.card_message_ttl_s,
    )
    message = dramatiq.Message(
        queue_name=PAYMENTS_QUEUE, actor_name=PROCESS_PAYMENT, args=(str(payment_id), sealed), kwargs={},
        options={"max_age": PAYMENT_MESSAGE_MAX_AGE_MS, "max_retries": 0},
    )
    sender = connect_sender(settings)
    try:
        key = MethodStash(sender.redis, prefix=settings.redis.key_prefix).key(payment_id)
        await sender._enqueue(message, also_set=(key, sealed, settings.card_message_ttl_s))
        # Confirmed and held before any worker exists (the sender declared the queue itself).
        [stats] = await sender.queue_stats([PAYMENTS_QUEUE])
        assert (stats.depth, stats.dead_letters) == (1, 0)
        assert await sender.held_subjects([payment_id]) == {payment_id}
        assert blocking_stats_reader(settings.redis.broker_url, timeout_s=5)([PAYMENTS_QUEUE])[0].depth == 1

        worker = start_worker(vhost_env, log_dir / "rabbitmq-dead-letter.log")
        try:
            deadline = time.monotonic() + 30
            while (await sender.queue_stats([PAYMENTS_QUEUE]))[0].dead_letters == 0:
                assert time.monotonic() < deadline, "the message was never dead-lettered"
                await asyncio.sleep(0.2)
        finally:
            stop(worker)
        assert await sender.held_subjects([payment_id]) == set()
        [stats] = await sender.queue_stats([PAYMENTS_QUEUE])
        assert (stats.depth, stats.dead_letters) == (0, 1)
        # Listed with the time of death the worker wrote on its copy (``easypay dlq list``).
        [letter] = await open_dead_letters(settings, sender).list(PAYMENTS_QUEUE)
        assert (letter.subject, letter.message_id, letter.actor) == (str(payment_id), message.message_id, PROCESS_PAYMENT)
        assert letter.dead_at is not None and "PaymentNotVisible" in (letter.error or "")
    finally:
        await sender.close()

    [body] = _get_all(settings.redis.broker_url, "payments.XQ")
    dead = json.loads(body)
    assert dead["args"] == [str(payment_id), REMOVED_ARGUMENT]  # the subject stays, the card goes
    assert sealed.encode() not in body and VISA.encode() not in body
    assert dead["message_id"] == message.message_id


async def test_queued_payments_survive_a_broker_restart_and_are_charged_once(
    test_env, database, redis_clean, merchant, sandbox, db, log_dir
):
    node = RabbitmqNode()
    node.start()
    env = {**test_env, "BROKER_URL": node.url}
    settings = load_settings(env)
    from api.app import create_app

    try:
        async with AsyncTestClient(app=create_app(settings, configure_logs=False), timeout=40) as api:
            ids = []
            for i in range(PAYMENTS):  # no worker runs: every payment waits in RabbitMQ
                response = await api.post("/v1/payments", json=card_payment(f"9{i:02d}.17"), headers=merchant.headers)
                assert response.status_code == 202, response.text
                ids.append(response.json()["id"])

            node.stop()
            down = await api.post("/v1/payments", json=card_payment("99.99"), headers=merchant.headers)
            assert down.status_code == 503 and down.headers.get("Retry-After"), down.text
            assert down.json()["code"] == "queue_unavailable"
            node.start()

            worker = start_worker(env, log_dir / "rabbitmq-restart-worker.log")
            try:
                finals = [await wait_final(api, merchant.headers, pid, timeout_s=60) for pid in ids]
            finally:
                stop(worker)
            again = await api.post("/v1/payments", json=card_payment("98.98"), headers=merchant.headers)
            assert again.status_code == 202, again.text  # the API reconnected by itself
    finally:
        node.remove()

    assert [f["status"] for f in finals] == ["captured"] * PAYMENTS
    async with db.connect() as conn:
        rows = (
            await conn.execute(text("SELECT id::text, invoice_number FROM payments WHERE id::text = ANY(:ids)"), {"ids": ids})
        ).all()
    assert len(rows) == PAYMENTS
    for _, invoice in rows:
        assert len(sandbox.ledger(invoice)) == 1  # 0 lost, 0 doubled
    # The 503 recorded nothing.
    async with db.connect() as conn:
        refused = (
            await conn.execute(text("SELECT count(*) FROM payments WHERE amount_minor = 9999 AND merchant_id = :m"), {"m": merchant.id})
        ).scalar_one()
    assert refused == 0


async def test_queue_gauges_and_the_queues_command_read_rabbitmq(vhost_env, database, redis_clean):
    from api.app import create_app

    settings = load_settings(vhost_env)
    sender = connect_sender(settings)
    try:
        for _ in range(3):
            await sender.capture_payment(uuid.uuid4())
    finally:
        await sender.close()
    async with AsyncTestClient(app=create_app(settings, configure_logs=False)) as api:
        metrics = (await api.get("/metrics")).text
    assert 'easypay_queue_depth{queue="payments"} 3.0' in metrics
    assert "easypay_broker_up 1.0" in metrics
    # AMQP cannot tell what consumers hold: no sample rather than a wrong one.
    assert 'easypay_queue_in_progress{queue="payments"}' not in metrics

    done = subprocess.run(
        [sys.executable, "-m", "easypay.cli", "queues", "--queue", "payments", "--json"],
        cwd=ROOT, env=vhost_env, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    [payments] = json.loads(done.stdout)["queues"]
    assert (payments["depth"], payments["in_progress"], payments["dead_letters"]) == (3, None, 0)
