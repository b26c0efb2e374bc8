"""What the router refuses before any handler runs still looks like every other answer."""

from __future__ import annotations


async def test_unknown_route_is_a_problem_with_a_request_id(api, merchant):
    response = await api.get("/v1/no-such-thing", headers=merchant.headers)
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("application/problem+json")
    request_id = response.headers["X-Request-ID"]
    assert request_id.startswith("req_") and response.json()["request_id"] == request_id
    # A client's own request id is kept, as on routed requests
    mine = await api.get("/nowhere", headers={"X-Request-ID": "client-trace-42"})
    assert mine.headers["X-Request-ID"] == "client-trace-42" and mine.json()["request_id"] == "client-trace-42"


async def test_wrong_method_is_405_naming_the_allowed_ones(api, merchant):
    response = await api.delete("/v1/payments", headers=merchant.headers)
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
    assert {m.strip() for m in response.headers["Allow"].split(",")} >= {"GET", "POST"}
    assert response.json()["request_id"] == response.headers["X-Request-ID"]
