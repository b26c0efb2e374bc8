"""Health probes: liveness is cheap; readiness names the failing dependency."""

from __future__ import annotations

import dataclasses

from litestar.testing import AsyncTestClient


async def test_live_and_ready(api, sandbox):
    assert (await api.get("/health/live")).json() == {"status": "ok"}
    ready = await api.get("/health/ready")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": "ok", "cache": "ok", "broker": "ok", "processor": "ok"}
    assert ready.headers["x-request-id"]


async def test_ready_is_503_naming_the_failing_checks(settings, database):
    from api.app import create_app
    from tests.conftest import free_port

    broken = dataclasses.replace(
        settings,
        processor=dataclasses.replace(settings.processor, endpoint_url=f"http://127.0.0.1:{free_port()}/xml/v1/request.api"),
        redis=dataclasses.replace(settings.redis, cache_url=f"redis://127.0.0.1:{free_port()}/0"),
    )
    async with AsyncTestClient(app=create_app(broken, configure_logs=False)) as client:
        response = await client.get("/health/ready")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"] == "ok" and checks["broker"] == "ok"
    assert checks["processor"] != "ok" and checks["cache"] != "ok"


async def test_request_id_is_echoed_or_generated(api):
    echoed = await api.get("/health/live", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    generated = await api.get("/health/live", headers={"X-Request-ID": "bad id with spaces"})
    assert generated.headers["x-request-id"].startswith("req_")


async def test_openapi_schema_and_docs_are_served(api):
    schema = (await api.get("/schema/openapi.json")).json()
    assert "/v1/payments" in schema["paths"]
    post = schema["paths"]["/v1/payments"]["post"]
    accepted = post["responses"]["202"]["content"]["application/json"]["schema"]
    assert accepted["$ref"].endswith("PaymentView")
    assert "application/problem+json" in post["responses"]["422"]["content"]
    assert {"amount", "currency", "payment_method"} <= set(
        schema["components"]["schemas"]["PaymentCreate"]["properties"]
    )
    docs = await api.get("/schema")
    assert docs.status_code == 200 and "html" in docs.headers["content-type"]
