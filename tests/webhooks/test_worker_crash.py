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
