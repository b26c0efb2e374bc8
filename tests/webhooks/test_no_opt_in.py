"""Loopback is not reachable unless ``WEBHOOK_ALLOWED_NETWORKS`` says so: this module's
``webhooks`` worker runs without the variable (``EASYPAY_ENV=test``, not production), against the same
loopback receiver the other modules deliver to with the opt-in. The endpoints are saved through
the suite's API, which opts in; the worker still refuses them at delivery."""

from __future__ import annotations


import pytest
from sqlalchemy import text

from tests.webhooks.conftest import BASE_WEBHOOK_ENV, create_endpoint, emit_event
from tests.webhooks.receiver import unique_path, wait_until

pytestmark = pytest.mark.usefixtures("webhook_worker", "dispatcher")


@pytest.fixture(scope="module")
def webhook_env(test_env: dict[str, str]) -> dict[str, str]:
    """The module's worker environment with no ``WEBHOOK_ALLOWED_NETWORKS`` at all: the default."""
    env = {**test_env, **BASE_WEBHOOK_ENV, "WEBHOOK_DISABLE_AFTER_S": "600"}
    del env["WEBHOOK_ALLOWED_NETWORKS"]
    return env


async def _attempts(api, merchant, endpoint_id: str) -> list[dict]:
    response = await api.get(f"/v1/webhook-endpoints/{endpoint_id}/deliveries", headers=merchant.headers)
    assert response.status_code == 200, response.text
    deliveries = response.json()["data"]
    return list(deliveries[0]["attempts"]) if deliveries else []


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_a_loopback_receiver_is_refused_without_the_opt_in_and_no_address_is_revealed(
    api, merchant, db, receiver, webhook_settings, host
):
    assert webhook_settings.webhooks.allowed_networks == ()
    path = unique_path("hook")
    url = receiver.url(path).replace("127.0.0.1", host)
    endpoint = await create_endpoint(api, merchant, url)
    receiver.behave(path, secrets=[endpoint["secret"]])

    await emit_event(db, merchant.id)
    await wait_until(lambda: _attempts(api, merchant, endpoint["id"]), timeout_s=30, what="the refused attempt")

    assert receiver.requests(path) == []
    [attempt, *_] = await _attempts(api, merchant, endpoint["id"])
    assert attempt["error"].startswith("blocked address") and attempt["status_code"] is None
    assert attempt["response_body"] is None
    delivery = (await api.get(f"/v1/webhook-endpoints/{endpoint['id']}/deliveries", headers=merchant.headers)).json()
    if host == "localhost":  # what the name resolved to is not told to the merchant
        shown = f'{attempt["error"]} {delivery["data"][0]["last_error"]}'
        assert "127.0.0.1" not in shown and "::1" not in shown
    async with db.connect() as conn:
        stored = (await conn.execute(
            text("SELECT a.error FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id "
                 "WHERE d.endpoint_id = :e"), {"e": endpoint["id"]}
        )).scalars().all()
    assert stored and all(e.startswith("blocked address") for e in stored)
