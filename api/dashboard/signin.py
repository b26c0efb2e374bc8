"""``/dashboard/``: the sign-in form, signing in (the API's own checks: ``api.users.check_sign_in``)
and signing out."""

from __future__ import annotations

import secrets
from typing import Any

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotAuthorizedException
from litestar.response import Redirect, Template

from api.dashboard.guard import SIGN_IN_PATH, current_session, require_session, session_store
from api.dashboard.sessions import (
    SESSION_COOKIE,
    SIGN_IN_CSRF_COOKIE,
    cleared_cookie,
    session_cookie,
    sign_in_csrf_cookie,
    tokens_match,
)
from api.problems import Problem
from api.users import check_sign_in
from api.state import AppState, app_state

HOME_PATH = "/dashboard/payments"
_NO_STORE = {"Cache-Control": "no-store"}
_SIGN_IN_OPT = {"audit_action": "dashboard_sign_in", "audit_object": "user"}


def _secure(request: Request[Any, Any, Any]) -> bool:
    return bool(app_state(request.app).settings.is_production)


def _form_page(request: Request[Any, Any, Any], *, status: int = 200, message: str | None = None, email: str = "",
               headers: dict[str, str] | None = None) -> Template:
    """The sign-in form with a fresh CSRF token (in its cookie and in the form)."""
    token = secrets.token_urlsafe(32)
    return Template(
        template_name="sign_in.html",
        context={"csrf_token": token, "message": message, "email": email, "session": None},
        status_code=status,
        headers={**_NO_STORE, **(headers or {})},
        cookies=[sign_in_csrf_cookie(token, secure=_secure(request))],
    )


@get("/", name="dashboard_home")
async def home(request: Request[Any, Any, Any]) -> Response[Any]:
    """The payments page when signed in, else the sign-in form."""
    if await session_store(request.app).get(request.cookies.get(SESSION_COOKIE)) is not None:
        return Redirect(HOME_PATH, status_code=303)
    return _form_page(request)


@get("/sign-in")
async def sign_in_form(request: Request[Any, Any, Any]) -> Template:
    return _form_page(request)


@post("/sign-in", status_code=303, opt=_SIGN_IN_OPT)
async def sign_in(request: Request[Any, Any, Any], easypay: NamedDependency[AppState]) -> Response[Any]:
    form = await request.form()
    email, password = form.get("email"), form.get("password")
    email = email if isinstance(email, str) else ""
    if not tokens_match(request.cookies.get(SIGN_IN_CSRF_COOKIE), form.get("csrf_token")):
        return _form_page(request, status=403, message="The form expired: please sign in again.", email=email)
    if not isinstance(password, str) or not (3 <= len(email) <= 254) or not (1 <= len(password) <= 256):
        return _form_page(request, status=401, message="Wrong e-mail or password.", email=email)
    try:
        user = await check_sign_in(request, easypay, email, password)
    except NotAuthorizedException:
        return _form_page(request, status=401, message="Wrong e-mail or password.", email=email)
    except Problem as problem:  # 429 (sign-in limits), 503 busy
        return _form_page(request, status=problem.status, message=problem.detail, email=email, headers=problem.headers)
    store = session_store(request.app)
    await store.delete(request.cookies.get(SESSION_COOKIE))  # a new session id at every sign-in
    session_id, _session = await store.create(user)
    secure = _secure(request)
    return Redirect(
        HOME_PATH,
        status_code=303,
        headers=_NO_STORE,
        cookies=[session_cookie(session_id, secure=secure, max_age_s=store.ttl_s), cleared_cookie(SIGN_IN_CSRF_COOKIE, secure=secure)],
    )


@post("/sign-out", status_code=303, guards=[require_session], opt={"audit_action": "dashboard_sign_out", "audit_object": "user"})
async def sign_out(request: Request[Any, Any, Any]) -> Response[Any]:
    current_session(request)
    await session_store(request.app).delete(request.cookies.get(SESSION_COOKIE))
    return Redirect(SIGN_IN_PATH, status_code=303, headers=_NO_STORE, cookies=[cleared_cookie(SESSION_COOKIE, secure=_secure(request))])
