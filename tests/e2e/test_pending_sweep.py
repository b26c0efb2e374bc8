"""Lost queue messages: the pending sweep re-enqueues payments (with the stashed sealed card),
fails those whose card is gone (lost before its TTL, or expired after it), and re-enqueues lost captures."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import redis
from sqlalchemy import text

from engine import sweeps
from tests.conftest import BROKER_DB, start_worker, stop
from tests.helpers import card_payment, opaque_payment, wait_final
from tests.lifecycle_helpers import payment_row, wait_for, worker_deps

pytestmark = pytest.mark.redis_broker  # it reads or changes the Redis broker's keys


def _drop_messages_for(object_id: str) -> int:
    """Delete every queued message mentioning ``object_id`` (a lost message)."""
    broker = redis.Redis(host="127.0.0.1", port=6379, db=BROKER_DB)
    dropped = 0
    for key, body in broker.hgetall("easypay:payments.msgs").items():
        if object_id.encode() in body:
            broker.hdel("easypay:payments.msgs", key)
            broker.lrem("easypay:payments", 0, key)
            dropped += 1
    return dropped


def _later(seconds: float) -> datetime:
    return datetime.now(timezone.utc) + timedelta(seconds=seconds)


async def test_lost_messages_are_swept(api, merchant, sandbox, settings, db, test_env, log_dir):
    # No worker runs yet: the messages sit in the queue, and are then lost.
    card = (await api.post("/v1/payments", json=card_payment("81.00"), headers=merchant.headers)).json()["id"]
    opaque = (await api.post("/v1/payments", json=opaque_payment("82.00"), headers=merchant.headers)).json()["id"]
    gone = (await api.post("/v1/payments", json=card_payment("83.00"), headers=merchant.headers)).json()["id"]
    old = (await api.post("/v1/payments", json=card_payment("83.50"), headers=merchant.headers)).json()["id"]
    for payment_id in (card, opaque, gone, old):
        assert _drop_messages_for(payment_id) == 1
    async with db.begin() as conn:  # ``old`` was accepted longer ago than CARD_MESSAGE_TTL_S
        await conn.execute(
            text("UPDATE payments SET created_at = now() - make_interval(secs => :s) WHERE id = :id"),
            {"s": settings.card_message_ttl_s + 1, "id": old},
        )

    async with worker_deps(settings) as deps:
        await deps.stash.delete(gone)  # inside CARD_MESSAGE_TTL_S: Redis lost the sealed card
        await deps.stash.delete(old)  # its TTL passed: the sealed card has expired
        counts = await sweeps.sweep_pending(deps, now=_later(settings.lifecycle.pending_sweep_after_s + 1))
    assert counts["requeued"] >= 2 and counts["expired"] >= 1 and counts["lost"] >= 1

    lost = (await api.get(f"/v1/payments/{gone}", headers=merchant.headers)).json()
    assert lost["status"] == "failed" and lost["failure"]["code"] == "payment_method_lost"
    expired = (await api.get(f"/v1/payments/{old}", headers=merchant.headers)).json()
    assert expired["status"] == "failed" and expired["failure"]["code"] == "payment_method_expired"
    for payment_id in (gone, old):
        assert sandbox.ledger((await payment_row(db, payment_id)).invoice_number) == []

    worker = start_worker(test_env, log_dir / "sweep-worker.log")
    try:
        for payment_id in (card, opaque):
            final = await wait_final(api, merchant.headers, payment_id)
            assert final["status"] == "captured"
            assert len(sandbox.ledger((await payment_row(db, payment_id)).invoice_number)) == 1

        # A lost capture message: the sweep re-enqueues the operation.
        auth = (await api.post("/v1/payments", json=card_payment("84.00", capture=False), headers=merchant.headers)).json()["id"]
        assert (await wait_final(api, merchant.headers, auth))["status"] == "authorized"
    finally:
        stop(worker)
    response = await api.post(f"/v1/payments/{auth}/capture", headers=merchant.headers)
    assert response.status_code == 202
    assert _drop_messages_for(auth) == 1
    async with worker_deps(settings) as deps:
        assert (await sweeps.sweep_pending(deps, now=_later(1)))["operations"] == 0  # not stale yet
        counts = await sweeps.sweep_pending(deps, now=_later(settings.lifecycle.reconcile_min_age_s + 1))
    assert counts["operations"] >= 1
    worker = start_worker(test_env, log_dir / "sweep-worker-2.log")
    try:
        captured = await wait_for(api, merchant.headers, f"/v1/payments/{auth}", lambda p: p["status"] == "captured")
        assert captured["amount_captured"] == "84.00"
    finally:
        stop(worker)


def _messages_for(object_id: str) -> int:
    broker = redis.Redis(host="127.0.0.1", port=6379, db=BROKER_DB)
    return sum(1 for body in broker.hvals("easypay:payments.msgs") if object_id.encode() in body)


async def test_a_payment_still_queued_is_left_alone_and_one_truly_lost_is_re_enqueued_once(
    api, merchant, sandbox, settings, db, test_env, log_dir
):
    payment_id = (await api.post("/v1/payments", json=card_payment("85.00"), headers=merchant.headers)).json()["id"]
    stale = _later(settings.lifecycle.pending_sweep_after_s + 1)
    async with worker_deps(settings) as deps:
        for _ in range(3):  # however often the sweep runs, a message waiting in the queue is not duplicated
            await sweeps.sweep_pending(deps, now=stale)
        assert _messages_for(payment_id) == 1

        assert _drop_messages_for(payment_id) == 1  # now it is truly gone
        await sweeps.sweep_pending(deps, now=stale)
        assert _messages_for(payment_id) == 1  # re-enqueued, once
        await sweeps.sweep_pending(deps, now=stale)
        assert _messages_for(payment_id) == 1  # and the re-enqueued message is not duplicated either
    worker = start_worker(test_env, log_dir / "sweep-worker-3.log")
    try:
        assert (await wait_final(api, merchant.headers, payment_id))["status"] == "captured"
        assert len(sandbox.ledger((await payment_row(db, payment_id)).invoice_number)) == 1
    finally:
        stop(worker)
