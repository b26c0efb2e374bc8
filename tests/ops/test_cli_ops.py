"""Operator commands, run as an operator would (subprocesses against the real broker and database)."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.helpers import card_payment, wait_final
from tests.integration.test_cli import easypay
from tests.ops.broker_tools import dead_letter_one, enqueue_noop


@pytest.fixture
def cli(test_env, database, redis_clean):
    return lambda *args, **kw: easypay(test_env, *args, **kw)


@pytest.fixture
def queue() -> str:
    return f"ops-{uuid.uuid4().hex[:8]}"


def _queue(cli, name: str) -> dict:
    document = json.loads(cli("queues", "--queue", name, "--json").stdout)
    (stats,) = document["queues"]
    return stats


def test_queues_reports_depth_age_and_dead_letters(cli, settings, queue):
    assert _queue(cli, queue) == {
        "queue": queue, "depth": 0, "in_progress": 0, "delayed": 0, "dead_letters": 0, "oldest_age_s": 0.0
    }
    enqueue_noop(settings, queue, age_ms=3000)
    dead_letter_one(settings, queue)
    stats = _queue(cli, queue)
    assert (stats["depth"], stats["dead_letters"], stats["in_progress"]) == (1, 1, 0)
    assert stats["oldest_age_s"] >= 3
    # Without --queue: every pool's queue; plain text is a table
    every = {q["queue"] for q in json.loads(cli("queues", "--json").stdout)["queues"]}
    assert {"payments", "webhooks"} <= every
    table = cli("queues", "--queue", queue).stdout.splitlines()
    assert table[0].split() == ["queue", "depth", "oldest_age_s", "in_progress", "delayed", "dead_letters"]
    assert table[1].split()[:2] == [queue, "1"]


def test_dlq_list_then_retry_puts_the_message_back_once(cli, settings, queue):
    subject = str(uuid.uuid4())
    dead_letter_one(settings, queue, subject=subject)
    listed = json.loads(cli("dlq", "list", "--queue", queue, "--json").stdout)["dead_letters"]
    assert len(listed) == 1
    (dead,) = listed
    assert (dead["actor"], dead["subject"], dead["request_id"]) == ("noop", subject, "req_dead_letter_test")

    retried = json.loads(cli("dlq", "retry", "--queue", queue, dead["id"], "--json").stdout)
    assert retried == {"queue": queue, "retried": [dead["id"]], "not_found": []}
    stats = _queue(cli, queue)
    assert (stats["depth"], stats["dead_letters"]) == (1, 0)
    assert json.loads(cli("dlq", "list", "--queue", queue, "--json").stdout)["dead_letters"] == []

    again = cli("dlq", "retry", "--queue", queue, dead["id"], check=False)
    assert again.returncode != 0 and "not found" in again.stdout
    usage = cli("dlq", "retry", "--queue", queue, check=False)
    assert usage.returncode != 0 and "--all" in usage.stderr


async def test_payments_show_gives_state_events_and_attempts(cli, api, merchant, worker):
    request_id = f"req-show-{uuid.uuid4().hex[:8]}"
    response = await api.post(
        "/v1/payments", json=card_payment("61.00"), headers={**merchant.headers, "X-Request-ID": request_id}
    )
    payment_id = response.json()["id"]
    assert (await wait_final(api, merchant.headers, payment_id))["status"] == "captured"

    shown = json.loads(cli("payments", "show", payment_id, "--json").stdout)
    assert (shown["id"], shown["status"], shown["amount"], shown["currency"]) == (payment_id, "captured", "61.00", "USD")
    assert [e["type"] for e in shown["events"]] == ["payment.pending", "payment.processing", "payment.captured"]
    assert shown["events"][0]["request_id"] == request_id
    assert shown["attempts"]["processor_attempts"] == 1 and shown["attempts"]["needs_reconciliation"] is False
    assert shown["processor"]["transaction_id"] and shown["card"]["last4"] == "1111"
    text = cli("payments", "show", payment_id).stdout
    assert f"payment {payment_id}  captured  61.00 USD" in text and "payment.captured" in text

    missing = cli("payments", "show", str(uuid.uuid4()), check=False)
    assert missing.returncode != 0 and "no payment" in missing.stderr
    bad = cli("payments", "show", "nope", check=False)
    assert bad.returncode != 0 and "not a payment id" in bad.stderr


async def test_payments_stuck_lists_payments_that_do_not_progress(cli, settings, merchant, db):
    from engine.payments import NewPayment, accept_payment

    # Given: a pending payment whose message was never queued
    async with db.begin() as conn:
        row = await accept_payment(
            conn,
            NewPayment(merchant_id=merchant.id, amount_minor=700, currency="USD", capture=True, payment_method_type="card"),
        )
    stuck = json.loads(cli("payments", "stuck", "--older-than-s", "0", "--json").stdout)["payments"]
    mine = [p for p in stuck if p["id"] == str(row.id)]
    assert len(mine) == 1 and mine[0]["status"] == "pending" and mine[0]["needs_reconciliation"] is False
    # A generous threshold excludes it (it is seconds old)
    later = json.loads(cli("payments", "stuck", "--older-than-s", "3600", "--json").stdout)["payments"]
    assert str(row.id) not in {p["id"] for p in later}


def test_dlq_purge_drops_only_the_queue_and_age_asked_for(cli, settings, queue):
    other = f"{queue}-other"
    dead_letter_one(settings, queue)
    dead_letter_one(settings, queue)
    dead_letter_one(settings, other)

    young = json.loads(cli("dlq", "purge", "--queue", queue, "--older-than-s", "3600", "--json").stdout)
    assert young == {"purged": {queue: 0}, "older_than_s": 3600}
    assert _queue(cli, queue)["dead_letters"] == 2

    purged = json.loads(cli("dlq", "purge", "--queue", queue, "--json").stdout)
    assert purged["purged"] == {queue: 2}
    assert _queue(cli, queue)["dead_letters"] == 0
    assert _queue(cli, other)["dead_letters"] == 1, "another queue's dead letters are left alone"
    assert json.loads(cli("dlq", "list", "--queue", queue, "--json").stdout)["dead_letters"] == []

    every = json.loads(cli("dlq", "purge", "--json").stdout)["purged"]
    assert {"payments", "webhooks"} <= set(every) and other not in every
    assert cli("dlq", "purge", "--queue", other).stdout.strip() == f"purged 1 on {other}"
    negative = cli("dlq", "purge", "--older-than-s", "-1", check=False)
    assert negative.returncode != 0
