"""Credentials → ``Principal``, rate limits and permissions, enforced by one guard on every route.

``access_check`` (the app's ``before_request`` hook) runs before a handler's body is read and its
dependencies resolved, in this order:

1. the route's declared ``opt["permission"]``: a ``/v1`` route without one is refused (403,
   fail closed); ``public`` routes skip authentication; operations routes (``opt["ops"]``) need
   ``EASYPAY_OPS_TOKEN`` when it is set (``require_ops_token``) and nothing else;
2. authentication (API key ``ak_…:sk_…`` as Bearer or ``X-API-Key``, or a user JWT as Bearer):
   401 when missing or invalid, or a user token whose ``ver`` is not the user's current
   ``token_version`` (disabled, role or password changed); 503 when PostgreSQL cannot say;
3. the caller's rate limits (Redis counters shared by all API processes): 429. A route's
   ``opt["read_ahead"]`` (``(connection, state) -> None``) is called just before, so the Redis
   reads it starts (``GET /v1/payments/{id}``: the snapshot) go in the rate-limit hit's round
   trip; a refused request never looks at them;
4. the permission, from the role table in ``engine.permissions``: 403;
5. JSON body structure limits (nesting depth, string length): 400/422.

The principal is left in ``scope["state"]["principal"]`` for the ``principal`` dependency and
the audit middleware.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

from litestar import Request, Response
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from api.allow import allow_listing
from api.bodies import check_request
from api.problems import Problem
from api.state import AppState, app_state
from engine.auth import Principal, presented_key_id
from engine.logcontext import bind_merchant
from engine.metrics import AUTH_FAILURES, RATE_LIMIT_REJECTIONS
from engine.permissions import PUBLIC
from engine.ratelimit import Decision, RateLimiter
from engine.tokens import looks_like_jwt

log = logging.getLogger(__name__)

API_PREFIX = "/v1"
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def presented_credential(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """The Bearer token, else ``X-API-Key`` (read from the raw headers: no header object is built)."""
    api_key = None
    for name, value in connection.scope["headers"]:
        if name == b"authorization" and value:
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" else None
        if name == b"x-api-key" and api_key is None:
            api_key = value.decode("latin-1")
    return api_key


async def authenticate(connection: ASGIConnection[Any, Any, Any, Any], state: AppState | None = None) -> Principal:
    token = presented_credential(connection)
    audit_state = connection.scope["state"]
    state = state or app_state(connection.app)
    if not token:
        AUTH_FAILURES.labels(reason="missing_credentials").inc()
        raise NotAuthorizedException()
    principal: Principal | None
    if looks_like_jwt(token):
        audit_state["presented_actor"] = ("user", None)
        principal = state.tokens.verify(token)
        # Against PostgreSQL (1 s in-process memory); an outage is a 503, never an acceptance.
        if principal is not None and not await state.token_versions.accepts(principal):
            principal = None
    else:
        principal = None
        try:
            principal = await state.authenticator.authenticate(token)
        finally:
            if principal is None:  # a failed attempt (or an outage) is audited as the key id presented
                audit_state["presented_actor"] = ("api_key", presented_key_id(token))
    if principal is None:
        AUTH_FAILURES.labels(reason="invalid_token" if looks_like_jwt(token) else "invalid_credentials").inc()
        if not looks_like_jwt(token):
            await _limit_key_failures(connection)
        raise NotAuthorizedException()
    audit_state["principal"] = principal
    bind_merchant(principal.merchant_label)
    return principal


def rate_limit_headers(decision: Decision) -> dict[str, str]:
    headers = {
        "RateLimit-Limit": str(decision.limit),
        "RateLimit-Remaining": str(decision.remaining),
        "RateLimit-Policy": decision.policy,
    }
    if not decision.allowed:
        headers["RateLimit-Reset"] = str(decision.reset_after_s)
        headers["Retry-After"] = str(decision.reset_after_s)
    return headers


def client_address(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    client = connection.scope.get("client")
    return client[0] if client else "unknown"


async def _limit_key_failures(connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    """Count a failed API-key check against the client address: over the limit, 429 instead of 401,
    so keys cannot be guessed (or the key store probed) at request rate. Valid keys are unaffected."""
    per_minute = app_state(connection.app).settings.access.key_failures_per_minute
    await enforce_rate_limit(
        connection, f"key_failures:{client_address(connection)}", {"minute": per_minute}, app_state(connection.app).abuse_limiter
    )


async def enforce_rate_limit(
    connection: ASGIConnection[Any, Any, Any, Any], identity: str, overrides: dict[str, int] | None, limiter: RateLimiter
) -> Decision:
    """Count one hit of ``identity`` on ``limiter`` (a ``RateLimiter``): over a window, ``429`` with
    ``Retry-After``; else the decision."""
    decision = await limiter.hit(identity, overrides)
    if decision.window is not None and not decision.allowed:
        raise _refusal(identity, decision)
    return decision


def _refusal(identity: str, decision: Decision) -> Problem:
    RATE_LIMIT_REJECTIONS.labels(scope=identity.partition(":")[0]).inc()
    return Problem(
        429,
        "rate_limited",
        f"Too many requests: the limit is {decision.limit} per {decision.window}; retry after {decision.reset_after_s} s.",
        headers=rate_limit_headers(decision),
    )


async def _rate_limit(
    connection: ASGIConnection[Any, Any, Any, Any], state: AppState, identity: str, overrides: dict[str, int] | None
) -> None:
    """``enforce_rate_limit`` on the credential's limits (one coroutine less on every request)."""
    decision = await state.limiter.hit(identity, overrides)
    if decision.window is not None:
        if not decision.allowed:
            raise _refusal(identity, decision)
        # An allowed request's headers (``rate_limit_headers`` without a reset), encoded for ``api.hardening``.
        connection.scope["state"]["rate_limit_headers"] = [
            (b"ratelimit-limit", b"%d" % decision.limit),
            (b"ratelimit-remaining", b"%d" % decision.remaining),
            (b"ratelimit-policy", decision.policy.encode()),
        ]


async def access_guard(connection: ASGIConnection[Any, Any, Any, Any], route_handler: BaseRouteHandler) -> None:
    method = connection.scope.get("method", "GET")
    if method == "OPTIONS":  # CORS preflight and Allow listings carry no credentials
        return
    if route_handler.opt.get("ops"):
        require_ops_token(connection)
        return
    permission = route_handler.opt.get("permission")
    if permission is None:
        path = connection.scope["path"]
        if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
            log.error("route %s %s declares no permission: refused", method, connection.scope.get("path_template", path))
            raise PermissionDeniedException()
        return
    state = app_state(connection.app)
    if permission == PUBLIC:
        await _rate_limit(connection, state, f"ip:{client_address(connection)}", None)
    else:
        principal = await authenticate(connection, state)
        read_ahead = route_handler.opt.get("read_ahead")
        if read_ahead is not None:  # its Redis reads join the rate-limit hit's round trip
            read_ahead(connection, state)
        await _rate_limit(connection, state, f"{principal.actor_type}:{principal.actor_id}", principal.rate_limits)
        if not principal.can(permission):
            AUTH_FAILURES.labels(reason="forbidden").inc()
            raise PermissionDeniedException()
    if isinstance(connection, Request):
        await check_request(connection, route_handler, has_body=method in _BODY_METHODS)


def require_ops_token(connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    """Operations routes (``opt["ops"]``: ``/metrics``, ``/health/ready``): with ``EASYPAY_OPS_TOKEN``
    set, only a request carrying it as its Bearer token is answered; anything else is a 401."""
    expected = app_state(connection.app).settings.access.ops_token
    if expected is None:
        return
    presented = presented_credential(connection) or ""
    if not hmac.compare_digest(presented.encode(), expected.encode()):
        AUTH_FAILURES.labels(reason="invalid_ops_token" if presented else "missing_credentials").inc()
        raise NotAuthorizedException()


async def access_check(request: Request[Any, Any, Any]) -> Response[None] | None:
    """``access_guard`` as the app's ``before_request`` hook: the same checks at the same point
    (before the body is parsed and dependencies resolved) without the route handler copy that
    Litestar makes for every guard call (measured at about 7 % of the API's CPU on a poll).
    An ``OPTIONS`` request is answered here with the resource's methods (``api.allow``)."""
    if request.scope["method"] == "OPTIONS":
        return allow_listing(request)
    await access_guard(request, request.route_handler)
    return None


def provide_principal(request: Request[Any, Any, Any], easypay: NamedDependency[AppState]) -> Principal:
    """Dependency: the principal ``access_guard`` authenticated (a route without a permission gets 401).

    It takes ``easypay`` (unused) so that it comes after it in the dependency graph: Litestar
    resolves dependencies of one level concurrently, each in a task of an anyio task group
    (measured at a quarter of the API's CPU on a poll); one after the other they are two calls.
    """
    del easypay
    principal = request.scope["state"].get("principal")
    if principal is None:
        raise NotAuthorizedException()
    return principal
