"""``/v1/webhook-endpoints`` and ``/v1/events`` without workers: validation naming fields,
secrets shown once and sealed at rest, tenancy, idempotency, permissions declared, event reads."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from sqlalchemy import text

from tests.conftest import make_merchant
from tests.webhooks.conftest import emit_event

URL = "https://hooks.example.com/easypay"


async def _create(api, merchant, **body):
    payload = {"url": URL, "events": ["*"], **body}
    return await api.post("/v1/webhook-endpoints", json=payload, headers=merchant.headers)


async def test_create_shows_the_secret_once_and_stores_it_sealed(api, merchant, db):
    response = await _create(api, merchant, events=["payment.captured", "refund.failed"], description="orders")
    assert response.status_code == 201, response.text
    body = response.json()
    secret = body["secret"]
    assert secret.startswith("whsec_") and len(secret) > 40
    assert body["object"] == "webhook_endpoint" and body["status"] == "enabled"
    assert body["events"] == ["payment.captured", "refund.failed"] and body["description"] == "orders"

    shown = (await api.get(f"/v1/webhook-endpoints/{body['id']}", headers=merchant.headers)).json()
    assert "secret" not in shown and shown["url"] == URL
    listed = (await api.get("/v1/webhook-endpoints", headers=merchant.headers)).json()
    assert "secret" not in json.dumps(listed) and [e["id"] for e in listed["data"]] == [body["id"]]
    async with db.connect() as conn:
        row = (await conn.execute(text("SELECT * FROM webhook_endpoints WHERE id = :e"), {"e": body["id"]})).one()
    assert secret not in json.dumps([str(v) for v in row])
    assert secret.removeprefix("whsec_") not in row.secret_sealed


@pytest.mark.parametrize(
    "body,field",
    [
        ({"url": "ftp://example.com/x"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"url": "https://user:pw@example.com/x"}, "url"),
        ({"url": "http://10.0.0.8/hook"}, "url"),
        ({"url": "http://169.254.169.254/latest"}, "url"),
        ({"url": "https://[::ffff:192.168.1.1]/"}, "url"),
        ({"events": []}, "events"),
        ({"events": ["payment.exploded"]}, "events"),
        ({"events": ["*", "payment.captured"]}, "events"),
        ({"colour": "red"}, "colour"),
        ({"description": "x" * 501}, "description"),
    ],
)
async def test_bad_input_is_refused_naming_the_field(api, merchant, db, body, field):
    response = await _create(api, merchant, **body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in response.json()["errors"]] == [field]
    async with db.connect() as conn:
        count = (await conn.execute(text("SELECT count(*) FROM webhook_endpoints WHERE merchant_id = :m"), {"m": merchant.id})).scalar_one()
    assert count == 0


async def test_patch_changes_fields_and_disables_and_enables(api, merchant):
    endpoint = (await _create(api, merchant, description="old")).json()
    path = f"/v1/webhook-endpoints/{endpoint['id']}"
    changed = await api.patch(path, json={"url": URL + "/v2", "events": ["payment.voided"], "description": None}, headers=merchant.headers)
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["url"] == URL + "/v2" and body["events"] == ["payment.voided"] and body["description"] is None
    disabled = (await api.patch(path, json={"enabled": False}, headers=merchant.headers)).json()
    assert disabled["status"] == "disabled" and disabled["disabled_reason"] == "manual"
    enabled = (await api.patch(path, json={"enabled": True}, headers=merchant.headers)).json()
    assert enabled["status"] == "enabled" and enabled["disabled_reason"] is None
    bad = await api.patch(path, json={"events": ["nope"]}, headers=merchant.headers)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "events"


async def test_rotation_returns_a_new_secret_and_keeps_the_old_for_the_grace(api, merchant, db):
    endpoint = (await _create(api, merchant)).json()
    rotated = await api.post(f"/v1/webhook-endpoints/{endpoint['id']}/rotate-secret", headers=merchant.headers)
    assert rotated.status_code == 200
    assert rotated.json()["secret"] != endpoint["secret"]
    async with db.connect() as conn:
        row = (await conn.execute(text("SELECT * FROM webhook_endpoints WHERE id = :e"), {"e": endpoint["id"]})).one()
    assert row.previous_secret_sealed is not None
    assert row.previous_secret_expires_at > dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=23)
    bad = await api.post(
        f"/v1/webhook-endpoints/{endpoint['id']}/rotate-secret", json={"grace_period_s": -1}, headers=merchant.headers
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "grace_period_s"


async def test_idempotent_create_replays_the_same_secret_without_storing_it_in_the_clear(api, merchant, db):
    headers = {**merchant.headers, "Idempotency-Key": f"ep-{uuid.uuid4()}"}
    first = await api.post("/v1/webhook-endpoints", json={"url": URL, "events": ["*"]}, headers=headers)
    second = await api.post("/v1/webhook-endpoints", json={"url": URL, "events": ["*"]}, headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.headers["idempotent-replayed"] == "true" and second.json() == first.json()
    other = await api.post("/v1/webhook-endpoints", json={"url": URL + "/x", "events": ["*"]}, headers=headers)
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    async with db.connect() as conn:
        stored = (await conn.execute(text("SELECT response_body FROM idempotency_keys WHERE merchant_id = :m"), {"m": merchant.id})).scalar_one()
    assert first.json()["secret"].encode() not in stored
    listed = (await api.get("/v1/webhook-endpoints", headers=merchant.headers)).json()
    assert len(listed["data"]) == 1


async def test_delete_removes_the_endpoint(api, merchant):
    endpoint = (await _create(api, merchant)).json()
    deleted = await api.delete(f"/v1/webhook-endpoints/{endpoint['id']}", headers=merchant.headers)
    assert deleted.status_code == 200 and deleted.json() == {"id": endpoint["id"], "object": "webhook_endpoint", "deleted": True}
    assert (await api.get(f"/v1/webhook-endpoints/{endpoint['id']}", headers=merchant.headers)).status_code == 404


async def test_list_is_keyset_paginated(api, merchant):
    ids = [(await _create(api, merchant)).json()["id"] for _ in range(3)]
    page = (await api.get("/v1/webhook-endpoints", params={"limit": 2}, headers=merchant.headers)).json()
    assert page["has_more"] and [e["id"] for e in page["data"]] == ids[::-1][:2]
    rest = (await api.get("/v1/webhook-endpoints", params={"limit": 2, "starting_after": page["data"][-1]["id"]}, headers=merchant.headers)).json()
    assert not rest["has_more"] and [e["id"] for e in rest["data"]] == [ids[0]]


async def test_another_merchants_endpoints_and_events_are_404(api, merchant, db, settings):
    endpoint = (await _create(api, merchant)).json()
    event_id = await emit_event(db, merchant.id)
    other = await make_merchant(settings, "Other shop")
    base = f"/v1/webhook-endpoints/{endpoint['id']}"
    for method, path, body in [
        ("GET", base, None),
        ("PATCH", base, {"description": "mine"}),
        ("DELETE", base, None),
        ("POST", base + "/rotate-secret", None),
        ("GET", base + "/deliveries", None),
        ("POST", base + "/recover", {"since": dt.datetime.now(dt.timezone.utc).isoformat()}),
        ("GET", f"/v1/events/{event_id}", None),
        ("POST", f"/v1/events/{event_id}/resend", None),
    ]:
        response = await api.request(method, path, json=body, headers=other.headers)
        assert response.status_code == 404, (method, path, response.text)
    assert (await api.get("/v1/webhook-endpoints", headers=other.headers)).json()["data"] == []
    assert (await api.get("/v1/events", headers=other.headers)).json()["data"] == []


async def test_events_are_served_as_stored_and_filtered(api, merchant, db):
    start = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)
    captured = [await emit_event(db, merchant.id, "payment.captured") for _ in range(3)]
    voided = await emit_event(db, merchant.id, "payment.voided")
    response = await api.get(f"/v1/events/{voided}", headers=merchant.headers)
    async with db.connect() as conn:
        stored = (await conn.execute(text("SELECT body FROM events WHERE id = :e"), {"e": voided})).scalar_one()
    assert response.status_code == 200 and response.content == stored
    event = response.json()
    assert event["object"] == "event" and event["type"] == "payment.voided" and event["data"]["object"]["object"] == "payment"

    everything = (await api.get("/v1/events", headers=merchant.headers)).json()
    assert [e["id"] for e in everything["data"]] == [str(voided), *[str(c) for c in captured[::-1]]]
    page = (await api.get("/v1/events", params={"type": "payment.captured", "limit": 2}, headers=merchant.headers)).json()
    assert page["has_more"] and [e["id"] for e in page["data"]] == [str(c) for c in captured[::-1][:2]]
    rest = (await api.get("/v1/events", params={"type": "payment.captured", "starting_after": page["data"][-1]["id"]}, headers=merchant.headers)).json()
    assert not rest["has_more"] and [e["id"] for e in rest["data"]] == [str(captured[0])]
    window = (await api.get("/v1/events", params={"created_gte": start.isoformat(), "created_lt": start.isoformat()}, headers=merchant.headers)).json()
    assert window["data"] == []
    about = event["data"]["object"]["id"]
    only = (await api.get("/v1/events", params={"object_id": about}, headers=merchant.headers)).json()
    assert [e["id"] for e in only["data"]] == [str(voided)], "only the events about that payment"
    assert (await api.get("/v1/events", params={"object_id": str(uuid.uuid4())}, headers=merchant.headers)).json()["data"] == []
    for params, field in [({"type": "payment.exploded"}, "type"), ({"created_gte": "yesterday"}, "created_gte"), ({"starting_after": "x"}, "starting_after"), ({"object_id": "pay_1"}, "object_id")]:
        bad = await api.get("/v1/events", params=params, headers=merchant.headers)
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == field


async def test_recover_and_resend_validate_their_input(api, merchant, db):
    endpoint = (await _create(api, merchant)).json()
    base = f"/v1/webhook-endpoints/{endpoint['id']}/recover"
    old = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=31)).isoformat()
    for body, field in [({"since": old}, "since"), ({"since": "soon"}, "since"), ({}, "since")]:
        response = await api.post(base, json=body, headers=merchant.headers)
        assert response.status_code == 422 and response.json()["errors"][0]["field"] == field, response.text
    event_id = await emit_event(db, merchant.id)
    bad = await api.post(f"/v1/events/{event_id}/resend", json={"endpoint_id": str(uuid.uuid4())}, headers=merchant.headers)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "endpoint_id"


def test_every_webhook_and_event_route_declares_its_permission(settings):
    """Reading, resending and managing are separate: only managing changes where events go or
    how they are signed."""
    from api.app import create_app

    app = create_app(settings, configure_logs=False)
    expected = {
        ("GET", "/v1/events"): "payments:read",
        ("GET", "/v1/events/{event_id:str}"): "payments:read",
        ("POST", "/v1/events/{event_id:str}/resend"): "webhooks:resend",
        ("POST", "/v1/webhook-endpoints"): "webhooks:manage",
        ("GET", "/v1/webhook-endpoints"): "webhooks:read",
        ("GET", "/v1/webhook-endpoints/{endpoint_id:str}"): "webhooks:read",
        ("PATCH", "/v1/webhook-endpoints/{endpoint_id:str}"): "webhooks:manage",
        ("DELETE", "/v1/webhook-endpoints/{endpoint_id:str}"): "webhooks:manage",
        ("POST", "/v1/webhook-endpoints/{endpoint_id:str}/rotate-secret"): "webhooks:manage",
        ("GET", "/v1/webhook-endpoints/{endpoint_id:str}/deliveries"): "webhooks:read",
        ("POST", "/v1/webhook-endpoints/{endpoint_id:str}/recover"): "webhooks:resend",
    }
    seen = {}
    for route in app.routes:
        if not route.path.startswith(("/v1/events", "/v1/webhook-endpoints")):
            continue
        for handler in route.route_handlers:  # type: ignore[attr-defined]
            for method in handler.http_methods - {"OPTIONS", "HEAD"}:  # not Litestar's automatic handlers
                seen[(method, route.path)] = handler.opt.get("permission")
    assert seen == expected


async def test_openapi_documents_the_webhook_routes(api):
    schema = (await api.get("/schema/openapi.json")).json()
    paths = schema["paths"]
    created = paths["/v1/webhook-endpoints"]["post"]["responses"]
    assert created["201"]["content"]["application/json"]["schema"]["$ref"].endswith("WebhookEndpointWithSecret")
    assert "application/problem+json" in created["422"]["content"]
    assert paths["/v1/events"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("EventList")
    for path, method in [
        ("/v1/events/{event_id}", "get"), ("/v1/events/{event_id}/resend", "post"),
        ("/v1/webhook-endpoints/{endpoint_id}", "patch"), ("/v1/webhook-endpoints/{endpoint_id}", "delete"),
        ("/v1/webhook-endpoints/{endpoint_id}/rotate-secret", "post"),
        ("/v1/webhook-endpoints/{endpoint_id}/deliveries", "get"), ("/v1/webhook-endpoints/{endpoint_id}/recover", "post"),
    ]:
        operation = paths[path][method]
        assert operation["summary"] and "404" in operation["responses"], (path, method)
    view = schema["components"]["schemas"]["WebhookEndpointView"]["properties"]
    assert "secret" not in view and {"url", "events", "status", "disabled_reason"} <= set(view)


@pytest.fixture(scope="module")
async def api_without_opt_in(test_env, database, redis_clean):
    """The API as deployed by default: no ``WEBHOOK_ALLOWED_NETWORKS`` (the suite's own API opts in
    to loopback for its receivers, which would let the loopback forms below through)."""
    from litestar.testing import AsyncTestClient

    from api.app import create_app
    from engine.settings_from_env import load_settings

    settings = load_settings({k: v for k, v in test_env.items() if k != "WEBHOOK_ALLOWED_NETWORKS"})
    assert settings.webhooks.allowed_networks == ()
    async with AsyncTestClient(app=create_app(settings, configure_logs=False), timeout=40) as client:
        yield client


@pytest.mark.parametrize(
    "url",
    [
        "http://2130706433/hook", "http://0x7f.1/hook", "http://0177.0.0.1/hook", "http://127.1/hook", "http://0/hook",
        "http://0x7f000001:8899/_control", "http://167772161/hook", "http://0xa9.254.169.254/latest",
        "http://[64:ff9b::7f00:1]/hook", "http://[64:ff9b:1::a00:1]/hook", "http://[2002:7f00:1::1]/hook",
        "http://[::127.0.0.1]/hook", "http://[::ffff:127.0.0.1]/hook", "http://[2001:0:808:808::80ff:fffe]/hook",
        "http://[2001:0:7f00:1::f7f7:f7f7]/hook", "http://256.0.0.1/hook", "http://127.0.0.1/hook",
    ],
)
async def test_numeric_and_transition_forms_of_internal_addresses_are_refused_naming_url(api_without_opt_in, merchant, db, url):
    response = await api_without_opt_in.post("/v1/webhook-endpoints", json={"url": url, "events": ["*"]}, headers=merchant.headers)
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == ["url"]
    saved = await api_without_opt_in.post("/v1/webhook-endpoints", json={"url": URL, "events": ["*"]}, headers=merchant.headers)
    assert saved.status_code == 201, saved.text
    changed = await api_without_opt_in.patch(
        f"/v1/webhook-endpoints/{saved.json()['id']}", json={"url": url}, headers=merchant.headers
    )
    assert changed.status_code == 422 and [e["field"] for e in changed.json()["errors"]] == ["url"]


@pytest.mark.parametrize("url", ["http://134744072/hook", "http://[64:ff9b::808:808]/hook", "http://[2002:808:808::1]/hook"])
async def test_numeric_and_transition_forms_of_public_addresses_are_accepted(api_without_opt_in, merchant, url):
    response = await api_without_opt_in.post("/v1/webhook-endpoints", json={"url": url, "events": ["*"]}, headers=merchant.headers)
    assert response.status_code == 201, response.text
