"""``/dashboard/webhooks``: the caller's webhook endpoints, and one endpoint with its latest
deliveries (status, attempts, the receiver's answers): ``webhooks:read``, tenancy as the API's
(another merchant's endpoint is a 404). ``webhooks:manage`` may enable or disable an endpoint
(the API's ``switch_endpoint``) and rotate its signing secret (the API's ``rotate_endpoint_secret``:
the new secret is shown once, on the answer to the form, never stored or cached)."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Template

from api.audit import note
from api.dashboard.guard import current_session, require_session
from api.ids import path_id
from api.problems import Problem
from api.state import AppState
from api.webhook_endpoints import rotate_endpoint_secret, switch_endpoint
from engine.db import webhook_deliveries as deliveries_repo
from engine.db import webhook_endpoints as endpoints_repo
from engine.permissions import Permission
from engine.webhooks.views import delivery_view, endpoint_view

#: What a page shows: the newest endpoints, and an endpoint's newest deliveries with their attempts.
ENDPOINTS_SHOWN = 100
DELIVERIES_SHOWN = 50
ATTEMPTS_SHOWN = 5
_OPT = {"dashboard_permission": Permission.WEBHOOKS_READ, "audit_object": "webhook_endpoint"}


def _not_found() -> Problem:
    return Problem(404, "webhook_endpoint_not_found", "No such webhook endpoint.")


@get("/webhooks", guards=[require_session], opt=_OPT)
async def endpoint_list(request: Request[Any, Any, Any], easypay: NamedDependency[AppState]) -> Template:
    session = current_session(request)
    async with easypay.engine.connect() as conn:
        page = await endpoints_repo.list_endpoints(conn, session.principal().scope, limit=ENDPOINTS_SHOWN)
    return Template(
        template_name="webhooks.html",
        context={"session": session, "endpoints": [endpoint_view(r) for r in page.items], "has_more": page.has_more},
    )


async def _endpoint_page(request: Request[Any, Any, Any], easypay: AppState, eid: Any, notice: str | None, secret: str | None = None) -> Template:
    session = current_session(request)
    async with easypay.engine.connect() as conn:
        row = await endpoints_repo.get_endpoint(conn, eid, merchant_id=session.principal().scope)
        if row is None:
            raise _not_found()
        page = await deliveries_repo.list_deliveries(conn, eid, limit=DELIVERIES_SHOWN)
        attempts = await deliveries_repo.attempts_of(conn, [d.id for d in page.items], per_delivery=ATTEMPTS_SHOWN)
    return Template(
        template_name="webhook.html",
        context={
            "session": session,
            "endpoint": endpoint_view(row),
            "deliveries": [delivery_view(d, attempts.get(d.id, [])) for d in page.items],
            "has_more": page.has_more,
            "can_manage": session.principal().can(Permission.WEBHOOKS_MANAGE),
            "notice": notice,
            "secret": secret,
        },
        headers={"Cache-Control": "no-store"} if secret else None,
    )


@get("/webhooks/{endpoint_id:str}", guards=[require_session], opt=_OPT)
async def endpoint_detail(request: Request[Any, Any, Any], easypay: NamedDependency[AppState], endpoint_id: FromPath[str]) -> Template:
    notice = {"enabled": "Endpoint enabled.", "disabled": "Endpoint disabled."}.get(request.query_params.get("done", ""))
    return await _endpoint_page(request, easypay, path_id(endpoint_id, _not_found()), notice)


@post(
    "/webhooks/{endpoint_id:str}/enabled",
    guards=[require_session],
    opt={"dashboard_permission": Permission.WEBHOOKS_MANAGE, "audit_object": "webhook_endpoint", "audit_action": "update_endpoint"},
    status_code=303,
)
async def switch(request: Request[Any, Any, Any], easypay: NamedDependency[AppState], endpoint_id: FromPath[str]) -> Redirect:
    """The form's ``enabled`` (``true`` / ``false``), as ``PATCH {"enabled"}`` does."""
    eid = path_id(endpoint_id, _not_found())
    wanted = (await request.form()).get("enabled")
    if wanted not in ("true", "false"):
        raise Problem(422, "validation_error", "enabled must be true or false.")
    async with easypay.engine.begin() as conn:
        row = await endpoints_repo.get_endpoint(conn, eid, merchant_id=request.scope["state"]["principal"].scope, for_update=True)
        if row is None:
            raise _not_found()
        note(request, merchant_id=row.merchant_id)
        await switch_endpoint(conn, row, enabled=wanted == "true")
    return Redirect(f"/dashboard/webhooks/{eid}?done={'enabled' if wanted == 'true' else 'disabled'}", status_code=303)


@post(
    "/webhooks/{endpoint_id:str}/rotate-secret",
    guards=[require_session],
    opt={"dashboard_permission": Permission.WEBHOOKS_MANAGE, "audit_object": "webhook_endpoint", "audit_action": "rotate_secret"},
    status_code=200,
)
async def rotate(request: Request[Any, Any, Any], easypay: NamedDependency[AppState], endpoint_id: FromPath[str]) -> Template:
    """``POST /v1/webhook-endpoints/{id}/rotate-secret`` with the configured grace period: the page
    again, with the new secret (shown this once)."""
    eid = path_id(endpoint_id, _not_found())
    async with easypay.engine.begin() as conn:
        row = await endpoints_repo.get_endpoint(conn, eid, merchant_id=request.scope["state"]["principal"].scope, for_update=True)
        if row is None:
            raise _not_found()
        note(request, merchant_id=row.merchant_id)
        _row, secret = await rotate_endpoint_secret(easypay, conn, row, grace_s=None)
    return await _endpoint_page(request, easypay, eid, "Secret rotated: the previous one keeps signing during the grace period.", secret)
