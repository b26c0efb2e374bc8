"""Rotating the root key (A → B) with webhook endpoints stored: an endpoint created under A keeps
delivering with a valid signature from a real ``webhooks`` pool holding B with A as a previous
key; ``easypay secret-key reseal`` moves its sealed secret (and the sealed idempotent answer that
created it) onto B, after which a pool holding B alone delivers it too.

The reseal covers every row of the test database: the module seals everything back under A
afterwards, so the modules after it find the key they run with.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import uuid
from typing import Any, Iterator

import pytest
from sqlalchemy import text

from engine.sealing import SecretBox, SecretUnreadable
from tests.conftest import ROOT, TEST_SECRET, stop
from tests.webhooks.conftest import emit_event, endpoint_row, start_webhook_worker
from tests.webhooks.receiver import unique_path, wait_until

pytestmark = pytest.mark.usefixtures("dispatcher")

NEW_KEY = secrets.token_urlsafe(32)


def _reseal(env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "easypay.cli", "secret-key", "reseal", "--json"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return dict(json.loads(done.stdout))


@pytest.fixture(scope="module")
def envs(webhook_env: dict[str, str]) -> Iterator[dict[str, dict[str, str]]]:
    rotated = {**webhook_env, "EASYPAY_SECRET_KEY": NEW_KEY, "EASYPAY_PREVIOUS_SECRET_KEYS": TEST_SECRET}
    yield {"rotated": rotated, "new_only": {**webhook_env, "EASYPAY_SECRET_KEY": NEW_KEY}}
    # Back under A for the rest of the suite (this also re-seals the other way).
    _reseal({**webhook_env, "EASYPAY_PREVIOUS_SECRET_KEYS": NEW_KEY})


async def _delivered(receiver: Any, db: Any, merchant: Any, path: str, secret: str) -> None:
    """One new event reaches ``path`` signed with ``secret``."""
    before = len(receiver.requests(path))
    await emit_event(db, merchant.id, "payment.captured")

    def verified() -> bool:
        return any(r.verified_with == [secret] for r in receiver.requests(path)[before:])

    await wait_until(verified, timeout_s=60, what="a delivery signed with the endpoint's secret")


async def _sealed_reply(db: Any, merchant_id: uuid.UUID, key: str) -> str:
    async with db.connect() as conn:
        body = (
            await conn.execute(
                text("SELECT response_body FROM idempotency_keys WHERE merchant_id = :m AND key = :k"), {"m": merchant_id, "k": key}
            )
        ).scalar_one()
    return bytes(body).decode()


async def test_an_endpoint_made_under_the_old_key_delivers_through_rotation_and_reseal(
    api, merchant, db, receiver, envs, log_dir
):
    path = unique_path("rootkey")
    idempotency_key = uuid.uuid4().hex
    created = await api.post(  # the in-process API runs with A
        "/v1/webhook-endpoints",
        json={"url": receiver.url(path), "events": ["payment.captured"]},
        headers={**merchant.headers, "Idempotency-Key": idempotency_key},
    )
    assert created.status_code == 201, created.text
    endpoint = created.json()
    receiver.behave(path, secrets=[endpoint["secret"]])
    old_box, new_box = SecretBox(TEST_SECRET.encode()), SecretBox(NEW_KEY.encode())
    sealed_under_a = (await endpoint_row(db, endpoint["id"])).secret_sealed
    with pytest.raises(SecretUnreadable):
        new_box.open(sealed_under_a, context=endpoint["id"])

    # B with A as a previous key: the secret sealed under A still opens and signs.
    rotated = start_webhook_worker(envs["rotated"], log_dir / "webhooks-root-key-rotated.log")
    try:
        await _delivered(receiver, db, merchant, path, endpoint["secret"])
        report = _reseal(envs["rotated"])
        assert report["webhook_secrets"]["resealed"] >= 1 and report["webhook_secrets"]["unreadable"] == []
        assert report["idempotent_replies"]["resealed"] >= 1
        await _delivered(receiver, db, merchant, path, endpoint["secret"])
    finally:
        stop(rotated, timeout_s=15)

    # Re-sealed under B: B alone opens the secret and the stored answer; a second run moves nothing.
    sealed_under_b = (await endpoint_row(db, endpoint["id"])).secret_sealed
    assert new_box.open(sealed_under_b, context=endpoint["id"]) == endpoint["secret"]
    with pytest.raises(SecretUnreadable):
        old_box.open(sealed_under_b, context=endpoint["id"])
    reply = await _sealed_reply(db, merchant.id, idempotency_key)
    opened = json.loads(new_box.open(reply, context=f"idempotency:{merchant.id}:{idempotency_key}"))
    assert opened["secret"] == endpoint["secret"]
    again = _reseal(envs["rotated"])
    assert again["webhook_secrets"]["resealed"] == 0 and again["idempotent_replies"]["resealed"] == 0

    new_only = start_webhook_worker(envs["new_only"], log_dir / "webhooks-root-key-new-only.log")
    try:
        await _delivered(receiver, db, merchant, path, endpoint["secret"])
    finally:
        stop(new_only, timeout_s=15)
