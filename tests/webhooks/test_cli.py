"""``easypay webhooks ...`` as an operator runs it: endpoints, deliveries, dead letters, replay,
one dispatcher pass (subprocesses, real database and broker)."""

from __future__ import annotations

import json

from tests.integration.test_cli import easypay
from tests.webhooks.conftest import create_endpoint, delivery_rows, emit_event


async def test_inspect_dispatch_dead_letters_and_replay(api, merchant, db, test_env):
    def cli(*args: str, check: bool = True):
        return easypay(test_env, "webhooks", *args, check=check)

    endpoint = await create_endpoint(api, merchant, "https://hooks.example.com/cli")
    await emit_event(db, merchant.id)

    listed = json.loads(cli("endpoints", "--merchant", str(merchant.id), "--json").stdout)["data"]
    assert [e["id"] for e in listed] == [endpoint["id"]]
    assert "secret" not in json.dumps(listed) and endpoint["secret"] not in json.dumps(listed)

    assert json.loads(cli("dispatch", "--json").stdout)["dispatched"] >= 1
    [row] = await delivery_rows(db, endpoint["id"])
    assert row.lease_token is not None  # claimed and handed to the queue

    deliveries = json.loads(cli("deliveries", endpoint["id"], "--json").stdout)["data"]
    assert [d["id"] for d in deliveries] == [str(row.id)]

    # Disabling fails the pending delivery: it becomes a dead letter.
    await api.patch(f"/v1/webhook-endpoints/{endpoint['id']}", json={"enabled": False}, headers=merchant.headers)
    dead = json.loads(cli("dead", "--merchant", str(merchant.id), "--json").stdout)["data"]
    assert [d["id"] for d in dead] == [str(row.id)] and dead[0]["last_error"] == "endpoint disabled (manual)"
    refused = cli("replay", str(row.id), check=False)
    assert refused.returncode != 0 and "enabled" in refused.stderr

    await api.patch(f"/v1/webhook-endpoints/{endpoint['id']}", json={"enabled": True}, headers=merchant.headers)
    assert json.loads(cli("replay", str(row.id), "--json").stdout) == {"id": str(row.id), "status": "pending"}
    [row] = await delivery_rows(db, endpoint["id"])
    assert row.status == "pending" and row.attempts == 0
    assert "no dead deliveries" in cli("dead", "--merchant", str(merchant.id)).stdout
