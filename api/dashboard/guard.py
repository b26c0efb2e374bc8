"""Who is signed in to the dashboard, and what a page may do: the guard every page but the
sign-in form runs, and the dashboard's answers to refusals (HTML, not problem documents).

The guard, in order: the session cookie names a live session (else to the sign-in form); the
user's ``token_version`` is still the session's (else the session is ended: the user was
disabled, or its role or password changed); the caller's rate limit, the counter its API
tokens count on (429); the route's permission (``opt["dashboard_permission"]``, the API's table:
403; ``opt["dashboard_admin_only"]``: admins only, the operators' pages); and on a POST the
session's CSRF token in the form (403).
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.connection import ASGIConnection
from litestar.exceptions import HTTPException, NotFoundException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.response import Redirect, Template

from api.auth import enforce_rate_limit
from api.problems import Problem
from api.dashboard.sessions import SESSION_COOKIE, DashboardSession, SessionStore, tokens_match
from api.state import app_state
from engine.metrics import AUTH_FAILURES

log = logging.getLogger(__name__)

_TITLES = {404: "Not found", 409: "Refused", 422: "Invalid input", 429: "Too many requests", 503: "Try again shortly"}

SIGN_IN_PATH = "/dashboard/"


class SignInRequired(HTTPException):
    status_code = 401
    detail = "Sign in to continue."


class CsrfRefused(PermissionDeniedException):
    detail = "The form has expired or did not come from this dashboard: reload the page and try again."


def session_store(app: Any) -> SessionStore:
    return app_state(app).dashboard_sessions


def current_session(request: Request[Any, Any, Any]) -> DashboardSession:
    return request.scope["state"]["dashboard_session"]


async def require_session(connection: ASGIConnection[Any, Any, Any, Any], route_handler: BaseRouteHandler) -> None:
    store = session_store(connection.app)
    session_id = connection.cookies.get(SESSION_COOKIE)
    session = await store.get(session_id)
    if session is None:
        raise SignInRequired()
    principal = session.principal()
    if not await app_state(connection.app).token_versions.accepts(principal):
        await store.delete(session_id)
        raise SignInRequired()
    state = connection.scope["state"]
    state["principal"] = principal
    state["dashboard_session"] = session
    await enforce_rate_limit(connection, f"{principal.actor_type}:{principal.actor_id}", None, app_state(connection.app).limiter)
    permission = route_handler.opt.get("dashboard_permission")
    if (permission is not None and not principal.can(permission)) or (route_handler.opt.get("dashboard_admin_only") and principal.scope is not None):
        AUTH_FAILURES.labels(reason="forbidden").inc()
        raise PermissionDeniedException("Your role may not do this.")
    if isinstance(connection, Request) and connection.method == "POST":
        form = await connection.form()
        if not tokens_match(session.csrf_token, form.get("csrf_token")):
            AUTH_FAILURES.labels(reason="csrf").inc()
            raise CsrfRefused()


def _is_htmx(request: Request[Any, Any, Any]) -> bool:
    return request.headers.get("hx-request") == "true"


def error_page(request: Request[Any, Any, Any], status: int, title: str, detail: str, headers: dict[str, str] | None = None) -> Template:
    session = request.scope["state"].get("dashboard_session")
    return Template(
        template_name="error.html",
        context={"title": title, "detail": detail, "status": status, "session": session},
        status_code=status,
        headers=headers,
    )


def handle_sign_in_required(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """To the sign-in form: a redirect, or for an htmx request an ``HX-Redirect`` (so a partial
    update does not swap the form into the page)."""
    if _is_htmx(request):
        return Response(b"", status_code=401, headers={"HX-Redirect": SIGN_IN_PATH})
    return Redirect(SIGN_IN_PATH, status_code=303)


def handle_refusal(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """403, 404 and the API's problems (429, 503...) as dashboard pages with the same status."""
    if isinstance(exc, Problem):
        return error_page(request, exc.status, _TITLES.get(exc.status, "Refused"), exc.detail, dict(exc.headers))
    if isinstance(exc, NotFoundException):
        return error_page(request, 404, "Not found", "There is no such page or object.")
    if isinstance(exc, PermissionDeniedException):
        return error_page(request, 403, "Forbidden", str(exc.detail))
    assert isinstance(exc, HTTPException)
    return error_page(request, exc.status_code, "Error", str(exc.detail))


EXCEPTION_HANDLERS: dict[Any, Any] = {
    SignInRequired: handle_sign_in_required,
    Problem: handle_refusal,
    NotFoundException: handle_refusal,
    PermissionDeniedException: handle_refusal,
}
