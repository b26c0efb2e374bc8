"""The fast tier for the queue contract: every message a sender or the scheduler sends reaches a
declared actor, on that actor's queue, with arguments its signature takes and the options the
contract promises. Dramatiq's ``StubBroker`` stands in for the broker (no Redis, no RabbitMQ, no
worker processes); the end-to-end tests run the same messages through real brokers and pools.

The actors register on whatever broker is installed when ``workers.*`` is first imported, so the
check runs in a fresh interpreter with the ``StubBroker`` installed first.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from jobs import names

ROOT = Path(__file__).resolve().parents[2]

_PROBE = r'''
import asyncio, inspect, json, uuid
import dramatiq
from dramatiq.brokers.stub import StubBroker

stub = StubBroker()
dramatiq.set_broker(stub)
import workers.lifecycle, workers.payments, workers.webhooks  # noqa: E401  (actors register on the stub)
from jobs.sender import JobSender
from schedules.jobs import REGISTRY  # noqa: F401  (fills the registry)
from schedules.registry import JobContext
from engine.settings import Settings


class StubSender(JobSender):
    """Builds the real messages and hands them to the StubBroker."""

    def __init__(self):
        self.sent = []

    async def _enqueue_many(self, outgoing):
        for message, _ in outgoing:
            stub.enqueue(message)  # QueueNotFound when no actor is declared on that queue
            self.sent.append(message)
        return [message for message, _ in outgoing]

    async def held_subjects(self, ids, *, queue_name="payments"):
        return set()

    async def queue_stats(self, queues):
        return []

    @property
    def redis(self):
        raise NotImplementedError

    async def ping(self):
        return True

    async def close(self):
        pass


async def main():
    sender = StubSender()
    pid = uuid.uuid4()
    await sender.process_payment(pid, "sealed", request_id="req_1", stash=("k", 60))
    await sender.capture_payment(pid)
    await sender.void_payment(pid)
    await sender.process_refund(uuid.uuid4())
    await sender.reconcile_payment(pid)
    await sender.deliver_webhooks([(uuid.uuid4(), uuid.uuid4())])
    context = JobContext(settings=Settings(), jobs=sender)
    scheduled = {}
    for job in REGISTRY:
        before = len(sender.sent)
        await job.run(context)
        scheduled[job.name] = [m.actor_name for m in sender.sent[before:]]
    report = {"messages": [], "scheduled": scheduled, "actors": {}}
    for message in sender.sent:
        actor = stub.get_actor(message.actor_name)
        try:
            inspect.signature(actor.fn).bind(*message.args, **message.kwargs)
            binds = None
        except TypeError as exc:
            binds = str(exc)
        report["messages"].append({
            "actor": message.actor_name, "queue": message.queue_name, "actor_queue": actor.queue_name,
            "bind_error": binds, "max_age": message.options.get("max_age"),
        })
    for name in stub.get_declared_actors():
        actor = stub.get_actor(name)
        report["actors"][name] = {"queue": actor.queue_name, "options": {k: v for k, v in actor.options.items() if isinstance(v, (int, str))}}
    report["queues"] = {queue: stub.queues[queue].qsize() for queue in stub.get_declared_queues()}
    print(json.dumps(report))


asyncio.run(main())
'''


@pytest.fixture(scope="module")
def wiring() -> dict:
    done = subprocess.run([sys.executable, "-c", _PROBE], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_every_sent_message_reaches_a_declared_actor_on_its_queue(wiring: dict) -> None:
    assert len(wiring["messages"]) >= 6
    for message in wiring["messages"]:
        assert message["queue"] == message["actor_queue"], message
        assert message["bind_error"] is None, message


def test_the_messages_wait_in_their_queues(wiring: dict) -> None:
    sent_per_queue: dict[str, int] = {}
    for message in wiring["messages"]:
        sent_per_queue[message["queue"]] = sent_per_queue.get(message["queue"], 0) + 1
    assert {queue: wiring["queues"][queue] for queue in sent_per_queue} == sent_per_queue
    assert set(wiring["queues"]) >= {names.PAYMENTS_QUEUE, names.WEBHOOKS_QUEUE, names.RECOVERY_QUEUE}


def test_every_scheduled_job_enqueues_one_message_for_a_declared_actor(wiring: dict) -> None:
    assert wiring["scheduled"], "the scheduler's registry is empty"
    for job, actors in wiring["scheduled"].items():
        assert len(actors) == 1, (job, actors)
        assert actors[0] in wiring["actors"], (job, actors)


def test_recovery_work_runs_on_its_own_queue_and_charges_on_payments(wiring: dict) -> None:
    actors = wiring["actors"]
    for name in (names.RECONCILE_PAYMENT, names.RECONCILE_DUE, names.SYNC_SETTLEMENT, names.EXPIRE_AUTHORIZATIONS, names.SWEEP_PENDING):
        assert actors[name]["queue"] == names.RECOVERY_QUEUE, name
    for name in (names.PROCESS_PAYMENT, names.CAPTURE_PAYMENT, names.VOID_PAYMENT, names.PROCESS_REFUND):
        assert actors[name]["queue"] == names.PAYMENTS_QUEUE, name
    for name in (names.DELIVER_WEBHOOKS, names.DISPATCH_WEBHOOKS):
        assert actors[name]["queue"] == names.WEBHOOKS_QUEUE, name


def test_money_actors_carry_the_one_retry_policy_and_batch_jobs_are_not_retried(wiring: dict) -> None:
    actors = wiring["actors"]
    policy = {"max_retries": names.RETRY.max_retries, "min_backoff": names.RETRY.min_backoff_ms, "max_backoff": names.RETRY.max_backoff_ms}
    for name in (names.PROCESS_PAYMENT, names.CAPTURE_PAYMENT, names.VOID_PAYMENT, names.PROCESS_REFUND, names.RECONCILE_PAYMENT):
        assert {key: actors[name]["options"].get(key) for key in policy} == policy, name
    for name in (names.RECONCILE_DUE, names.SYNC_SETTLEMENT, names.EXPIRE_AUTHORIZATIONS, names.SWEEP_PENDING, names.DELIVER_WEBHOOKS):
        assert actors[name]["options"].get("max_retries") == 0, name


def test_charges_are_sent_with_their_age_limit(wiring: dict) -> None:
    charge = next(m for m in wiring["messages"] if m["actor"] == names.PROCESS_PAYMENT)
    assert charge["max_age"] == names.PAYMENT_MESSAGE_MAX_AGE_MS
