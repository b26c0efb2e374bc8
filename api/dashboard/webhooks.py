"""``/dashboard/webhooks``: the caller's webhook endpoints, and one endpoint with its latest
deliveries (status, attempts, the receiver's answers): ``webhooks:read``, tenancy as the API's
(another merchant's endpoint is a 404). ``webhooks:manage`` may enable or disable an endpoint
(the API's ``switch_endpoint``) and rotate its signing secret (the API's ``rotate_endpoint_secret``
under the API's idempotency, keyed by the form's one-time key: the new secret is shown on the
answer to the form, and to that same form sent again, stored only sealed, never cached).
``webhooks:resend`` may recover the endpoint's failed deliveries and resend one delivery."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncConnection

from api.audit import note
from api.dashboard.guard import current_session, require_session
from api.dashboard.forms import once_per_form
from api.events import resend_work
from api.idempotent import Answer, Work, run_idempotent
from api.ids import path_id
from api.problems import Problem
from api.state import AppState
from api.webhook_endpoints import check_recovery_window, recover_work, rotate_endpoint_secret, switch_endpoint
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
            "can_resend": session.principal().can(Permission.WEBHOOKS_RESEND),
            "recover_windows_h": RECOVER_WINDOWS_H,
            #: One per rendering; each form adds its own suffix, so no two forms share a key.
            "idempotency_key": str(uuid.uuid4()),
            "error": None,
            "notice": notice,
            "secret": secret,
        },
        headers={"Cache-Control": "no-store"} if secret else None,
    )


@get("/webhooks/{endpoint_id:str}", guards=[require_session], opt=_OPT)
async def endpoint_detail(request: Request[Any, Any, Any], easypay: NamedDependency[AppState], endpoint_id: FromPath[str]) -> Template:
    notice = {"enabled": "Endpoint enabled.", "disabled": "Endpoint disabled."}.get(request.query_params.get("done", ""))
    if (recovered := request.query_params.get("recovered", "")).isdigit():
        notice = f"{recovered} failed deliver{'y' if recovered == '1' else 'ies'} sent again."
    if (resent := request.query_params.get("resent", "")).isdigit():
        notice = f"Event sent again: {resent} deliver{'y' if resent == '1' else 'ies'} queued."
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
    body, refused = await _run_form(request, easypay, eid, _rotation(easypay, request, eid), sealed=True)
    if refused is not None:
        return refused
    return await _endpoint_page(request, easypay, eid, "Secret rotated: the previous one keeps signing during the grace period.", body["secret"])


def _rotation(easypay: AppState, request: Request[Any, Any, Any], eid: uuid.UUID) -> Work:
    """The rotation as the API's idempotent work: its answer (the new secret) is stored sealed
    under the form's key, so the same form sent again shows the same secret and rotates once."""
    principal = request.scope["state"]["principal"]

    async def work(conn: AsyncConnection) -> Answer:
        row = await endpoints_repo.get_endpoint(conn, eid, merchant_id=principal.scope, for_update=True)
        if row is None:
            raise _not_found()
        note(request, merchant_id=row.merchant_id)
        _row, secret = await rotate_endpoint_secret(easypay, conn, row, grace_s=None)
        return Answer(200, json.dumps({"secret": secret}).encode())

    return work


#: The windows the recover form offers: failed deliveries of events created this long ago or since.
RECOVER_WINDOWS_H = (1, 24, 7 * 24, 30 * 24)
_RESEND = {"dashboard_permission": Permission.WEBHOOKS_RESEND, "audit_object": "webhook_endpoint"}


async def _run_form(request: Request[Any, Any, Any], easypay: AppState, eid: uuid.UUID, work: Work, *, sealed: bool = False) -> tuple[Any, Template | None]:
    """Run ``work`` as the API would, under the form's idempotency key (a form sent again gets the
    first answer; ``sealed``: stored sealed, it holds a secret); the answer's body, or the endpoint
    page saying why not (the API's status: 409 disabled, 422...). 404 stays a 404."""
    principal = request.scope["state"]["principal"]
    try:
        answer = await once_per_form(
            await request.form(), lambda key: run_idempotent(request, easypay, principal, key, work, sealed=sealed)
        )
    except Problem as exc:
        if exc.status == 404:
            raise
        page = await _endpoint_page(request, easypay, eid, None)
        page.context["error"] = exc.detail
        page.status_code = exc.status
        return None, page
    return json.loads(answer.content), None


@post("/webhooks/{endpoint_id:str}/recover", guards=[require_session], opt={**_RESEND, "audit_action": "recover"}, status_code=303)
async def recover(request: Request[Any, Any, Any], easypay: NamedDependency[AppState], endpoint_id: FromPath[str]) -> Any:
    """``POST /v1/webhook-endpoints/{id}/recover``: the failed deliveries of events created in the
    chosen window get a new round of attempts (the endpoint must be enabled, as the API wants)."""
    eid = path_id(endpoint_id, _not_found())
    window_h = (await request.form()).get("window_h")
    if not isinstance(window_h, str) or not window_h.isdigit() or int(window_h) not in RECOVER_WINDOWS_H:
        raise Problem(422, "validation_error", "Choose how far back to recover.")
    now = dt.datetime.now(dt.timezone.utc)
    since = now - dt.timedelta(hours=int(window_h))
    check_recovery_window(since, None, now=now)
    body, refused = await _run_form(request, easypay, eid, recover_work(request, request.scope["state"]["principal"], eid, since, None))
    if refused is not None:
        return refused
    return Redirect(f"/dashboard/webhooks/{eid}?recovered={int(body['deliveries'])}", status_code=303)


@post(
    "/webhooks/{endpoint_id:str}/events/{event_id:str}/resend",
    guards=[require_session],
    opt={**_RESEND, "audit_action": "resend"},
    status_code=303,
)
async def resend_delivery(
    request: Request[Any, Any, Any], easypay: NamedDependency[AppState], endpoint_id: FromPath[str], event_id: FromPath[str]
) -> Any:
    """``POST /v1/events/{id}/resend`` with this ``endpoint_id``: one delivery, a new round of
    attempts (same ``webhook-id``). Another merchant's endpoint or event is a 404."""
    eid = path_id(endpoint_id, _not_found())
    event = path_id(event_id, Problem(404, "event_not_found", "No such event."))
    principal = request.scope["state"]["principal"]
    resend = resend_work(request, principal, event, eid)

    async def work(conn: AsyncConnection) -> Answer:
        if await endpoints_repo.get_endpoint(conn, eid, merchant_id=principal.scope) is None:
            raise _not_found()
        return await resend(conn)

    body, refused = await _run_form(request, easypay, eid, work)
    if refused is not None:
        return refused
    return Redirect(f"/dashboard/webhooks/{eid}?resent={len(body['deliveries'])}", status_code=303)
