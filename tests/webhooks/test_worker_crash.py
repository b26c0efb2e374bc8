"""A ``webhooks`` worker SIGKILLed in the middle of a delivery loses nothing: the delivery's lease
(3 s here) runs out, the dispatcher claims it again and another worker delivers it, with the same
``webhook-id``. A late copy of the dead worker's message (returned by Dramatiq after its
heartbeat timeout) carries a stale lease token and does nothing."""

from __future__ import annotations

import asyncio
import os
import signal
import threading

import pytest

from tests.conftest import stop
from tests.webhooks.conftest import create_endpoint, delivery_rows, emit_event, start_webhook_worker
from tests.webhooks.receiver import unique_path, wait_until

WEBHOOK_ENV = {"WEBHOOK_LEASE_S": "3", "WEBHOOK_TIMEOUT_S": "2"}
ROUNDS = 2

pytestmark = pytest.mark.usefixtures("dispatcher")


@pytest.mark.parametrize("round_no", range(ROUNDS))
async def test_sigkill_mid_delivery_loses_no_delivery(api, merchant, db, receiver, webhook_env, log_dir, round_no):
    path = unique_path("crash")
    endpoint = await create_endpoint(api, merchant, receiver.url(path))
    held = threading.Event()
    receiver.behave(path, hold=held, secrets=[endpoint["secret"]])
    victim = start_webhook_worker(webhook_env, log_dir / f"webhooks-victim-{round_no}.log")
    try:
        await emit_event(db, merchant.id)
        await wait_until(lambda: receiver.requests(path), what="the victim to start the delivery")
    finally:
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait()
    receiver.behave(path, hold=None)
    held.set()
    [row] = await delivery_rows(db, endpoint["id"])
    assert row.status == "pending" and row.attempts == 0  # the attempt died with its worker

    rescuer = start_webhook_worker(webhook_env, log_dir / f"webhooks-rescuer-{round_no}.log")
    try:
        async def delivered() -> bool:
            [current] = await delivery_rows(db, endpoint["id"])
            return current.status == "succeeded"

        await wait_until(delivered, timeout_s=60, what="the rescuer to deliver")
        await asyncio.sleep(0.5)  # room for a late duplicate of the dead worker's message to show up
    finally:
        stop(rescuer)
    [row] = await delivery_rows(db, endpoint["id"])
    assert row.status == "succeeded" and row.attempts == 1
    requests = receiver.requests(path)
    assert len({r.headers["webhook-id"] for r in requests}) == 1
    assert [r.completed and r.status for r in requests][-1] == 200
    assert all(r.verified_with for r in requests)


async def test_sigkill_with_a_whole_batch_in_flight_redelivers_each_delivery(api, merchant, db, receiver, webhook_env, log_dir):
    """The victim holds six attempts at once (three endpoints, two events, two in flight per
    endpoint) when it dies: none was recorded, so each is delivered again, once, by the rescuer."""
    paths = [unique_path("crash-batch") for _ in range(3)]
    endpoints = [await create_endpoint(api, merchant, receiver.url(path)) for path in paths]
    held = threading.Event()
    for path, endpoint in zip(paths, endpoints):
        receiver.behave(path, hold=held, secrets=[endpoint["secret"]])
    victim = start_webhook_worker(webhook_env, log_dir / "webhooks-victim-batch.log")
    try:
        for _ in range(2):
            await emit_event(db, merchant.id)
        await wait_until(lambda: sum(len(receiver.requests(p)) for p in paths) == 6, what="the victim to hold the whole batch")
    finally:
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait()
    for path in paths:
        receiver.behave(path, hold=None)
    held.set()
    rows = [row for endpoint in endpoints for row in await delivery_rows(db, endpoint["id"])]
    assert len(rows) == 6 and all(row.status == "pending" and row.attempts == 0 for row in rows)

    rescuer = start_webhook_worker(webhook_env, log_dir / "webhooks-rescuer-batch.log")
    try:
        async def all_delivered() -> bool:
            current = [row for endpoint in endpoints for row in await delivery_rows(db, endpoint["id"])]
            return all(row.status == "succeeded" for row in current)

        await wait_until(all_delivered, timeout_s=60, what="the rescuer to deliver the batch")
    finally:
        stop(rescuer)
    for endpoint, path in zip(endpoints, paths):
        rows = await delivery_rows(db, endpoint["id"])
        assert [(row.status, row.attempts) for row in rows] == [("succeeded", 1)] * 2
        requests = receiver.requests(path)
        by_id: dict[str, list] = {}
        for request in requests:
            by_id.setdefault(request.headers["webhook-id"], []).append(request)
        assert len(by_id) == 2  # two deliveries, each with its own webhook-id on every attempt
        for attempts in by_id.values():
            assert len(attempts) >= 2 and attempts[-1].completed and attempts[-1].status == 200
            assert len({a.body for a in attempts}) == 1 and all(a.verified_with for a in attempts)
