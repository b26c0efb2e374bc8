"""Dead letters on RabbitMQ, through the CLI and the operators page (HTTP, as an admin): listed
without card data and without losing or reordering the dead-letter queue, replayed onto their
queue with a fresh retry budget, purged by age.

The messages are dead-lettered as the broker and the workers do it: a message taken from its
queue and nacked without requeue (RabbitMQ routes it to ``<queue>.XQ`` with ``x-death``; this one
still carries its sealed card, as after a quorum queue's delivery limit), and copies without the
sealed argument published to ``<queue>.XQ`` with ``DEAD_AT_HEADER`` (``workers.rabbitmq``).
A virtual host of this slot's own, whichever broker the rest of the suite runs on.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
import sys
import time
import uuid
from types import SimpleNamespace

import aiormq
import dramatiq
import pika
import pytest
from dramatiq.common import current_millis
from litestar.testing import AsyncTestClient

from engine.method_secrets import seal_method
from engine.processor import Card
from engine.sealing import Sealer
from engine.settings_from_env import load_settings
from jobs.brokers import connect_sender
from jobs.names import PAYMENT_MESSAGE_MAX_AGE_MS, PAYMENTS_QUEUE, PROCESS_PAYMENT, REMOVED_ARGUMENT
from jobs.rabbitmq import DEAD_AT_HEADER, held_key
from tests.access.world import make_user
from tests.conftest import ROOT, TEST_SLOT, free_port, reset_rabbitmq_vhost
from tests.dashboard.helpers import agent, csrf_of, signed_in
from tests.helpers import VISA

pytestmark = pytest.mark.rabbitmq_broker

XQ = f"{PAYMENTS_QUEUE}.XQ"


@pytest.fixture(params=["quorum", "classic"])
def vhost_env(request: pytest.FixtureRequest, test_env: dict[str, str]) -> dict[str, str]:
    """Each queue type: a quorum queue returns nacked messages to its head, a classic one to their place."""
    vhost = f"easypay-test{TEST_SLOT}-dlq"
    reset_rabbitmq_vhost(vhost)
    return {**test_env, "BROKER_URL": f"amqp://guest:guest@127.0.0.1:5672/{vhost}", "BROKER_QUEUE_TYPE": request.param}


def _peek(url: str, queue: str) -> list[bytes]:
    """Every message of ``queue`` in order, taken and put back with one nack (as a listing does)."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        bodies, last = [], None
        while (got := channel.basic_get(queue, auto_ack=False))[0] is not None:
            bodies.append(got[2])
            last = got[0].delivery_tag
        if last is not None:
            channel.basic_nack(last, multiple=True, requeue=True)
        return bodies
    finally:
        connection.close()


async def _dead_letter_count(sender, *, want: int, timeout_s: float = 10.0) -> int:
    """The payments queue's dead-letter count once it reads ``want``, or what it reads at the end."""
    deadline = time.monotonic() + timeout_s
    while True:
        [stats] = await sender.queue_stats([PAYMENTS_QUEUE])
        if stats.dead_letters == want or time.monotonic() > deadline:
            return stats.dead_letters
        await asyncio.sleep(0.1)


def _id(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:32]


def _failed(actor: str, args: tuple, **options) -> dramatiq.Message:
    """A message as Dramatiq's retries leave it when they give up."""
    return dramatiq.Message(
        queue_name=PAYMENTS_QUEUE, actor_name=actor, args=args, kwargs={},
        options={"max_age": PAYMENT_MESSAGE_MAX_AGE_MS, "retries": 3, "log_context": {"request_id": "req_dlq_rabbit"},
                 "traceback": "Traceback (most recent call last):\nRuntimeError: processor said no", **options},
    )


def _nack_to_dead_letters(url: str, body: bytes) -> None:
    """Take ``body`` off ``payments`` and nack it without requeue: RabbitMQ dead-letters it."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        method, _, got = channel.basic_get(PAYMENTS_QUEUE, auto_ack=False)
        assert method is not None and got == body
        channel.basic_nack(method.delivery_tag, requeue=False)
    finally:
        connection.close()


def _publish_dead(url: str, message: dramatiq.Message, dead_at_ms: int) -> bytes:
    """A dead letter as the workers publish one without its sealed arguments."""
    body = message.encode()
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        connection.channel().basic_publish(
            exchange="", routing_key=XQ, body=body,
            properties=pika.BasicProperties(delivery_mode=2, headers={DEAD_AT_HEADER: dead_at_ms}),
        )
    finally:
        connection.close()
    return body


def _cli(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "easypay.cli", "dlq", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert not check or done.returncode == 0, done.stderr
    return done


async def test_dead_letters_are_listed_replayed_and_purged_on_rabbitmq(vhost_env, database, redis_clean):
    from api.app import create_app

    settings = load_settings(vhost_env)
    url = settings.redis.broker_url
    carded, plain = uuid.uuid4(), uuid.uuid4()
    sealed = seal_method(
        Sealer(settings.secret_key), carded, Card(number=VISA, exp_month=12, exp_year=2031, cvc="123"),
        ttl_s=settings.card_message_ttl_s,
    )
    sender = connect_sender(settings)
    try:
        # The pools' queues exist, as once a worker or the API has declared them.
        await sender.queue_stats(sorted({q for pool in settings.pools.values() for q in pool.queues}))
        # Two dead-lettered by RabbitMQ (one still with its sealed card), two moved by the workers.
        old_subject, young_subject = uuid.uuid4(), uuid.uuid4()
        _publish_dead(url, _failed(PROCESS_PAYMENT, (str(old_subject), REMOVED_ARGUMENT)), current_millis() - 2 * 3600 * 1000)
        for subject, args in ((carded, (str(carded), sealed)), (plain, (str(plain),))):
            message = await sender._enqueue(_failed(PROCESS_PAYMENT if subject == carded else "capture_payment", args))
            _nack_to_dead_letters(url, message.encode())
        _publish_dead(url, _failed(PROCESS_PAYMENT, (str(young_subject), REMOVED_ARGUMENT)), current_millis())
        before = _peek(url, XQ)
        assert len(before) == 4
        # A quorum queue counts the messages a nack put back a moment later (the count is the
        # leader's, updated as the requeue is applied): the four show within a few seconds.
        assert await _dead_letter_count(sender, want=4) == 4

        # Listed by the CLI, newest first, never with the card, the queue left as it was.
        listed = _cli(vhost_env, "list", "--queue", PAYMENTS_QUEUE, "--json")
        assert sealed not in listed.stdout and VISA not in listed.stdout
        letters = json.loads(listed.stdout)["dead_letters"]
        by_subject = {d["subject"]: d for d in letters}
        assert set(by_subject) == {str(s) for s in (old_subject, carded, plain, young_subject)}
        assert letters[-1]["subject"] == str(old_subject), "the one dead two hours ago is the oldest"
        assert {d["id"] for d in letters} == {_id(body) for body in before}
        carded_letter = by_subject[str(carded)]
        assert (carded_letter["actor"], carded_letter["retries"], carded_letter["request_id"]) == (PROCESS_PAYMENT, 3, "req_dlq_rabbit")
        assert carded_letter["error"] == "RuntimeError: processor said no" and carded_letter["dead_at"]
        assert _peek(url, XQ) == before, "listing lost or reordered dead letters"

        held = held_key(settings.redis.key_prefix, PAYMENTS_QUEUE, str(carded))
        held_before = int(await sender.redis.get(held) or 0)
        async with AsyncTestClient(app=create_app(settings, configure_logs=False), timeout=40) as api:
            _, email = await make_user(settings, None, "admin")
            async with agent(api) as client:
                await signed_in(client, email)
                page = await client.get("/dashboard/operators")
                assert page.status_code == 200, page.text
                table = page.text.split('data-testid="dead-letters-payments"')[1].split("</table>")[0]
                for body in before:
                    assert f'data-dead-letter="{_id(body)}"' in table
                assert str(carded) in table and sealed not in page.text and VISA not in page.text
                assert "rabbitmqctl" not in page.text
                assert _peek(url, XQ) == before

                # Replayed from the page: on its queue with a fresh retry budget, gone from the dead letters.
                answer = await client.post(
                    "/dashboard/operators/dead-letters/replay",
                    data={"queue": PAYMENTS_QUEUE, "dead_letter_id": carded_letter["id"], "csrf_token": csrf_of(page.text)},
                    follow_redirects=False,
                )
                assert answer.status_code == 303 and answer.headers["location"] == "/dashboard/operators?done=replayed"
                page = await client.get(answer.headers["location"])
                assert "Dead letter put back on its queue." in page.text
                assert f'data-dead-letter="{carded_letter["id"]}"' not in page.text
                assert int(await sender.redis.get(held) or 0) == held_before + 1, "the replay is a held message"

                # Replayed with the CLI; a second replay of the same id finds nothing.
                plain_id = by_subject[str(plain)]["id"]
                retried = json.loads(_cli(vhost_env, "retry", "--queue", PAYMENTS_QUEUE, plain_id, "--json").stdout)
                assert retried == {"queue": PAYMENTS_QUEUE, "retried": [plain_id], "not_found": []}
                again = _cli(vhost_env, "retry", "--queue", PAYMENTS_QUEUE, plain_id, check=False)
                assert again.returncode != 0 and "not found" in again.stdout

                queued = [dramatiq.Message.decode(body) for body in _peek(url, PAYMENTS_QUEUE)]
                assert {m.args[0] for m in queued} == {str(carded), str(plain)}
                for message in queued:
                    original = by_subject[message.args[0]]
                    assert message.message_id == original["message_id"]
                    assert "retries" not in message.options and "traceback" not in message.options
                    assert message.options["log_context"]["request_id"] == "req_dlq_rabbit"
                    assert current_millis() - message.message_timestamp < 60_000, "a new enqueue time: AgeLimit keeps it"
                assert [m.args for m in queued if m.args[0] == str(carded)] == [(str(carded), sealed)]

                # Purged by age: the one dead two hours ago goes, the young one stays.
                purged = json.loads(_cli(vhost_env, "purge", "--queue", PAYMENTS_QUEUE, "--older-than-s", "3600", "--json").stdout)
                assert purged == {"purged": {PAYMENTS_QUEUE: 1}, "older_than_s": 3600}
                left = json.loads(_cli(vhost_env, "list", "--queue", PAYMENTS_QUEUE, "--json").stdout)["dead_letters"]
                assert [d["subject"] for d in left] == [str(young_subject)]

                # And the rest from the page.
                page = await client.get("/dashboard/operators")
                answer = await client.post(
                    "/dashboard/operators/dead-letters/purge",
                    data={"queue": PAYMENTS_QUEUE, "older_than_s": "0", "csrf_token": csrf_of(page.text)},
                    follow_redirects=False,
                )
                assert answer.status_code == 303 and answer.headers["location"].endswith("count=1")
        assert _peek(url, XQ) == []
        [stats] = await sender.queue_stats([PAYMENTS_QUEUE])
        assert (stats.depth, stats.dead_letters) == (2, 0)
    finally:
        await sender.close()


async def test_a_listing_that_fails_midway_leaves_every_dead_letter_and_all_can_be_replayed(vhost_env, monkeypatch):
    """The channel closes while a listing holds the messages: RabbitMQ returns them all, in order."""
    from jobs import rabbitmq_dead_letters
    from jobs.rabbitmq_dead_letters import RabbitmqDeadLetters
    from jobs.rabbitmq_sender import RabbitmqJobSender

    settings = load_settings(vhost_env)
    url = settings.redis.broker_url
    sender = connect_sender(settings)
    assert isinstance(sender, RabbitmqJobSender)
    try:
        await sender.queue_stats([PAYMENTS_QUEUE])  # declares the queues
        bodies = [_publish_dead(url, _failed("capture_payment", (str(uuid.uuid4()),)), current_millis()) for _ in range(5)]
        letters = RabbitmqDeadLetters(url, sender)
        real_take = letters._take

        async def take_then_drop(dead, **kwargs):
            taken = await real_take(dead, **kwargs)
            await dead.channel.close()
            return taken

        letters._take = take_then_drop  # type: ignore[method-assign]
        with pytest.raises(aiormq.exceptions.ChannelInvalidStateError):  # the channel went
            await letters.list(PAYMENTS_QUEUE)
        deadline = time.monotonic() + 10
        while (found := _peek(url, XQ)) != bodies:
            assert time.monotonic() < deadline, f"{len(found)} of {len(bodies)} dead letters back"
            time.sleep(0.2)
        assert len(await RabbitmqDeadLetters(url, sender).list(PAYMENTS_QUEUE)) == 5

        # Every one replayed (``dlq retry --all``), a few at a time, each batch confirmed then acknowledged.
        monkeypatch.setattr(rabbitmq_dead_letters, "REPLAY_BATCH", 2)
        done = await RabbitmqDeadLetters(url, sender).replay(PAYMENTS_QUEUE, None)
        assert sorted(done.retried) == sorted(_id(body) for body in bodies) and done.not_found == []
        assert _peek(url, XQ) == []
        queued = [dramatiq.Message.decode(body) for body in _peek(url, PAYMENTS_QUEUE)]
        assert [m.message_id for m in queued] == [dramatiq.Message.decode(body).message_id for body in bodies]
    finally:
        await sender.close()


async def test_the_operators_page_says_so_when_rabbitmq_does_not_answer(test_env):
    from api.dashboard.operators import _dead_letters

    settings = load_settings({**test_env, "BROKER_URL": f"amqp://guest:guest@127.0.0.1:{free_port()}/nowhere"})
    sender = connect_sender(settings)
    try:
        letters, note = await _dead_letters(SimpleNamespace(settings=settings, jobs=sender))
    finally:
        await sender.close()
    assert letters is None and note is not None and "did not answer" in note
