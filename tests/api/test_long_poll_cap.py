"""``GET /v1/payments/{id}?wait=``: at most EASYPAY_LONG_POLL_MAX_PER_KEY concurrent long-polls per
credential and API process; beyond that the answer is the current state at once (as with wait=0)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import httpx
import pytest

from engine.payments import NewPayment, accept_payment
from engine.settings_from_env import load_settings
from tests.access.world import bearer, make_key
from tests.conftest import ROOT, free_port, stop, wait_for_http


@pytest.fixture
def capped_api(test_env, database, redis_clean, log_dir):
    """A real `easypay web` process with a cap of 2 (in-process test clients serve one request at a time)."""
    port = free_port()
    with open(log_dir / "web-long-poll-cap.log", "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "easypay.cli", "web", "--port", str(port)],
            cwd=ROOT, env={**test_env, "EASYPAY_LONG_POLL_MAX_PER_KEY": "2"},
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{base}/health/live", proc=proc)
        yield base
    finally:
        stop(proc, timeout_s=15)


async def _pending_payment(db, merchant_id):
    async with db.begin() as conn:  # pending and never queued: a ?wait= on it waits its full time
        return await accept_payment(
            conn, NewPayment(merchant_id=merchant_id, amount_minor=700, currency="USD", capture=True, payment_method_type="card")
        )


async def _timed_get(client, url, headers):
    started = time.monotonic()
    response = await client.get(url, headers=headers)
    return response, time.monotonic() - started


async def test_over_the_cap_a_long_poll_is_answered_at_once(capped_api, settings, merchant, db):
    payment = await _pending_payment(db, merchant.id)
    url = f"/v1/payments/{payment.id}"
    _, other_key = await make_key(settings, merchant.id, "viewer")
    async with httpx.AsyncClient(base_url=capped_api, timeout=20) as client:
        # Given: the key holds two long-polls (its cap)
        held = [asyncio.create_task(_timed_get(client, url + "?wait=3", merchant.headers)) for _ in range(2)]
        await asyncio.sleep(0.7)
        # When: it asks for a third, and another key of the same merchant asks for one
        (third, third_s), (other, other_s) = await asyncio.gather(
            _timed_get(client, url + "?wait=3", merchant.headers), _timed_get(client, url + "?wait=1", bearer(other_key))
        )
        # Then: the third is the payment as it is now, without waiting; the other key's waits
        assert third.status_code == 200 and third.json()["status"] == "pending"
        assert third_s < 1.0, third_s
        assert other.status_code == 200 and other_s >= 0.9, other_s
        for task in held:
            response, elapsed_s = await task
            assert response.status_code == 200 and elapsed_s >= 2.5, elapsed_s
        # And: finished long-polls give their slots back
        response, elapsed_s = await _timed_get(client, url + "?wait=1", merchant.headers)
        assert response.status_code == 200 and elapsed_s >= 0.9, elapsed_s


def test_the_cap_is_configurable_with_a_default_of_20():
    assert load_settings({}).access.long_poll_max_per_key == 20
    assert load_settings({"EASYPAY_LONG_POLL_MAX_PER_KEY": "5"}).access.long_poll_max_per_key == 5
