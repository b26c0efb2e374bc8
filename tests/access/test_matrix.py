"""Every /v1 route × every role × own merchant / other merchant / no credentials / revoked key /
expired key, with the exact status of each cell.

``ROUTES`` holds one entry per route: how to build a valid request aimed at a merchant's object
and the status it succeeds with. ``test_every_v1_route_is_in_the_matrix`` enumerates the app's
routes, so a route added later fails the suite until it declares a permission and gets an entry.
Expected statuses come from the role table (``engine.permissions``): no permission → 403;
permission but another merchant's object → 404 (admins act on every merchant → success).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

import pytest

from engine.permissions import PUBLIC, ROLES, Permission, role_allows
from tests.access.world import Shop, bearer, make_endpoint, make_key, make_processed_payment, make_shop, make_user
from tests.helpers import card_payment

Build = Callable[[Any, Shop, str], Awaitable[tuple[str, Any]]]


@dataclass(frozen=True)
class RouteSpec:
    permission: str
    success: int
    build: Build
    #: True when the route is about one merchant's data (another merchant's → 404);
    #: False for global objects (users), where only the permission matters.
    merchant_scoped: bool = True


async def _create_payment(settings: Any, target: Shop, role: str) -> tuple[str, Any]:
    body = card_payment()
    if role == "admin" or target.other:
        body["merchant_id"] = str(target.id)
    return "/v1/payments", body


async def _list_payments(settings: Any, target: Shop, role: str) -> tuple[str, Any]:
    return ("/v1/payments?merchant_id=" + str(target.id)) if target.other else "/v1/payments", None


async def _get_payment(settings: Any, target: Shop, role: str) -> tuple[str, Any]:
    return f"/v1/payments/{target.payment_id}", None


async def _create_key(settings: Any, target: Shop, role: str) -> tuple[str, Any]:
    body: dict[str, Any] = {"role": "viewer", "name": "matrix"}
    if target.other:
        body["merchant_id"] = str(target.id)
    return "/v1/api-keys", body


async def _list_keys(settings: Any, target: Shop, role: str) -> tuple[str, Any]:
    return ("/v1/api-keys?merchant_id=" + str(target.id)) if target.other else "/v1/api-keys", None


async def _get_key(settings: Any, target: Shop, role: str) -> tuple[str, Any]:
    return f"/v1/api-keys/{target.key_id}", None


async def _revoke_key(settings: Any, target: Shop, role: str) -> tuple[str, Any]:
    key_id, _ = await make_key(settings, target.id)  # a fresh victim per cell
    return f"/v1/api-keys/{key_id}", None


async def _list_audit(settings: Any, target: Shop, role: str) -> tuple[str, Any]:
    return ("/v1/audit-logs?merchant_id=" + str(target.id)) if target.other else "/v1/audit-logs", None


async def _create_user(settings: Any, target: Shop, role: str) -> tuple[str, Any]:
    return "/v1/users", {
        "email": f"{uuid.uuid4().hex[:12]}@example.com",
        "password": "a long enough password",
        "role": "viewer",
        "merchant_id": str(target.id),
    }


async def _list_users(settings: Any, target: Shop, role: str) -> tuple[str, Any]:
    return "/v1/users?merchant_id=" + str(target.id), None


async def _get_user(settings: Any, target: Shop, role: str) -> tuple[str, Any]:
    return f"/v1/users/{target.user_id}", None


async def _update_user(settings: Any, target: Shop, role: str) -> tuple[str, Any]:
    user_id, _ = await make_user(settings, target.id, "viewer")
    return f"/v1/users/{user_id}", {"role": "developer"}


def _scoped_list(path: str) -> Build:
    async def build(settings: Any, target: Shop, role: str) -> tuple[str, Any]:
        return (f"{path}?merchant_id={target.id}" if target.other else path), None

    return build


def _at(template: str, body: Any = None, *, fresh_endpoint: bool = False) -> Build:
    """A route on one of the target's objects: ``{event}``, ``{endpoint}`` in ``template``."""

    async def build(settings: Any, target: Shop, role: str) -> tuple[str, Any]:
        endpoint_id = await make_endpoint(settings, target.id) if fresh_endpoint else target.endpoint_id
        return template.format(event=target.event_id, endpoint=endpoint_id), body() if callable(body) else body

    return build


async def _create_endpoint(settings: Any, target: Shop, role: str) -> tuple[str, Any]:
    body: dict[str, Any] = {"url": "https://hooks.example.com/created", "events": ["refund.failed"]}
    if role == "admin" or target.other:
        body["merchant_id"] = str(target.id)
    return "/v1/webhook-endpoints", body


def _recover_body() -> dict[str, str]:
    import datetime as dt

    return {"since": (dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)).isoformat()}


ENDPOINT = "/v1/webhook-endpoints/{endpoint}"


def _operation(suffix: str, body: Any, *, captured: bool) -> Build:
    """An operation on a fresh payment of the target (authorized, or captured and settled)."""

    async def build(settings: Any, target: Shop, role: str) -> tuple[str, Any]:
        payment_id = await make_processed_payment(settings, target.id, captured=captured)
        return f"/v1/payments/{payment_id}/{suffix}", body

    return build


async def _list_refunds(settings: Any, target: Shop, role: str) -> tuple[str, Any]:
    return f"/v1/payments/{target.payment_id}/refunds", None


async def _get_refund(settings: Any, target: Shop, role: str) -> tuple[str, Any]:
    return f"/v1/refunds/{target.refund_id}", None

ROUTES: dict[tuple[str, str], RouteSpec] = {
    ("POST", "/v1/payments"): RouteSpec(Permission.PAYMENTS_WRITE, 202, _create_payment),
    ("GET", "/v1/payments"): RouteSpec(Permission.PAYMENTS_READ, 200, _list_payments),
    ("GET", "/v1/payments/{payment_id:str}"): RouteSpec(Permission.PAYMENTS_READ, 200, _get_payment),
    ("POST", "/v1/api-keys"): RouteSpec(Permission.KEYS_MANAGE, 201, _create_key),
    ("GET", "/v1/api-keys"): RouteSpec(Permission.KEYS_MANAGE, 200, _list_keys),
    ("GET", "/v1/api-keys/{key_id:str}"): RouteSpec(Permission.KEYS_MANAGE, 200, _get_key),
    ("DELETE", "/v1/api-keys/{key_id:str}"): RouteSpec(Permission.KEYS_MANAGE, 200, _revoke_key),
    ("GET", "/v1/audit-logs"): RouteSpec(Permission.AUDIT_READ, 200, _list_audit),
    ("POST", "/v1/users"): RouteSpec(Permission.USERS_MANAGE, 201, _create_user, merchant_scoped=False),
    ("GET", "/v1/users"): RouteSpec(Permission.USERS_MANAGE, 200, _list_users, merchant_scoped=False),
    ("GET", "/v1/users/{user_id:str}"): RouteSpec(Permission.USERS_MANAGE, 200, _get_user, merchant_scoped=False),
    ("PATCH", "/v1/users/{user_id:str}"): RouteSpec(Permission.USERS_MANAGE, 200, _update_user, merchant_scoped=False),
    ("POST", "/v1/payments/{payment_id:str}/capture"): RouteSpec(
        Permission.PAYMENTS_WRITE, 202, _operation("capture", {"amount": "10.00"}, captured=False)
    ),
    ("POST", "/v1/payments/{payment_id:str}/void"): RouteSpec(
        Permission.PAYMENTS_WRITE, 202, _operation("void", None, captured=False)
    ),
    ("POST", "/v1/payments/{payment_id:str}/refunds"): RouteSpec(
        Permission.PAYMENTS_REFUND, 202, _operation("refunds", {"amount": "2.00"}, captured=True)
    ),
    ("GET", "/v1/payments/{payment_id:str}/refunds"): RouteSpec(Permission.PAYMENTS_READ, 200, _list_refunds),
    ("GET", "/v1/refunds/{refund_id:str}"): RouteSpec(Permission.PAYMENTS_READ, 200, _get_refund),
    ("GET", "/v1/events"): RouteSpec(Permission.PAYMENTS_READ, 200, _scoped_list("/v1/events")),
    ("GET", "/v1/events/{event_id:str}"): RouteSpec(Permission.PAYMENTS_READ, 200, _at("/v1/events/{event}")),
    ("POST", "/v1/events/{event_id:str}/resend"): RouteSpec(
        Permission.WEBHOOKS_RESEND, 202, _at("/v1/events/{event}/resend", {})
    ),
    ("POST", "/v1/webhook-endpoints"): RouteSpec(Permission.WEBHOOKS_MANAGE, 201, _create_endpoint),
    ("GET", "/v1/webhook-endpoints"): RouteSpec(Permission.WEBHOOKS_READ, 200, _scoped_list("/v1/webhook-endpoints")),
    ("GET", "/v1/webhook-endpoints/{endpoint_id:str}"): RouteSpec(Permission.WEBHOOKS_READ, 200, _at(ENDPOINT)),
    ("PATCH", "/v1/webhook-endpoints/{endpoint_id:str}"): RouteSpec(
        Permission.WEBHOOKS_MANAGE, 200, _at(ENDPOINT, {"description": "changed"})
    ),
    ("DELETE", "/v1/webhook-endpoints/{endpoint_id:str}"): RouteSpec(
        Permission.WEBHOOKS_MANAGE, 200, _at(ENDPOINT, fresh_endpoint=True)
    ),
    ("POST", "/v1/webhook-endpoints/{endpoint_id:str}/rotate-secret"): RouteSpec(
        Permission.WEBHOOKS_MANAGE, 200, _at(ENDPOINT + "/rotate-secret", {})
    ),
    ("GET", "/v1/webhook-endpoints/{endpoint_id:str}/deliveries"): RouteSpec(
        Permission.WEBHOOKS_READ, 200, _at(ENDPOINT + "/deliveries")
    ),
    ("POST", "/v1/webhook-endpoints/{endpoint_id:str}/recover"): RouteSpec(
        Permission.WEBHOOKS_RESEND, 202, _at(ENDPOINT + "/recover", _recover_body)
    ),
}
#: Routes that need no credentials (tested on their own in test_tokens.py).
PUBLIC_ROUTES = {("POST", "/v1/auth/token")}


def v1_routes(app: Any) -> dict[tuple[str, str], Any]:
    found = {}
    for route in app.routes:
        if not route.path.startswith("/v1"):
            continue
        for method, (handler, _) in getattr(route, "route_handler_map", {}).items():
            if method not in ("OPTIONS", "HEAD"):
                found[(method, route.path)] = handler
    return found


def test_every_v1_route_declares_a_permission(api):
    routes = v1_routes(api.app)
    assert len(routes) >= len(ROUTES)
    undeclared = [r for r, h in routes.items() if h.opt.get("permission") not in {*Permission, PUBLIC}]
    assert not undeclared, f"routes without a known opt['permission']: {undeclared}"
    public = {r for r, h in routes.items() if h.opt.get("permission") == PUBLIC}
    assert public == PUBLIC_ROUTES


def test_every_v1_route_is_in_the_matrix(api):
    routes = v1_routes(api.app)
    assert set(routes) == set(ROUTES) | PUBLIC_ROUTES
    for key, spec in ROUTES.items():
        assert routes[key].opt["permission"] == spec.permission, key


def test_a_route_without_a_permission_fails_closed():
    """A /v1 handler someone forgot to annotate is refused by the guard before anything runs."""
    from litestar import Litestar, get
    from litestar.testing import TestClient

    from api.auth import access_check
    from api.problems import handle_exception

    ran = []

    @get("/v1/forgotten")
    async def forgotten() -> dict[str, str]:
        ran.append(True)
        return {"leak": "yes"}

    @get("/elsewhere")
    async def elsewhere() -> dict[str, str]:
        return {"ok": "yes"}

    app = Litestar([forgotten, elsewhere], before_request=access_check, exception_handlers={Exception: handle_exception})
    with TestClient(app) as client:
        response = client.get("/v1/forgotten")
        assert response.status_code == 403
        assert response.json()["code"] == "forbidden"
        assert client.get("/elsewhere").status_code == 200  # outside /v1 nothing is required
    assert not ran


@pytest.fixture(scope="module")
async def shops(settings, database, redis_clean) -> dict[str, Shop]:
    own = await make_shop(settings, "Matrix own shop")
    other = await make_shop(settings, "Matrix other shop")
    other.other = True
    return {"own": own, "other": other}


def expected(spec: RouteSpec, role: str, relation: str) -> int:
    if relation in ("none", "revoked", "expired"):
        return 401
    if not role_allows(role, spec.permission):
        return 403
    if relation == "other" and spec.merchant_scoped and role != "admin":
        return 404
    return spec.success


CELLS = [
    (method, path, role, relation)
    for (method, path) in ROUTES
    for role in ROLES
    for relation in ("own", "other", "revoked", "expired")
] + [(method, path, "-", "none") for (method, path) in ROUTES]


@pytest.mark.parametrize("method,path,role,relation", CELLS, ids=[f"{m} {p} {r} {rel}" for m, p, r, rel in CELLS])
async def test_matrix(api, settings, shops, method, path, role, relation):
    spec = ROUTES[(method, path)]
    own, other = shops["own"], shops["other"]
    target = other if relation == "other" else own
    url, body = await spec.build(settings, target, role if role != "-" else "merchant")
    headers = {
        "own": lambda: bearer(own.keys[role]),
        "other": lambda: bearer(own.keys[role]),
        "revoked": lambda: bearer(own.revoked[role]),
        "expired": lambda: bearer(own.expired[role]),
        "none": lambda: {},
    }[relation]()
    response = await api.request(method, url, headers=headers, json=body)
    assert response.status_code == expected(spec, role, relation), response.text
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/problem+json")


async def test_openapi_documents_every_access_route_and_its_refusals(api):
    import re

    schema = (await api.get("/schema/openapi.json")).json()
    assert {"bearer", "apiKey"} <= set(schema["components"]["securitySchemes"])
    for method, path in ROUTES:
        operation = schema["paths"][re.sub(r":\w+}", "}", path)][method.lower()]
        assert {"401", "403", "429"} <= set(operation["responses"]), (method, path)
        assert operation.get("summary"), (method, path)


def test_role_table_is_the_documented_one():
    """Written out independently of engine.permissions, so a change to the table is deliberate."""
    from engine.permissions import ROLE_PERMISSIONS

    everything = {
        "payments:read", "payments:write", "payments:refund", "webhooks:read", "webhooks:resend", "webhooks:manage",
        "keys:manage", "audit:read", "users:manage",
    }
    assert {role: {str(p) for p in perms} for role, perms in ROLE_PERMISSIONS.items()} == {
        "admin": everything,
        "merchant": everything - {"users:manage"},
        "developer": {"payments:read", "payments:write", "webhooks:read", "webhooks:resend"},
        "viewer": {"payments:read"},
    }
