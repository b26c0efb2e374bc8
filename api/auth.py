"""Credential resolution: ``Authorization: Bearer ak_…:sk_…`` or ``X-API-Key``."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.exceptions import NotAuthorizedException

from engine.auth import ApiKeyAuthenticator, Principal
from engine.logcontext import set_context
from engine.metrics import AUTH_FAILURES


def _presented_key(request: Request[Any, Any, Any]) -> str | None:
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        return value.strip() if scheme.lower() == "bearer" else None
    return request.headers.get("x-api-key")


async def provide_principal(request: Request[Any, Any, Any]) -> Principal:
    """Dependency for every ``/v1`` route; raises 401 for missing or bad credentials."""
    token = _presented_key(request)
    if not token:
        AUTH_FAILURES.labels(reason="missing_credentials").inc()
        raise NotAuthorizedException()
    authenticator: ApiKeyAuthenticator = request.app.state.authenticator
    principal = await authenticator.authenticate(token)
    if principal is None:
        AUTH_FAILURES.labels(reason="invalid_credentials").inc()
        raise NotAuthorizedException()
    set_context(merchant_id=str(principal.merchant_id))
    return principal
