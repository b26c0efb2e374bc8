"""The ``easypay`` command line, run as a user would (subprocesses, real database)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT


def easypay(test_env, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "easypay.cli", *args], cwd=ROOT, env=test_env, capture_output=True, text=True, timeout=60
    )
    if check and result.returncode != 0:
        raise AssertionError(result.stderr)
    return result


@pytest.fixture
def cli(test_env, database):
    return lambda *args, **kw: easypay(test_env, *args, **kw)


async def test_merchant_key_revoke_round_trip(cli, api):
    merchant = json.loads(cli("merchants", "create", "--name", "CLI shop", "--json").stdout)
    assert merchant["name"] == "CLI shop"

    created = json.loads(cli("keys", "create", "--merchant", merchant["id"], "--role", "developer", "--json").stdout)
    assert set(created) == {"id", "key", "role", "merchant_id"}
    assert created["key"].startswith(f"ak_{created['id']}:sk_")
    assert created["role"] == "developer" and created["merchant_id"] == merchant["id"]

    headers = {"Authorization": f"Bearer {created['key']}"}
    assert (await api.get("/v1/payments", headers=headers)).status_code == 200

    revoked = json.loads(cli("keys", "revoke", created["id"], "--json").stdout)
    assert revoked == {"id": created["id"], "revoked": True}
    import asyncio

    await asyncio.sleep(1.1)
    assert (await api.get("/v1/payments", headers=headers)).status_code == 401


def test_plain_output_is_just_the_value(cli):
    merchant_id = cli("merchants", "create", "--name", "Plain").stdout.strip()
    key = cli("keys", "create", "--merchant", merchant_id).stdout.strip()
    assert key.startswith("ak_") and ":sk_" in key and "\n" not in key


def test_errors_are_clear_and_nonzero(cli, test_env):
    missing = cli("keys", "create", "--merchant", "00000000-0000-0000-0000-000000000000", check=False)
    assert missing.returncode != 0 and "no merchant" in missing.stderr
    bad_role = cli("keys", "create", "--merchant", "x", "--role", "root", check=False)
    assert bad_role.returncode != 0
    revoke = cli("keys", "revoke", "nope", check=False)
    assert revoke.returncode != 0 and "no active key" in revoke.stderr
    bad_env = easypay({**test_env, "PORT": "eighty"}, "merchants", "create", "--name", "x", check=False)
    assert bad_env.returncode != 0 and "PORT" in bad_env.stderr


def test_sandbox_command_runs_the_emulator_with_its_options(test_env):
    """``easypay sandbox`` starts the emulator with the engine's credentials and the given faults."""
    from tests.conftest import free_port, stop, wait_for_http

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "easypay.cli", "sandbox", "--port", str(port), "--latency-ms", "7",
         "--fail-rate", "0.25", "--settle-interval-s", "30"],
        cwd=ROOT, env=test_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/_sandbox/health", proc=proc)
        import httpx

        config = httpx.get(f"http://127.0.0.1:{port}/_sandbox/config", timeout=5).json()
        assert config["latency_ms"] == 7 and config["fail_rate"] == 0.25 and config["settle_interval_s"] == 30
        from engine.settings_from_env import load_settings

        assert config["login_id"] == load_settings(test_env).processor.login_id
    finally:
        stop(proc)


def test_sandbox_command_refuses_a_fail_rate_outside_0_to_1(test_env):
    result = easypay(test_env, "sandbox", "--fail-rate", "2", check=False)
    assert result.returncode == 2
    assert "--fail-rate in [0, 1]" in result.stderr


def test_card_keys_rotate_puts_a_fresh_key_first_and_keeps_the_current_ones(test_env):
    from engine.sealing import Sealer
    from engine.settings_from_env import load_settings

    current = f"kold:{'o' * 40}"
    result = easypay({**test_env, "EASYPAY_CARD_KEYS": current}, "card-keys", "rotate", "--json")
    document = json.loads(result.stdout)
    value = document["EASYPAY_CARD_KEYS"]
    assert value.endswith("," + current) and document["key_ids"][1] == "kold"
    rotated = load_settings({**test_env, "EASYPAY_CARD_KEYS": value})
    assert [key_id for key_id, _ in rotated.card_keys] == document["key_ids"]
    # What the old ring sealed, the new ring opens; the new ring seals with the fresh key.
    old = Sealer(rotated.secret_key, card_keys=[("kold", b"o" * 40)])
    new = Sealer(rotated.secret_key, card_keys=rotated.card_keys)
    token = old.seal(b"card", context="p", ttl_s=60)
    assert new.open(token, context="p") == b"card"
    assert new.seal(b"card", context="p", ttl_s=60).startswith(f"v2.{document['key_ids'][0]}.")


async def test_listing_commands_read_one_page_of_each_list(cli, settings, db):
    """``users list``, ``webhooks endpoints`` and ``webhooks deliveries`` read the repositories' pages."""
    import uuid

    from engine.db.payments import get_payment
    from engine.events import record_event
    from engine.views import payment_view
    from tests.access.world import make_shop, make_user

    shop = await make_shop(settings, "CLI lists")
    async with db.begin() as conn:  # an event of the type the endpoint takes, after it exists: one delivery
        payment = await get_payment(conn, uuid.UUID(shop.payment_id))
        await record_event(conn, merchant_id=shop.id, type="refund.failed", object_type="payment", object_id=payment.id,
                           snapshot=payment_view(payment))
    user_id, _ = await make_user(settings, shop.id, "developer")
    users = json.loads(cli("users", "list", "--merchant", str(shop.id), "--json").stdout)["data"]
    assert user_id in {u["id"] for u in users}
    endpoints = json.loads(cli("webhooks", "endpoints", "--merchant", str(shop.id), "--json").stdout)["data"]
    assert [e["id"] for e in endpoints] == [shop.endpoint_id]
    deliveries = json.loads(cli("webhooks", "deliveries", shop.endpoint_id, "--json").stdout)["data"]
    assert deliveries and {d["endpoint_id"] for d in deliveries} == {shop.endpoint_id}
