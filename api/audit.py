"""The audit trail of every API request (``audit_request``, run by ``api.middleware``) and
``GET /v1/audit-logs``.

It audits, with no per-route code: every mutating request (POST/PUT/PATCH/DELETE)
under ``/v1``, every read of cardholder-data routes (GET under ``/v1/payments`` and
``/v1/refunds``: who read which payment), every request answered 401, 403 or 429 there, and a
404 on an object route whose id exists under another merchant (``cross_tenant_probe``; the
ownership lookup runs only for such a 404, after the answer has been sent). Security events are
recorded durably (``engine.audit.AuditWriter.record_durably``); the accept path only appends an
ordinary entry to the buffer. It reads only identifiers: the
principal (or the key id / email presented in a failed attempt), the route template, the first
path parameter or the ``Location`` of a created object, the status, the client address and the
request id. Handlers may refine an entry with ``note(request, merchant_id=..., object_id=...)``
(e.g. an admin acting for another merchant); route handlers may name their action and object
with ``opt={"audit_action": ..., "audit_object": ...}``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import logging
import uuid
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter
from litestar.types import HTTPResponseStartEvent, HTTPScope
from sqlalchemy.ext.asyncio import AsyncConnection

from api.ids import id_query
from api.problems import FieldProblem, problem_responses, validation_problem
from api.read_your_writes import reader
from api.responses import list_envelope
from api.tenancy import requested_merchant
from api.timeparams import parse_time, time_query
from api.state import AppState, app_state
from engine.audit import AUDIT_OUTCOMES, COLUMNS, AuditEntry, Row, is_security_event, outcome_for, row_of
from engine.auth import Principal
from engine.db.audit import list_audit_logs, owning_merchant
from engine.pages import Page
from engine.permissions import Permission

_AUDITED_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_AUDITED_STATUSES = frozenset({401, 403, 429})
#: Routes serving cardholder data (payments and their refunds): reads are audited too.
_CARDHOLDER_DATA_PREFIXES = ("/v1/payments", "/v1/refunds", "/dashboard/payments")
API_PREFIX = "/v1/"
#: The dashboard's requests are audited like the API's (its sign-ins, actions and payment reads).
DASHBOARD_PREFIX = "/dashboard/"
AUDITED_PREFIXES = (API_PREFIX, DASHBOARD_PREFIX)
_STATUS_ACTIONS = {401: "authentication_failed", 429: "rate_limited"}

log = logging.getLogger(__name__)


def note(request: Request[Any, Any, Any], *, merchant_id: uuid.UUID | None = None, object_id: str | None = None) -> None:
    """Tell the audit middleware which merchant / object this request concerned."""
    state = request.scope["state"]
    if merchant_id is not None:
        state["audit_merchant_id"] = merchant_id
    if object_id is not None:
        state["audit_object_id"] = object_id


@functools.lru_cache(maxsize=512)
def _object_type(template: str) -> str | None:
    """From the route template (a few hundred of them): worked out once per route."""
    parts = [p for p in template.removeprefix(API_PREFIX).removeprefix(DASHBOARD_PREFIX).split("/") if p]
    if not parts:
        return None
    return parts[0].removesuffix("s").replace("-", "_")


def _entry(scope: HTTPScope, status: int, start: HTTPResponseStartEvent | None) -> AuditEntry:
    """``start``: the response's ``http.response.start``, whose ``Location`` names a created object
    (looked up only when nothing else names the object: a read's id is its path parameter)."""
    state = scope.get("state", {})
    handler = scope.get("route_handler")
    opt = getattr(handler, "opt", {}) or {}
    template = scope.get("path_template") or scope["path"]
    principal: Principal | None = state.get("principal")
    if principal is not None:
        actor_type, actor_id = principal.actor_type, principal.actor_id
    else:
        actor_type, actor_id = state.get("presented_actor", ("anonymous", None))
    action = _STATUS_ACTIONS.get(status) or opt.get("audit_action") or getattr(handler, "handler_name", "unknown")
    client = scope.get("client")
    merchant_id = state.get("audit_merchant_id") or (principal.merchant_id if principal else None)
    return AuditEntry(
        actor_type=actor_type or "anonymous",
        actor_id=(actor_id or None) and str(actor_id)[:254],
        merchant_id=merchant_id,
        action=str(action)[:64],
        object_type=opt.get("audit_object") or _object_type(template),
        object_id=_object_id(scope, state, status, start),
        method=scope.get("method"),
        route=template[:255],
        status_code=status,
        outcome=outcome_for(status),
        remote_addr=client[0][:64] if client else None,
        request_id=state.get("request_id"),
    )


def _object_id(scope: HTTPScope, state: dict[str, Any], status: int, start: HTTPResponseStartEvent | None) -> str | None:
    object_id = state.get("audit_object_id")
    if object_id is None and (path_params := scope.get("path_params")):
        object_id = str(next(iter(path_params.values())))
    if object_id is None and 200 <= status < 300 and (location := _location(start)):
        object_id = location.rstrip("/").rsplit("/", 1)[-1]
    return str(object_id)[:64] if object_id is not None else None


#: (actor type, actor id, merchant, route template, method, status) -> what every entry of that request shape shares:
#: the row's values before ``object_id`` and from ``method`` to ``status_code``, and whether it is
#: a security event. Worked out once by ``_entry``; emptied at ``_MAX_HEADS``.
_HEADS: dict[tuple[str, str, str | None, str, str, int], tuple[Row, Row, bool]] = {}
_MAX_HEADS = 10_000
_OBJECT_ID = COLUMNS.index("object_id")
_REMOTE_ADDR = COLUMNS.index("remote_addr")
assert COLUMNS[_REMOTE_ADDR:] == ("remote_addr", "request_id"), COLUMNS  # the two last, as ``_row`` appends them


def _row(scope: HTTPScope, status: int, start: HTTPResponseStartEvent | None) -> tuple[Row, bool]:
    """The entry's row (``engine.audit.row_of(_entry(...))``) and whether it is a security event.

    An authenticated request's row is its shape's cached head and tail around the three values
    that differ from one request to the next (the object id, the client address, the request id):
    every read of a payment is audited."""
    state = scope["state"]
    principal: Principal | None = state.get("principal")
    if principal is None or "audit_merchant_id" in state:
        entry = _entry(scope, status, start)
        return row_of(entry), is_security_event(entry)
    # The principal's identity as text (hashed in C, unlike the dataclass and its UUID).
    key = (principal.actor_type, principal.actor_id, principal.merchant_label, scope.get("path_template") or scope["path"], scope["method"], status)
    shape = _HEADS.get(key)
    if shape is None:
        entry = _entry(scope, status, start)
        row = row_of(entry)
        if len(_HEADS) >= _MAX_HEADS:
            _HEADS.clear()
        shape = _HEADS[key] = (row[:_OBJECT_ID], row[_OBJECT_ID + 1:_REMOTE_ADDR], is_security_event(entry))
    head, middle, security = shape
    client = scope.get("client")
    return (*head, _object_id(scope, state, status, start), *middle, client[0][:64] if client else None, state.get("request_id")), security


def _location(start: HTTPResponseStartEvent | None) -> str | None:
    for name, value in start.get("headers", ()) if start is not None else ():
        if name.lower() == b"location":
            return value.decode("latin-1")
    return None


async def audit_request(scope: HTTPScope, status: int, start: HTTPResponseStartEvent | None) -> None:
    """After a request under ``/v1`` or ``/dashboard`` was answered (``start``: its ``http.response.start``, None
    if none was sent), called by ``api.middleware.api_middleware``: record what this module audits."""
    writer = app_state(scope["app"]).audit
    probe = await _cross_tenant_probe(scope) if status == 404 and scope.get("path_params") else None
    if probe is not None:
        await writer.record_durably(probe)
    elif _audited(scope, status):
        row, security = _row(scope, status, start)
        if security:
            await writer.record_row_durably(row)
        else:
            writer.record_row(row)


def _audited(scope: HTTPScope, status: int) -> bool:
    method = scope["method"]
    if method in _AUDITED_METHODS or status in _AUDITED_STATUSES:
        return True
    template = scope.get("path_template") or scope["path"]
    return method == "GET" and template.startswith(_CARDHOLDER_DATA_PREFIXES)


async def _cross_tenant_probe(scope: HTTPScope) -> AuditEntry | None:
    """For a 404 on an object route: the probe entry if the id exists under another merchant.

    Charged to the owning merchant (who sees who looked for its object); admins (no scope) and
    unauthenticated callers are never probes. One primary-key lookup, only on such a 404.
    """
    principal: Principal | None = scope.get("state", {}).get("principal")
    if principal is None or principal.scope is None:
        return None
    entry = _entry(scope, 404, None)
    if entry.object_id is None:
        return None
    try:
        async with app_state(scope["app"]).reads.connect() as conn:
            owner = await owning_merchant(conn, entry.object_type, entry.object_id)
    except Exception as exc:  # noqa: BLE001 - the answer is sent; an unknown owner is no probe to record
        log.warning("cross-tenant probe check failed: %s", type(exc).__name__)
        return None
    if owner is None or owner == principal.scope:
        return None
    return dataclasses.replace(entry, action="cross_tenant_probe", outcome="denied", merchant_id=owner)


class AuditLogView(msgspec.Struct, kw_only=True):
    id: int
    object: str
    actor_type: str
    actor_id: str | None
    merchant_id: str | None
    action: str
    object_type: str | None
    object_id: str | None
    method: str | None
    route: str | None
    status_code: int | None
    outcome: str
    remote_addr: str | None
    request_id: str | None
    created_at: dt.datetime


class AuditLogList(msgspec.Struct, kw_only=True):
    object: str
    data: list[AuditLogView]
    has_more: bool


def _view(row: Any) -> AuditLogView:
    return AuditLogView(
        id=row.id,
        object="audit_log",
        actor_type=row.actor_type,
        actor_id=row.actor_id,
        merchant_id=str(row.merchant_id) if row.merchant_id else None,
        action=row.action,
        object_type=row.object_type,
        object_id=row.object_id,
        method=row.method,
        route=row.route,
        status_code=row.status_code,
        outcome=row.outcome,
        remote_addr=row.remote_addr,
        request_id=row.request_id,
        created_at=row.created_at,
    )


class AuditLogController(Controller):
    path = "/v1/audit-logs"
    tags = ["audit"]

    @get(
        "/",
        summary="List audit log entries, newest first",
        description="Keyset pagination on `id` (`starting_after`). Merchants see their own merchant's entries; admins every merchant's.",
        opt={"permission": Permission.AUDIT_READ},
        responses=problem_responses(401, 403, 404, 422, 429),
    )
    async def list_audit_logs(
        self,
        easypay: NamedDependency[AppState],
        principal: NamedDependency[Principal],
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 20,
        starting_after: Annotated[int | None, QueryParameter(ge=1, description="An entry id: the page after it.")] = None,
        merchant_id: Annotated[str | None, id_query("Admins: one merchant's entries.")] = None,
        actor_id: Annotated[str | None, QueryParameter(max_length=254)] = None,
        action: Annotated[str | None, QueryParameter(max_length=64)] = None,
        object_type: Annotated[str | None, QueryParameter(max_length=32)] = None,
        object_id: Annotated[str | None, QueryParameter(max_length=64)] = None,
        outcome: Annotated[str | None, QueryParameter(description="success, failure or denied", schema_extra={"enum": list(AUDIT_OUTCOMES)})] = None,
        created_gte: Annotated[str | None, time_query()] = None,
        created_lt: Annotated[str | None, time_query()] = None,
    ) -> AuditLogList:
        merchant_uuid = requested_merchant(principal, merchant_id) if merchant_id is not None else None
        if outcome is not None and outcome not in AUDIT_OUTCOMES:
            raise validation_problem([FieldProblem("outcome", "Must be success, failure or denied.")])
        gte, lt = parse_time("created_gte", created_gte), parse_time("created_lt", created_lt)
        # This process's own recent entries are written now (with a read replica they show once
        # it has replayed them, within DATABASE_READ_MAX_LAG_S).
        await easypay.audit.flush()

        async def fetch_page(conn: AsyncConnection) -> Page[Any]:
            return await list_audit_logs(
                conn,
                scope=principal.scope,
                limit=limit,
                starting_after=starting_after,
                merchant_id=merchant_uuid,
                actor_id=actor_id,
                action=action,
                object_type=object_type,
                object_id=object_id,
                outcome=outcome,
                created_gte=gte,
                created_lt=lt,
            )

        page = await easypay.read_router.read(fetch_page, actor=reader(principal))
        return list_envelope(AuditLogList, page.map(_view))
