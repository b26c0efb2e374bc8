"""Rotating the card-data key (``EASYPAY_CARD_KEYS``) with payments queued: the API seals with the
key it has, a real worker pool holding the new key and the old one charges what the old key
sealed, and a pool without the old key never charges (nor fails) a payment it cannot open: the
message waits, retried, for a process that holds the key."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import secrets
import time

import pytest
import redis
from litestar.testing import AsyncTestClient

from tests.conftest import BROKER_DB, start_worker, stop
from tests.helpers import card_payment, wait_final
from tests.lifecycle_helpers import payment_row

pytestmark = pytest.mark.redis_broker  # it reads or changes the Redis broker's keys

OLD = ("kold", secrets.token_urlsafe(32))
NEW = ("knew", secrets.token_urlsafe(32))


def _env_value(*keys: tuple[str, str]) -> str:
    return ",".join(f"{key_id}:{secret}" for key_id, secret in keys)


def _queued_token(payment_id: str) -> str:
    broker = redis.Redis(host="127.0.0.1", port=6379, db=BROKER_DB)
    [body] = [b for b in broker.hvals("easypay:payments.msgs") if payment_id.encode() in b]
    return json.loads(body)["args"][1]


async def test_a_rotated_pool_charges_what_the_old_key_sealed_and_never_guesses(
    settings, database, redis_clean, sandbox, merchant, db, test_env, log_dir
):
    from api.app import create_app

    old_only = dataclasses.replace(settings, card_keys=((OLD[0], OLD[1].encode()),))
    async with AsyncTestClient(app=create_app(old_only, configure_logs=False), timeout=40) as api:
        first = (await api.post("/v1/payments", json=card_payment("61.00"), headers=merchant.headers)).json()
        # Sealed with the key the API holds, named in the token; the card is not readable in the message.
        assert _queued_token(first["id"]).startswith("v2.kold.")
        assert "4111111111111111" not in _queued_token(first["id"])

        # A pool that only has the new key cannot open it: it never guesses, charges nothing and
        # leaves the payment pending for a process that holds the key (the message is retried).
        new_only_log = log_dir / "worker-card-keys-new-only.log"
        new_only = start_worker(test_env, new_only_log, EASYPAY_CARD_KEYS=_env_value(NEW))
        try:
            deadline = time.monotonic() + 30
            while "card key rotation under way" not in new_only_log.read_text(errors="replace"):
                assert time.monotonic() < deadline, new_only_log.read_text(errors="replace")[-2000:]
                await asyncio.sleep(0.2)
        finally:
            stop(new_only, timeout_s=15)
        row = await payment_row(db, first["id"])
        assert row.status == "pending"
        assert sandbox.ledger(row.invoice_number) == []
        assert OLD[1] not in new_only_log.read_text(errors="replace")

        # The rotated pool holds the new key first and the old one after it: it charges what the
        # old key sealed (the retried message), once.
        rotated = start_worker(test_env, log_dir / "worker-card-keys-rotated.log", EASYPAY_CARD_KEYS=_env_value(NEW, OLD))
        try:
            captured = await wait_final(api, merchant.headers, first["id"], timeout_s=90)
        finally:
            stop(rotated, timeout_s=15)
    assert captured["status"] == "captured", captured
    assert len(sandbox.ledger((await payment_row(db, first["id"])).invoice_number)) == 1
