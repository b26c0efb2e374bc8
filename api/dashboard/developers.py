"""``/dashboard/developers``: the events (``payments:read``), for roles with ``keys:manage`` the API
keys with a revoke button (the API's revocation: ``api.keys.revoke_in_scope``), and for
``audit:read`` the audit log. Events filter by type, audit entries by action and actor; each list
pages on its own ("Older →": the API's cursor, the last entry's id) through the queries behind
``GET /v1/events`` and ``GET /v1/audit-logs``, in the caller's tenancy."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import msgspec
from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncConnection

from api.dashboard.guard import current_session, require_session
from api.dashboard.forms import FormRefused, once_per_form
from api.dashboard.paging import next_page_url
from api.events import resend_work
from api.dashboard.key_form import EXPIRY_DAYS, LIMIT_FIELDS, key_create, problem_text
from api.idempotent import Answer, run_idempotent
from api.ids import path_id, query_id
from api.keys import create_in_scope, key_views, revoke_in_scope
from api.problems import FieldProblem, Problem, validation_problem
from api.read_your_writes import reader
from api.state import AppState
from engine.db import events as event_repo
from engine.db import accounts
from engine.db.audit import list_audit_logs
from engine.auth import Principal
from engine.events import PUBLIC_EVENT_TYPES, EventView
from engine.pages import Page
from engine.permissions import ASSIGNABLE_ROLES, Permission

_event_decoder = msgspec.json.Decoder(EventView)
KEYS_SHOWN = 100
EVENTS_SHOWN = 50
AUDIT_SHOWN = 50
#: A form's one-time idempotency key, as the page renders it.


#: The query the page takes: each list's filters and its cursor (both lists page on their own).
EVENT_QUERY = ("event_type", "events_after")
AUDIT_QUERY = ("action", "actor_id", "audit_after")


def _query(request: Request[Any, Any, Any]) -> dict[str, str]:
    """The filters and cursors given (an HTML form sends empty fields: those are absent)."""
    return {name: value for name in (*EVENT_QUERY, *AUDIT_QUERY) if (value := request.query_params.get(name, "").strip())}


async def _events(state: AppState, principal: Principal, given: dict[str, str]) -> Page[EventView]:
    """A page of events, as ``GET /v1/events?type=&starting_after=`` checks and reads it."""
    event_type = given.get("event_type")
    if event_type is not None and event_type not in PUBLIC_EVENT_TYPES:
        raise validation_problem([FieldProblem("event_type", f"Unknown event type {event_type!r}.")])
    cursor = query_id("events_after", given.get("events_after"), "an event id")

    async def fetch(conn: Any) -> Page[Any]:
        return await event_repo.list_events(conn, principal.scope, limit=EVENTS_SHOWN, starting_after=cursor, type=event_type)

    try:
        page = await state.read_router.read(fetch, actor=reader(principal))
    except event_repo.EventNotFound:
        raise validation_problem([FieldProblem("events_after", "No such event.")]) from None
    return page.map(lambda row: _event_decoder.decode(row.body))  # the stored bytes webhooks send


async def _audit(state: AppState, principal: Principal, given: dict[str, str]) -> Page[Any]:
    """A page of audit entries, as ``GET /v1/audit-logs?action=&actor_id=&starting_after=`` reads it."""
    action, actor_id, after = given.get("action"), given.get("actor_id"), given.get("audit_after")
    problems = []
    if action is not None and len(action) > 64:
        problems.append(FieldProblem("action", "At most 64 characters."))
    if actor_id is not None and len(actor_id) > 254:
        problems.append(FieldProblem("actor_id", "At most 254 characters."))
    if after is not None and not (after.isdigit() and int(after) >= 1):
        problems.append(FieldProblem("audit_after", "Must be an entry id."))
    if problems:
        raise validation_problem(problems)

    async def fetch(conn: Any) -> Page[Any]:
        return await list_audit_logs(
            conn, scope=principal.scope, limit=AUDIT_SHOWN, starting_after=int(after) if after else None,
            action=action, actor_id=actor_id,
        )

    return await state.read_router.read(fetch, actor=reader(principal))


@get("/developers", guards=[require_session], opt={"dashboard_permission": Permission.PAYMENTS_READ})
async def developers(request: Request[Any, Any, Any], easypay: NamedDependency[AppState]) -> Template:
    notice = "Key revoked." if request.query_params.get("done") == "revoked" else None
    if (resent := request.query_params.get("resent", "")).isdigit():
        notice = f"Event sent again: {resent} deliver{'y' if resent == '1' else 'ies'} queued."
    return await _page(request, easypay, notice=notice)


async def _page(request: Request[Any, Any, Any], easypay: AppState, *, notice: str | None = None, error: str | None = None,
                new_key: str | None = None, status: int = 200) -> Template:
    session = current_session(request)
    principal = session.principal()

    given = _query(request)
    keys: list[Any] = []
    can_manage_keys = principal.can(Permission.KEYS_MANAGE)
    if can_manage_keys:
        async with easypay.engine.connect() as conn:
            key_rows = (await accounts.list_api_keys(conn, scope=principal.scope, limit=KEYS_SHOWN)).items
        keys = await key_views(easypay, list(key_rows))
    can_read_audit = principal.can(Permission.AUDIT_READ)
    events: Page[Any] = Page.empty()
    audit: Page[Any] = Page.empty()
    try:
        events = await _events(easypay, principal, given)
        if can_read_audit:
            await easypay.audit.flush()  # this process's latest entries first, as GET /v1/audit-logs does
            audit = await _audit(easypay, principal, given)
    except Problem as problem:
        error = problem_text(problem)
        status = problem.status
    return Template(
        template_name="developers.html",
        context={
            "session": session,
            "events": events.items,
            "older_events": next_page_url("/dashboard/developers", given, events, cursor="events_after"),
            "keys": keys,
            "can_manage_keys": can_manage_keys,
            "audit": audit.items,
            "older_audit": next_page_url("/dashboard/developers", given, audit, cursor="audit_after"),
            "can_read_audit": can_read_audit,
            "filters": given,
            "event_types": sorted(PUBLIC_EVENT_TYPES),
            "now": dt.datetime.now(dt.timezone.utc),
            "assignable_roles": sorted(ASSIGNABLE_ROLES.get(principal.role, ())),
            "is_admin": principal.scope is None,
            "can_resend": principal.can(Permission.WEBHOOKS_RESEND),
            "idempotency_key": str(uuid.uuid4()),
            "expiry_days": EXPIRY_DAYS,
            "limit_fields": LIMIT_FIELDS,
            "default_limits": easypay.settings.access.default_rate_limits,
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
async def create_key(request: Request[Any, Any, Any], easypay: NamedDependency[AppState]) -> Template:
    """``POST /v1/api-keys`` from the form (``api.keys.create_in_scope``: the same ceilings, role
    rules and errors), under the form's one-time idempotency key: the token is shown on this
    answer, and on the answer to the same form sent again (one key), stored only sealed."""
    principal = request.scope["state"]["principal"]
    form = await request.form()

    async def create(key: str) -> Any:
        data = key_create(form, dt.datetime.now(dt.timezone.utc))

        async def work(conn: AsyncConnection) -> Answer:
            row, token = await create_in_scope(request, easypay, principal, data, conn)
            return Answer(201, json.dumps({"id": row.id, "key": token}).encode())

        return await run_idempotent(request, easypay, principal, key, work, sealed=True)

    try:
        answer = await once_per_form(form, create)
    except Problem as problem:
        return await _page(request, easypay, error=problem_text(problem), status=problem.status)
    created = json.loads(answer.content)
    return await _page(request, easypay, notice=f"Key {created['id']} created: copy it now, it is not shown again.",
                       new_key=created["key"], status=201)


@post(
    "/developers/keys/{key_id:str}/revoke",
    guards=[require_session],
    opt={"dashboard_permission": Permission.KEYS_MANAGE, "audit_action": "revoke_api_key", "audit_object": "api_key"},
    status_code=303,
)
async def revoke(request: Request[Any, Any, Any], easypay: NamedDependency[AppState], key_id: FromPath[str]) -> Redirect:
    await revoke_in_scope(request, easypay, request.scope["state"]["principal"], key_id)
    return Redirect("/dashboard/developers?done=revoked", status_code=303)



@post(
    "/developers/events/{event_id:str}/resend",
    guards=[require_session],
    opt={"dashboard_permission": Permission.WEBHOOKS_RESEND, "audit_action": "resend", "audit_object": "event"},
    status_code=303,
)
async def resend(request: Request[Any, Any, Any], easypay: NamedDependency[AppState], event_id: FromPath[str]) -> Any:
    """``POST /v1/events/{id}/resend`` from a form: the API's work, under the form's idempotency key."""
    eid = path_id(event_id, Problem(404, "event_not_found", "No such event."))
    principal = request.scope["state"]["principal"]
    try:
        answer = await once_per_form(
            await request.form(), lambda key: run_idempotent(request, easypay, principal, key, resend_work(request, principal, eid, None))
        )
    except FormRefused as refused:
        return await _page(request, easypay, error=refused.detail, status=refused.status)
    count = len(json.loads(answer.content)["deliveries"])
    return Redirect(f"/dashboard/developers?resent={count}", status_code=303)
