"""``/v1/events`` and ``/v1/webhook-endpoints``: events as stored bytes; endpoint management.

Everything is scoped to the caller's merchant (another merchant's object is a 404). Signing
secrets are returned by creation and rotation only; an idempotent replay of those responses is
served from a copy sealed at rest, never stored in the clear.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Awaitable, Callable, Literal

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, HeaderParameter, JSONBody, QueryParameter
from sqlalchemy.ext.asyncio import AsyncConnection

from api.timeparams import parse_time
from api.bodies import decode_strict
from api.problems import FieldProblem, Problem, problem_responses, validation_problem
from api.audit import note
from api.state import AppState
from api.tenancy import idempotency_owner, list_scope, target_merchant
from engine import events as event_repo
from engine import idempotency
from engine.auth import Principal
from engine.db import webhooks as repo
from engine.events import EVENT_TYPES, EventView
from engine.permissions import Permission
from engine.webhooks import endpoints as cases
from engine.webhooks.addresses import UnsafeUrl, check_url, is_blocked, literal_ip, parse_networks
from engine.webhooks.secretbox import SecretBox
from engine.webhooks.views import (
    WebhookDeliveryList,
    WebhookEndpointList,
    WebhookEndpointView,
    WebhookEndpointWithSecret,
    delivery_view,
    endpoint_view,
    endpoint_with_secret,
)

_encoder = msgspec.json.Encoder()
_JSON = "application/json"
IdempotencyKey = Annotated[str | None, HeaderParameter(name="Idempotency-Key", max_length=255, required=False)]
#: How far back a bulk recovery may reach.
MAX_RECOVERY_WINDOW = dt.timedelta(days=30)
MAX_RECOVERED = 10_000
ATTEMPTS_SHOWN = 20


class EventList(msgspec.Struct, kw_only=True):
    object: Literal["list"] = "list"
    data: list[EventView]
    has_more: bool


class WebhookEndpointCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    url: Annotated[str, msgspec.Meta(min_length=1, max_length=2048)]
    events: Annotated[list[str], msgspec.Meta(description='Event types, or ["*"] for all.')]
    description: Annotated[str, msgspec.Meta(max_length=500)] | None = None
    #: Admins only: the merchant the endpoint is for (required with admin credentials).
    merchant_id: str | None = None


class WebhookEndpointUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    url: Annotated[str, msgspec.Meta(min_length=1, max_length=2048)] | None = None
    events: list[str] | None = None
    description: Annotated[str, msgspec.Meta(max_length=500)] | None = None
    #: false disables (reason ``manual``); true re-enables and forgets the failure streak.
    enabled: bool | None = None


class RotateSecret(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    #: How long the current secret keeps signing beside the new one (default WEBHOOK_ROTATION_GRACE_S).
    grace_period_s: Annotated[int, msgspec.Meta(ge=0, le=7 * 86_400)] | None = None


class Recover(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    since: Annotated[str, msgspec.Meta(description="RFC 3339 or Unix seconds; at most 30 days ago.")]
    until: str | None = None


class Resend(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    #: Only this endpoint (default: every enabled endpoint subscribed to the event's type).
    endpoint_id: str | None = None


class Recovery(msgspec.Struct, kw_only=True):
    object: Literal["recovery"] = "recovery"
    endpoint_id: str
    since: dt.datetime
    until: dt.datetime | None
    #: Failed deliveries given a new round of attempts.
    deliveries: int


class ResentDelivery(msgspec.Struct, kw_only=True):
    id: str
    endpoint_id: str


class ResendResult(msgspec.Struct, kw_only=True):
    object: Literal["resend"] = "resend"
    event_id: str
    deliveries: list[ResentDelivery]


class DeletedEndpoint(msgspec.Struct, kw_only=True):
    id: str
    object: Literal["webhook_endpoint"] = "webhook_endpoint"
    deleted: bool = True


def _uuid(raw: str, not_found: Problem) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise not_found from None


def _endpoint_not_found() -> Problem:
    return Problem(404, "webhook_endpoint_not_found", "No such webhook endpoint.")


def _event_not_found() -> Problem:
    return Problem(404, "event_not_found", "No such event.")


def _decode(body: bytes, type_: type[Any]) -> Any:
    """Optional JSON bodies (rotate, resend): empty means defaults."""
    if not body.strip():
        return type_()
    return decode_strict(body, type_)


def _box(state: AppState) -> SecretBox:
    return SecretBox(state.settings.secret_key)


def _check_url(state: AppState, url: str) -> None:
    cfg = state.settings.webhooks
    try:
        check_url(url, allow_http=cfg.allow_http)
    except UnsafeUrl as exc:
        raise validation_problem([FieldProblem("url", str(exc))]) from None
    ip = literal_ip(url)
    if ip is not None and is_blocked(ip, parse_networks(cfg.allowed_networks)):
        raise validation_problem([FieldProblem("url", "Must not point to a private, loopback or reserved address.")])


def _check_events(types: list[str]) -> None:
    message = cases.check_event_types(types)
    if message:
        raise validation_problem([FieldProblem("events", message)])


async def _idempotent(
    request: Request[Any, Any, Any],
    principal: Principal,
    key: str | None,
    work: Callable[[AsyncConnection], Awaitable[tuple[int, bytes]]],
    *,
    sealed: bool = False,
) -> Response[bytes]:
    """Run ``work`` in one transaction; with a key, store (or replay) its response like payments do.

    ``sealed`` responses (they carry a signing secret) are stored encrypted.
    """
    state: AppState = request.app.state.easypay
    owner = idempotency_owner(principal)
    context = f"idempotency:{owner}:{key}"
    request_hash = (
        idempotency.request_fingerprint(state.pepper, request.method, request.url.path, await request.body()) if key else b""
    )
    async with state.engine.begin() as conn:
        if key:
            stored = await idempotency.claim(conn, merchant_id=owner, key=key, request_hash=request_hash)
            if stored is not None:
                body = _box(state).open(stored.body.decode(), context=context).encode() if sealed else stored.body
                return Response(body, status_code=stored.status, media_type=_JSON, headers={"Idempotent-Replayed": "true"})
        status, body = await work(conn)
        if key:
            kept = _box(state).seal(body.decode(), context=context).encode() if sealed else body
            await idempotency.store(
                conn,
                merchant_id=owner,
                key=key,
                response=idempotency.StoredResponse(status=status, body=kept, location=None),
            )
    return Response(body, status_code=status, media_type=_JSON)


class EventController(Controller):
    path = "/v1/events"
    tags = ["events"]

    @get(
        "/",
        summary="List events, newest first",
        opt={"permission": Permission.PAYMENTS_READ},
        responses={200: ResponseSpec(data_container=EventList, generate_examples=False), **problem_responses(401, 403, 404, 422, 429)},
    )
    async def list_events(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 20,
        starting_after: Annotated[str | None, QueryParameter(description="An event id: the page after it.")] = None,
        type: Annotated[str | None, QueryParameter(description="One event type.")] = None,
        object_id: Annotated[
            str | None, QueryParameter(description="Only events about this payment or refund (its id).")
        ] = None,
        created_gte: Annotated[str | None, QueryParameter(description="RFC 3339 or Unix seconds.")] = None,
        created_lt: Annotated[str | None, QueryParameter(description="RFC 3339 or Unix seconds.")] = None,
        merchant_id: Annotated[str | None, QueryParameter(description="Admins: one merchant's events.")] = None,
    ) -> Response[bytes]:
        state: AppState = request.app.state.easypay
        scope = list_scope(principal, merchant_id)
        if type is not None and type not in EVENT_TYPES:
            raise validation_problem([FieldProblem("type", f"Unknown event type {type!r}.")])
        cursor = None
        if starting_after is not None:
            try:
                cursor = uuid.UUID(starting_after)
            except ValueError:
                raise validation_problem([FieldProblem("starting_after", "Must be an event id.")]) from None
        about = None
        if object_id is not None:
            try:
                about = uuid.UUID(object_id)
            except ValueError:
                raise validation_problem([FieldProblem("object_id", "Must be a payment or refund id.")]) from None
        gte = parse_time("created_gte", created_gte)
        lt = parse_time("created_lt", created_lt)
        async with state.reads.connect() as conn:
            try:
                rows, has_more = await event_repo.list_events(
                    conn, scope, limit=limit, starting_after=cursor, type=type, object_id=about,
                    created_gte=gte, created_lt=lt,
                )
            except event_repo.EventNotFound:
                raise validation_problem([FieldProblem("starting_after", "No such event.")]) from None
        # The stored bytes, as every webhook attempt sends them.
        body = b'{"object":"list","data":[' + b",".join(row.body for row in rows) + b'],"has_more":'
        body += b"true}" if has_more else b"false}"
        return Response(body, media_type=_JSON)

    @get(
        "/{event_id:str}",
        summary="Retrieve an event",
        opt={"permission": Permission.PAYMENTS_READ},
        responses={200: ResponseSpec(data_container=EventView, generate_examples=False), **problem_responses(401, 403, 404, 429)},
    )
    async def get_event(
        self, request: Request[Any, Any, Any], event_id: FromPath[str], principal: NamedDependency[Principal]
    ) -> Response[bytes]:
        state: AppState = request.app.state.easypay
        eid = _uuid(event_id, _event_not_found())
        async with state.reads.connect() as conn:
            row = await event_repo.get_event(conn, eid, merchant_id=principal.scope)
        if row is None:
            raise _event_not_found()
        return Response(row.body, media_type=_JSON)

    @post(
        "/{event_id:str}/resend",
        status_code=202,
        summary="Send an event again to its endpoints",
        description="Starts a new round of attempts (same `webhook-id`) for every enabled endpoint subscribed "
        "to the event's type, or for `endpoint_id` only.",
        opt={"permission": Permission.WEBHOOKS_RESEND},
        responses={202: ResponseSpec(data_container=ResendResult, generate_examples=False), **problem_responses(401, 403, 404, 409, 422, 429)},
    )
    async def resend(
        self,
        request: Request[Any, Any, Any],
        event_id: FromPath[str],
        principal: NamedDependency[Principal],
        idempotency_key: IdempotencyKey = None,
    ) -> Response[bytes]:
        eid = _uuid(event_id, _event_not_found())
        data: Resend = _decode(await request.body(), Resend)
        endpoint_id = None
        if data.endpoint_id is not None:
            endpoint_id = _uuid(data.endpoint_id, validation_problem([FieldProblem("endpoint_id", "No such webhook endpoint.")]))

        async def work(conn: AsyncConnection) -> tuple[int, bytes]:
            event = await event_repo.get_event(conn, eid, merchant_id=principal.scope)
            if event is None:
                raise _event_not_found()
            note(request, merchant_id=event.merchant_id)
            if endpoint_id is not None:
                endpoint = await repo.get_endpoint(conn, endpoint_id, merchant_id=event.merchant_id)
                if endpoint is None:
                    raise validation_problem([FieldProblem("endpoint_id", "No such webhook endpoint.")])
                if not endpoint.enabled:
                    raise Problem(409, "webhook_endpoint_disabled", "The endpoint is disabled; enable it first.")
            rows = await repo.requeue_for_event(
                conn, event_id=eid, merchant_id=event.merchant_id, event_type=event.type, endpoint_id=endpoint_id
            )
            if endpoint_id is not None and not rows:
                raise validation_problem([FieldProblem("endpoint_id", "The endpoint is not subscribed to this event type.")])
            result = ResendResult(
                event_id=str(eid), deliveries=[ResentDelivery(id=str(r.id), endpoint_id=str(r.endpoint_id)) for r in rows]
            )
            return 202, _encoder.encode(result)

        return await _idempotent(request, principal, idempotency_key, work)


class WebhookEndpointController(Controller):
    path = "/v1/webhook-endpoints"
    tags = ["webhooks"]

    @post(
        "/",
        status_code=201,
        summary="Create a webhook endpoint",
        description="The answer carries the signing `secret` (`whsec_…`); it is shown here and on rotation only.",
        opt={"permission": Permission.WEBHOOKS_MANAGE},
        responses={
            201: ResponseSpec(data_container=WebhookEndpointWithSecret, generate_examples=False),
            **problem_responses(400, 401, 403, 404, 409, 422, 429),
        },
    )
    async def create_endpoint(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[WebhookEndpointCreate],
        principal: NamedDependency[Principal],
        idempotency_key: IdempotencyKey = None,
    ) -> Response[bytes]:
        state: AppState = request.app.state.easypay
        _check_url(state, data.url)
        _check_events(data.events)
        merchant_id = await target_merchant(state, principal, data.merchant_id, what="the endpoint is for")
        note(request, merchant_id=merchant_id)

        async def work(conn: AsyncConnection) -> tuple[int, bytes]:
            row, secret = await cases.create_endpoint(
                conn,
                _box(state),
                merchant_id=merchant_id,
                url=data.url,
                event_types=data.events,
                description=data.description,
            )
            return 201, _encoder.encode(endpoint_with_secret(row, secret))

        return await _idempotent(request, principal, idempotency_key, work, sealed=True)

    @get("/", summary="List webhook endpoints", opt={"permission": Permission.WEBHOOKS_READ}, responses=problem_responses(401, 403, 404, 422, 429))
    async def list_endpoints(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 20,
        starting_after: Annotated[str | None, QueryParameter(description="An endpoint id: the page after it.")] = None,
        merchant_id: Annotated[str | None, QueryParameter(description="Admins: one merchant's endpoints.")] = None,
    ) -> WebhookEndpointList:
        state: AppState = request.app.state.easypay
        scope = list_scope(principal, merchant_id)
        cursor = None
        if starting_after is not None:
            cursor = _uuid(starting_after, validation_problem([FieldProblem("starting_after", "Must be an endpoint id.")]))
        async with state.engine.connect() as conn:
            try:
                rows, has_more = await repo.list_endpoints(conn, scope, limit=limit, starting_after=cursor)
            except repo.EndpointNotFound:
                raise validation_problem([FieldProblem("starting_after", "No such webhook endpoint.")]) from None
        return WebhookEndpointList(data=[endpoint_view(r) for r in rows], has_more=has_more)

    @get(
        "/{endpoint_id:str}",
        summary="Retrieve a webhook endpoint",
        opt={"permission": Permission.WEBHOOKS_READ},
        responses=problem_responses(401, 403, 404, 429),
    )
    async def get_endpoint(
        self, request: Request[Any, Any, Any], endpoint_id: FromPath[str], principal: NamedDependency[Principal]
    ) -> WebhookEndpointView:
        state: AppState = request.app.state.easypay
        async with state.engine.connect() as conn:
            row = await repo.get_endpoint(conn, _uuid(endpoint_id, _endpoint_not_found()), merchant_id=principal.scope)
        if row is None:
            raise _endpoint_not_found()
        return endpoint_view(row)

    @patch(
        "/{endpoint_id:str}",
        summary="Change a webhook endpoint",
        description="Any of `url`, `events`, `description`, `enabled`. Disabling marks its pending deliveries "
        "failed (recoverable with `recover`); enabling forgets the failure streak.",
        opt={"permission": Permission.WEBHOOKS_MANAGE},
        responses=problem_responses(400, 401, 403, 404, 422, 429),
    )
    async def update_endpoint(
        self,
        request: Request[Any, Any, Any],
        endpoint_id: FromPath[str],
        data: JSONBody[WebhookEndpointUpdate],
        principal: NamedDependency[Principal],
    ) -> WebhookEndpointView:
        state: AppState = request.app.state.easypay
        eid = _uuid(endpoint_id, _endpoint_not_found())
        if data.url is not None:
            _check_url(state, data.url)
        if data.events is not None:
            _check_events(data.events)
        async with state.engine.begin() as conn:
            row = await repo.get_endpoint(conn, eid, merchant_id=principal.scope, for_update=True)
            if row is None:
                raise _endpoint_not_found()
            note(request, merchant_id=row.merchant_id)
            values: dict[str, Any] = {}
            if data.url is not None:
                values["url"] = data.url
            if data.events is not None:
                values["event_types"] = sorted(set(data.events))
            if "description" in _present_fields(await request.body()):
                values["description"] = data.description
            if values:
                row = await repo.update_endpoint(conn, eid, values)
            if data.enabled is True and not row.enabled:
                row = await cases.enable(conn, eid)
            elif data.enabled is False and row.enabled:
                row = await cases.disable(conn, eid, reason="manual", announce=False)
        return endpoint_view(row)

    @delete(
        "/{endpoint_id:str}",
        status_code=200,
        summary="Delete a webhook endpoint (and its delivery history)",
        opt={"permission": Permission.WEBHOOKS_MANAGE},
        responses=problem_responses(401, 403, 404, 429),
    )
    async def delete_endpoint(
        self, request: Request[Any, Any, Any], endpoint_id: FromPath[str], principal: NamedDependency[Principal]
    ) -> DeletedEndpoint:
        state: AppState = request.app.state.easypay
        eid = _uuid(endpoint_id, _endpoint_not_found())
        async with state.engine.begin() as conn:
            row = await repo.get_endpoint(conn, eid, merchant_id=principal.scope, for_update=True)
            if row is None or not await repo.delete_endpoint(conn, eid, merchant_id=row.merchant_id):
                raise _endpoint_not_found()
        note(request, merchant_id=row.merchant_id)
        return DeletedEndpoint(id=str(eid))

    @post(
        "/{endpoint_id:str}/rotate-secret",
        status_code=200,
        summary="Rotate the signing secret",
        description="Returns the new `secret`. Deliveries are signed with both the new and the previous secret "
        "(two signatures in `webhook-signature`) for `grace_period_s` (default 24 h).",
        opt={"permission": Permission.WEBHOOKS_MANAGE},
        responses={
            200: ResponseSpec(data_container=WebhookEndpointWithSecret, generate_examples=False),
            **problem_responses(400, 401, 403, 404, 409, 422, 429),
        },
    )
    async def rotate_secret(
        self,
        request: Request[Any, Any, Any],
        endpoint_id: FromPath[str],
        principal: NamedDependency[Principal],
        idempotency_key: IdempotencyKey = None,
    ) -> Response[bytes]:
        state: AppState = request.app.state.easypay
        eid = _uuid(endpoint_id, _endpoint_not_found())
        data: RotateSecret = _decode(await request.body(), RotateSecret)
        grace_s = state.settings.webhooks.rotation_grace_s if data.grace_period_s is None else data.grace_period_s

        async def work(conn: AsyncConnection) -> tuple[int, bytes]:
            row = await repo.get_endpoint(conn, eid, merchant_id=principal.scope, for_update=True)
            if row is None:
                raise _endpoint_not_found()
            note(request, merchant_id=row.merchant_id)
            row, secret = await cases.rotate_secret(conn, _box(state), row, grace_s=grace_s)
            return 200, _encoder.encode(endpoint_with_secret(row, secret))

        return await _idempotent(request, principal, idempotency_key, work, sealed=True)

    @get(
        "/{endpoint_id:str}/deliveries",
        summary="Deliveries to this endpoint with their attempts, newest first",
        opt={"permission": Permission.WEBHOOKS_READ},
        responses=problem_responses(401, 403, 404, 422, 429),
    )
    async def list_deliveries(
        self,
        request: Request[Any, Any, Any],
        endpoint_id: FromPath[str],
        principal: NamedDependency[Principal],
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 20,
        starting_after: Annotated[str | None, QueryParameter(description="A delivery id: the page after it.")] = None,
        status: Annotated[str | None, QueryParameter(description="pending, succeeded or failed")] = None,
    ) -> WebhookDeliveryList:
        state: AppState = request.app.state.easypay
        eid = _uuid(endpoint_id, _endpoint_not_found())
        if status is not None and status not in ("pending", "succeeded", "failed"):
            raise validation_problem([FieldProblem("status", "Must be pending, succeeded or failed.")])
        cursor = None
        if starting_after is not None:
            cursor = _uuid(starting_after, validation_problem([FieldProblem("starting_after", "Must be a delivery id.")]))
        async with state.engine.connect() as conn:
            if await repo.get_endpoint(conn, eid, merchant_id=principal.scope) is None:
                raise _endpoint_not_found()
            try:
                rows, has_more = await repo.list_deliveries(conn, eid, limit=limit, starting_after=cursor, status=status)
            except LookupError:
                raise validation_problem([FieldProblem("starting_after", "No such delivery.")]) from None
            attempts = await repo.attempts_of(conn, [r.id for r in rows], per_delivery=ATTEMPTS_SHOWN)
        return WebhookDeliveryList(data=[delivery_view(r, attempts.get(r.id, [])) for r in rows], has_more=has_more)

    @post(
        "/{endpoint_id:str}/recover",
        status_code=202,
        summary="Send again every failed delivery since a time",
        description="Failed (dead) deliveries of events created in [`since`, `until`) get a new round of attempts "
        f"(at most {MAX_RECOVERED} per call; `since` at most 30 days ago). The endpoint must be enabled.",
        opt={"permission": Permission.WEBHOOKS_RESEND},
        responses={202: ResponseSpec(data_container=Recovery, generate_examples=False), **problem_responses(400, 401, 403, 404, 409, 422, 429)},
    )
    async def recover(
        self,
        request: Request[Any, Any, Any],
        endpoint_id: FromPath[str],
        data: JSONBody[Recover],
        principal: NamedDependency[Principal],
        idempotency_key: IdempotencyKey = None,
    ) -> Response[bytes]:
        eid = _uuid(endpoint_id, _endpoint_not_found())
        since = parse_time("since", data.since)
        until = parse_time("until", data.until)
        now = dt.datetime.now(dt.timezone.utc)
        assert since is not None
        if since < now - MAX_RECOVERY_WINDOW or since > now:
            raise validation_problem([FieldProblem("since", "Must be within the last 30 days.")])
        if until is not None and until <= since:
            raise validation_problem([FieldProblem("until", "Must be after since.")])

        async def work(conn: AsyncConnection) -> tuple[int, bytes]:
            endpoint = await repo.get_endpoint(conn, eid, merchant_id=principal.scope)
            if endpoint is None:
                raise _endpoint_not_found()
            note(request, merchant_id=endpoint.merchant_id)
            if not endpoint.enabled:
                raise Problem(409, "webhook_endpoint_disabled", "The endpoint is disabled; enable it first.")
            count = await repo.recover_failed(conn, endpoint_id=eid, since=since, until=until, limit=MAX_RECOVERED)
            return 202, _encoder.encode(Recovery(endpoint_id=str(eid), since=since, until=until, deliveries=count))

        return await _idempotent(request, principal, idempotency_key, work)


def _present_fields(body: bytes) -> set[str]:
    """Which top-level keys a PATCH body names (so ``"description": null`` clears it)."""
    try:
        decoded = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return set()
    return set(decoded) if isinstance(decoded, dict) else set()


__all__ = ["EventController", "WebhookEndpointController"]
