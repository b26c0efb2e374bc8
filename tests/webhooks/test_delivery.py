"""End to end with a real ``webhooks`` worker process, the dispatcher, PostgreSQL, Redis and a
loopback receiver that verifies every request with the ``standardwebhooks`` package.

The module runs a compressed schedule (attempts at 0, +0.2 s, +0.2 s, +1.5 s) and disables an
endpoint failing for 1.8 s, so a full schedule takes about two seconds.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import text
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from tests.webhooks.conftest import create_endpoint, delivery_rows, emit_event, endpoint_row, event_body
from tests.webhooks.receiver import unique_path, wait_until

pytestmark = pytest.mark.usefixtures("webhook_worker", "dispatcher")


def _path() -> str:
    return unique_path("hook")


async def _deliveries(api, merchant, endpoint_id: str) -> list[dict]:
    response = await api.get(f"/v1/webhook-endpoints/{endpoint_id}/deliveries", headers=merchant.headers)
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


async def _settled(api, merchant, endpoint_id: str, count: int = 1) -> list[dict]:
    """Wait until ``count`` deliveries are no longer pending; returns them."""
    found: list[dict] = []

    async def done() -> bool:
        nonlocal found
        found = await _deliveries(api, merchant, endpoint_id)
        return len(found) >= count and all(d["status"] != "pending" for d in found)

    await wait_until(done, timeout_s=30, what=f"{count} deliveries to settle")
    return found


async def test_a_delivery_carries_the_event_bytes_and_a_verifiable_signature(api, merchant, db, receiver):
    path = _path()
    endpoint = await create_endpoint(api, merchant, receiver.url(path), ["payment.captured"])
    receiver.behave(path, secrets=[endpoint["secret"]])

    skipped = await emit_event(db, merchant.id, "payment.authorized")  # not subscribed
    event_id = await emit_event(db, merchant.id, "payment.captured")
    [delivery] = await _settled(api, merchant, endpoint["id"])

    # Delivery is at least once: an attempt that timed out on a loaded machine (the suite's
    # timeout is 2 s) is sent again. Every request is then the same message, one per recorded
    # attempt, and the last attempt is the one that succeeded.
    received = receiver.requests(path)
    assert len(received) == len(delivery["attempts"]) >= 1, (len(received), delivery["attempts"])
    assert {(r.headers["webhook-id"], r.body) for r in received} == {(received[-1].headers["webhook-id"], received[-1].body)}
    request = received[-1]
    assert request.verified_with == [endpoint["secret"]]
    assert request.body == await event_body(db, event_id)
    api_body = (await api.get(f"/v1/events/{event_id}", headers=merchant.headers)).content
    assert request.body == api_body
    assert json.loads(request.body)["type"] == "payment.captured"
    assert request.headers["webhook-id"] == delivery["webhook_id"]
    assert request.headers["content-type"] == "application/json"
    assert delivery["status"] == "succeeded" and delivery["event_id"] == str(event_id)
    assert delivery["attempts"][-1]["status_code"] == 200 and delivery["attempts"][-1]["succeeded"]
    # The receiver is on loopback (allowed by the module's WEBHOOK_ALLOWED_NETWORKS): status only.
    assert delivery["attempts"][-1]["response_body"] is None
    assert str(skipped) not in [d["event_id"] for d in await _deliveries(api, merchant, endpoint["id"])]


async def test_rotation_signs_with_both_secrets_during_the_grace_period(api, merchant, db, receiver):
    path = _path()
    endpoint = await create_endpoint(api, merchant, receiver.url(path))
    old = endpoint["secret"]
    rotated = await api.post(f"/v1/webhook-endpoints/{endpoint['id']}/rotate-secret", headers=merchant.headers)
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["secret"]
    assert new.startswith("whsec_") and new != old
    receiver.behave(path, secrets=[old, new])

    await emit_event(db, merchant.id)
    await _settled(api, merchant, endpoint["id"])
    [request] = receiver.requests(path)
    assert request.verified_with == [old, new]  # each secret alone verifies the delivery
    assert len(request.headers["webhook-signature"].split(" ")) == 2

    # A rotation without grace: only the newest secret signs from now on.
    again = await api.post(
        f"/v1/webhook-endpoints/{endpoint['id']}/rotate-secret", json={"grace_period_s": 0}, headers=merchant.headers
    )
    newest = again.json()["secret"]
    receiver.behave(path, secrets=[old, new, newest])
    await emit_event(db, merchant.id)
    await _settled(api, merchant, endpoint["id"], count=2)
    last = receiver.requests(path)[-1]
    assert last.verified_with == [newest]
    with pytest.raises(WebhookVerificationError):
        Webhook(new).verify(last.body, last.headers)


async def test_a_receiver_failing_then_recovering_gets_the_event_once_with_one_webhook_id(api, merchant, db, receiver):
    path = _path()
    endpoint = await create_endpoint(api, merchant, receiver.url(path))
    receiver.behave(path, statuses=[500, 503, 502], default=200, secrets=[endpoint["secret"]])

    await emit_event(db, merchant.id)
    [delivery] = await _settled(api, merchant, endpoint["id"])

    requests = receiver.requests(path)
    assert [r.status for r in requests] == [500, 503, 502, 200]
    assert len({r.headers["webhook-id"] for r in requests}) == 1
    assert len({r.body for r in requests}) == 1
    assert all(r.verified_with for r in requests)
    assert delivery["status"] == "succeeded" and delivery["attempt_count"] == 4
    assert [a["status_code"] for a in delivery["attempts"]] == [500, 503, 502, 200]
    assert delivery["attempts"][0]["error"] == "HTTP 500" and delivery["attempts"][0]["latency_ms"] >= 0
    assert (await endpoint_row(db, endpoint["id"])).failing_since is None  # a success ends the streak


async def test_a_receiver_down_for_the_whole_schedule_ends_dead_and_disabled_with_an_event(api, merchant, db, receiver):
    path, watcher_path = _path(), _path()
    endpoint = await create_endpoint(api, merchant, receiver.url(path))
    watcher = await create_endpoint(api, merchant, receiver.url(watcher_path), ["webhook_endpoint.disabled"])
    receiver.behave(path, default=500, secrets=[endpoint["secret"]])
    receiver.behave(watcher_path, secrets=[watcher["secret"]])

    await emit_event(db, merchant.id)
    [delivery] = await _settled(api, merchant, endpoint["id"])

    assert delivery["status"] == "failed" and delivery["attempt_count"] == 4
    assert len(receiver.requests(path)) == 4
    row = await endpoint_row(db, endpoint["id"])
    assert not row.enabled and row.disabled_reason == "failing"
    shown = (await api.get(f"/v1/webhook-endpoints/{endpoint['id']}", headers=merchant.headers)).json()
    assert shown["status"] == "disabled" and shown["disabled_reason"] == "failing" and "secret" not in shown

    events = (await api.get("/v1/events", params={"type": "webhook_endpoint.disabled"}, headers=merchant.headers)).json()
    [disabled_event] = events["data"]
    assert disabled_event["data"]["object"]["id"] == endpoint["id"]
    assert "secret" not in disabled_event["data"]["object"]
    # Another endpoint of the merchant subscribed to it is told.
    await wait_until(lambda: receiver.requests(watcher_path), what="the disabled event to reach the watcher")
    told = receiver.requests(watcher_path)[0]
    assert json.loads(told.body)["id"] == disabled_event["id"] and told.verified_with

    # Nothing more goes to a disabled endpoint.
    await emit_event(db, merchant.id)
    assert len(await delivery_rows(db, endpoint["id"])) == 1


async def test_410_gone_disables_the_endpoint_at_once(api, merchant, db, receiver):
    path = _path()
    endpoint = await create_endpoint(api, merchant, receiver.url(path))
    receiver.behave(path, default=410, secrets=[endpoint["secret"]])

    await emit_event(db, merchant.id)
    [delivery] = await _settled(api, merchant, endpoint["id"])

    assert delivery["status"] == "failed" and delivery["attempt_count"] == 1
    assert len(receiver.requests(path)) == 1
    row = await endpoint_row(db, endpoint["id"])
    assert not row.enabled and row.disabled_reason == "gone"
    events = (await api.get("/v1/events", params={"type": "webhook_endpoint.disabled"}, headers=merchant.headers)).json()
    assert [e["data"]["object"]["id"] for e in events["data"]] == [endpoint["id"]]


async def test_a_redirect_is_not_followed(api, merchant, db, receiver):
    path, target = _path(), _path()
    endpoint = await create_endpoint(api, merchant, receiver.url(path))
    receiver.behave(path, default=302, location=receiver.url(target), secrets=[endpoint["secret"]])

    await emit_event(db, merchant.id)
    await wait_until(lambda: len(receiver.requests(path)) >= 2, what="a retry after the redirect")
    assert receiver.requests(target) == []
    delivery = (await _deliveries(api, merchant, endpoint["id"]))[0]
    first = delivery["attempts"][0]
    assert first["status_code"] == 302 and not first["succeeded"]
    # Its Location is not kept: the receiver is not public (reached through the loopback opt-in).
    assert first["error"] == "redirect not followed (HTTP 302)" and target not in first["error"]


@pytest.mark.parametrize(
    "url",
    ["http://169.254.169.254/latest/meta-data/", "http://10.20.30.40:8080/hook", "http://[fd00:ec2::254]/", "http://0.0.0.0:9/"],
)
async def test_private_and_metadata_addresses_are_refused_at_delivery_time(api, merchant, db, receiver, url):
    # The API refuses such URLs outright; this endpoint row stands for one saved under another policy.
    refused = await api.post("/v1/webhook-endpoints", json={"url": url, "events": ["*"]}, headers=merchant.headers)
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "url"
    endpoint = await create_endpoint(api, merchant, receiver.url(_path()))
    async with db.begin() as conn:
        await conn.execute(text("UPDATE webhook_endpoints SET url = :u WHERE id = :e"), {"u": url, "e": endpoint["id"]})

    await emit_event(db, merchant.id)
    await wait_until(
        lambda: _first_attempt(api, merchant, endpoint["id"]), what="the refused attempt to be recorded"
    )
    attempt = await _first_attempt(api, merchant, endpoint["id"])
    assert attempt["error"].startswith("blocked address") and attempt["status_code"] is None


async def test_a_loopback_receiver_allowed_by_opt_in_is_delivered_to_but_its_body_is_not_kept(api, merchant, db, receiver):
    path = _path()
    endpoint = await create_endpoint(api, merchant, receiver.url(path))
    receiver.behave(path, secrets=[endpoint["secret"]])  # answers 200 with a JSON body
    await emit_event(db, merchant.id)
    [delivery] = await _settled(api, merchant, endpoint["id"])

    assert delivery["status"] == "succeeded" and len(receiver.requests(path)) == 1
    [attempt] = delivery["attempts"]
    assert attempt["status_code"] == 200 and attempt["response_body"] is None and attempt["error"] is None
    async with db.connect() as conn:
        stored = (await conn.execute(
            text("SELECT a.response_body FROM webhook_attempts a WHERE a.delivery_id = :d"), {"d": delivery["id"]}
        )).scalars().all()
    assert stored == [None]


async def _first_attempt(api, merchant, endpoint_id: str) -> dict | None:
    deliveries = await _deliveries(api, merchant, endpoint_id)
    return deliveries[0]["attempts"][0] if deliveries and deliveries[0]["attempts"] else None


async def test_resend_delivers_again_with_the_same_webhook_id(api, merchant, db, receiver):
    path = _path()
    endpoint = await create_endpoint(api, merchant, receiver.url(path))
    receiver.behave(path, secrets=[endpoint["secret"]])
    event_id = await emit_event(db, merchant.id)
    await _settled(api, merchant, endpoint["id"])

    response = await api.post(f"/v1/events/{event_id}/resend", headers=merchant.headers)
    assert response.status_code == 202, response.text
    assert [d["endpoint_id"] for d in response.json()["deliveries"]] == [endpoint["id"]]
    await wait_until(lambda: len(receiver.requests(path)) == 2, what="the resent delivery")
    first, second = receiver.requests(path)
    assert first.headers["webhook-id"] == second.headers["webhook-id"] and first.body == second.body
    assert second.verified_with == [endpoint["secret"]]
    [delivery] = await _settled(api, merchant, endpoint["id"])
    assert delivery["status"] == "succeeded" and len(delivery["attempts"]) == 2


async def test_recover_sends_failed_deliveries_since_a_time_again(api, merchant, db, receiver):
    path = _path()
    endpoint = await create_endpoint(api, merchant, receiver.url(path))
    receiver.behave(path, default=500, secrets=[endpoint["secret"]])
    before = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=5)
    events = [await emit_event(db, merchant.id) for _ in range(2)]
    await _settled(api, merchant, endpoint["id"], count=2)
    assert not (await endpoint_row(db, endpoint["id"])).enabled

    disabled = await api.post(
        f"/v1/webhook-endpoints/{endpoint['id']}/recover", json={"since": before.isoformat()}, headers=merchant.headers
    )
    assert disabled.status_code == 409 and disabled.json()["code"] == "webhook_endpoint_disabled"
    receiver.behave(path, default=200)
    enabled = await api.patch(f"/v1/webhook-endpoints/{endpoint['id']}", json={"enabled": True}, headers=merchant.headers)
    assert enabled.json()["status"] == "enabled"

    later = dt.datetime.now(dt.timezone.utc).isoformat()
    none = await api.post(f"/v1/webhook-endpoints/{endpoint['id']}/recover", json={"since": later}, headers=merchant.headers)
    assert none.status_code == 202 and none.json()["deliveries"] == 0
    recovered = await api.post(
        f"/v1/webhook-endpoints/{endpoint['id']}/recover", json={"since": before.isoformat()}, headers=merchant.headers
    )
    assert recovered.status_code == 202 and recovered.json()["deliveries"] == 2

    deliveries = await _settled(api, merchant, endpoint["id"], count=2)
    assert {d["status"] for d in deliveries} == {"succeeded"}
    delivered = {json.loads(r.body)["id"] for r in receiver.requests(path) if r.status == 200}
    assert delivered == {str(e) for e in events}
    assert all(r.verified_with for r in receiver.requests(path))
