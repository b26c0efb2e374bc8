"""``/dashboard/developers``: the latest events (``payments:read``), for roles with ``keys:manage``
the API keys with a revoke button (the API's revocation: ``api.keys.revoke_in_scope``), and for
``audit:read`` the newest audit log entries."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from typing import Any

import msgspec
from litestar import Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from api.dashboard.guard import current_session, require_session
from api.events import resend_work
from api.idempotent import run_idempotent
from api.ids import path_id
from api.keys import ApiKeyCreate, create_in_scope, key_views, revoke_in_scope
from api.problems import Problem
from api.read_your_writes import reader
from api.state import AppState
from engine.db import events as event_repo
from engine.db import accounts
from engine.db.audit import list_audit_logs
from engine.events import EventView
from engine.cards import find_card_numbers
from engine.idempotency import IdempotencyKeyInUse, IdempotencyKeyReused
from engine.pages import Page
from engine.permissions import ASSIGNABLE_ROLES, ROLES, Permission

_event_decoder = msgspec.json.Decoder(EventView)
KEYS_SHOWN = 100
EVENTS_SHOWN = 50
AUDIT_SHOWN = 50


@get("/developers", guards=[require_session], opt={"dashboard_permission": Permission.PAYMENTS_READ})
async def developers(request: Request[Any, Any, Any]) -> Template:
    notice = "Key revoked." if request.query_params.get("done") == "revoked" else None
    if (resent := request.query_params.get("resent", "")).isdigit():
        notice = f"Event sent again: {resent} deliver{'y' if resent == '1' else 'ies'} queued."
    return await _page(request, notice=notice)


async def _page(request: Request[Any, Any, Any], *, notice: str | None = None, error: str | None = None,
                new_key: str | None = None, status: int = 200) -> Template:
    state: AppState = request.app.state.easypay
    session = current_session(request)
    principal = session.principal()

    async def fetch_events(conn: Any) -> Page[Any]:
        return await event_repo.list_events(conn, principal.scope, limit=EVENTS_SHOWN)

    page = await state.read_router.read(fetch_events, actor=reader(principal))
    events = [_event_decoder.decode(row.body) for row in page.items]  # the stored bytes webhooks send
    keys: list[Any] = []
    can_manage_keys = principal.can(Permission.KEYS_MANAGE)
    if can_manage_keys:
        async with state.engine.connect() as conn:
            key_rows = (await accounts.list_api_keys(conn, scope=principal.scope, limit=KEYS_SHOWN)).items
        keys = await key_views(request, list(key_rows))
    audit: list[Any] = []
    can_read_audit = principal.can(Permission.AUDIT_READ)
    if can_read_audit:
        await request.app.state.audit.flush()  # this process's latest entries first, as GET /v1/audit-logs does

        async def fetch_audit(conn: Any) -> Page[Any]:
            return await list_audit_logs(conn, scope=principal.scope, limit=AUDIT_SHOWN)

        audit = list((await state.read_router.read(fetch_audit, actor=reader(principal))).items)
    return Template(
        template_name="developers.html",
        context={
            "session": session,
            "events": events,
            "keys": keys,
            "can_manage_keys": can_manage_keys,
            "audit": audit,
            "can_read_audit": can_read_audit,
            "now": dt.datetime.now(dt.timezone.utc),
            "assignable_roles": sorted(ASSIGNABLE_ROLES.get(principal.role, ())),
            "is_admin": principal.scope is None,
            "can_resend": principal.can(Permission.WEBHOOKS_RESEND),
            "idempotency_key": str(uuid.uuid4()),
            "notice": notice,
            "error": error,
            "new_key": new_key,
        },
        status_code=status,
        headers={"Cache-Control": "no-store"},
    )


@post(
    "/developers/keys",
    guards=[require_session],
    opt={"dashboard_permission": Permission.KEYS_MANAGE, "audit_action": "create_api_key", "audit_object": "api_key"},
    status_code=201,
)
async def create_key(request: Request[Any, Any, Any]) -> Template:
    """A new key, its token shown on this answer only (never stored, never shown again)."""
    form = await request.form()
    role, name, merchant_id = (form.get(f) for f in ("role", "name", "merchant_id"))
    name = name.strip() if isinstance(name, str) and name.strip() else None
    merchant_id = merchant_id.strip() if isinstance(merchant_id, str) and merchant_id.strip() else None
    try:
        if not isinstance(role, str) or role not in ROLES:
            raise Problem(422, "validation_error", "Choose a role.")
        if name is not None and (len(name) > 200 or find_card_numbers(name)):
            raise Problem(422, "validation_error", "The name must be at most 200 characters and hold no card number.")
        row, token = await create_in_scope(
            request, request.scope["state"]["principal"], ApiKeyCreate(role=role, name=name, merchant_id=merchant_id)
        )
    except Problem as problem:
        return await _page(request, error=problem.detail, status=problem.status)
    return await _page(request, notice=f"Key {row.id} created: copy it now, it is not shown again.", new_key=token, status=201)


@post(
    "/developers/keys/{key_id:str}/revoke",
    guards=[require_session],
    opt={"dashboard_permission": Permission.KEYS_MANAGE, "audit_action": "revoke_api_key", "audit_object": "api_key"},
    status_code=303,
)
async def revoke(request: Request[Any, Any, Any], key_id: FromPath[str]) -> Redirect:
    await revoke_in_scope(request, request.scope["state"]["principal"], key_id)
    return Redirect("/dashboard/developers?done=revoked", status_code=303)


_KEY = re.compile(r"^[A-Za-z0-9-]{8,64}$")


@post(
    "/developers/events/{event_id:str}/resend",
    guards=[require_session],
    opt={"dashboard_permission": Permission.WEBHOOKS_RESEND, "audit_action": "resend", "audit_object": "event"},
    status_code=303,
)
async def resend(request: Request[Any, Any, Any], event_id: FromPath[str]) -> Any:
    """``POST /v1/events/{id}/resend`` from a form: the API's work, under the form's idempotency key."""
    eid = path_id(event_id, Problem(404, "event_not_found", "No such event."))
    key = (await request.form()).get("idempotency_key")
    if not isinstance(key, str) or not _KEY.match(key):
        return await _page(request, error="The form has no valid idempotency key: reload the page.", status=422)
    try:
        answer = await run_idempotent(request, request.scope["state"]["principal"], key, resend_work(request, request.scope["state"]["principal"], eid, None))
    except (IdempotencyKeyReused, IdempotencyKeyInUse):
        return await _page(request, error="This form was already sent: reload the page.", status=409)
    count = len(json.loads(answer.content)["deliveries"])
    return Redirect(f"/dashboard/developers?resent={count}", status_code=303)
