"""``/v1/webhook-endpoints``: endpoint management, deliveries, recovery and secret rotation.

Everything is scoped to the caller's merchant (another merchant's object is a 404). Signing
secrets are returned by creation and rotation only; an idempotent replay of those responses is
served from a copy sealed at rest, never stored in the clear.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody, QueryParameter
from sqlalchemy.ext.asyncio import AsyncConnection

from api.audit import note
from api.bodies import decode_optional
from api.idempotent import Answer, IdempotencyKey, Work, run_idempotent
from api.ids import id_query, path_id, query_id
from api.schemas import URL_SCHEMA
from api.problems import FieldProblem, Problem, problem_responses, validation_problem
from api.responses import list_envelope
from api.state import AppState
from api.tenancy import list_scope, target_merchant
from api.timeparams import parse_time
from engine.auth import Principal
from engine.db import webhook_deliveries as delivery_repo
from engine.db import webhook_endpoints as repo
from engine.permissions import Permission
from engine.sealing import SecretBox
from engine.webhooks import endpoints as cases
from engine.webhooks.addresses import check_url, is_blocked, literal_ip, parse_networks
from engine.webhooks.views import (
    DELIVERY_STATUSES,
    WebhookDeliveryList,
    WebhookEndpointList,
    WebhookEndpointView,
    WebhookEndpointWithSecret,
    delivery_view,
    endpoint_view,
    endpoint_with_secret,
)

_encoder = msgspec.json.Encoder()
#: How far back a bulk recovery may reach.
MAX_RECOVERY_WINDOW = dt.timedelta(days=30)
MAX_RECOVERED = 10_000
ATTEMPTS_SHOWN = 20


class WebhookEndpointCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    url: Annotated[str, msgspec.Meta(min_length=1, max_length=2048, examples=["https://example.com/hooks"], extra_json_schema=URL_SCHEMA)]
    events: Annotated[list[str], msgspec.Meta(description='Event types, or ["*"] for all.')]
    description: Annotated[str, msgspec.Meta(max_length=500)] | None = None
    #: Admins only: the merchant the endpoint is for (required with admin credentials).
    merchant_id: str | None = None


class WebhookEndpointUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    url: Annotated[str, msgspec.Meta(min_length=1, max_length=2048, examples=["https://example.com/hooks"], extra_json_schema=URL_SCHEMA)] | None = None
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


class Recovery(msgspec.Struct, kw_only=True):
    object: Literal["recovery"] = "recovery"
    endpoint_id: str
    since: dt.datetime
    until: dt.datetime | None
    #: Failed deliveries given a new round of attempts.
    deliveries: int


class DeletedEndpoint(msgspec.Struct, kw_only=True):
    id: str
    object: Literal["webhook_endpoint"] = "webhook_endpoint"
    deleted: bool = True


def _endpoint_not_found() -> Problem:
    return Problem(404, "webhook_endpoint_not_found", "No such webhook endpoint.")


def _box(state: AppState) -> SecretBox:
    return SecretBox(state.settings.secret_key, previous=state.settings.previous_secret_keys)


def _check_url(state: AppState, url: str) -> None:
    cfg = state.settings.webhooks
    check_url(url, allow_http=cfg.allow_http)  # ``UnsafeUrl``: a 422 on ``url`` (``api.problems.ENGINE_PROBLEMS``)
    ip = literal_ip(url)
    if ip is not None and is_blocked(ip, parse_networks(cfg.allowed_networks)):
        raise validation_problem([FieldProblem("url", "Must not point to a private, loopback or reserved address.")])


def _check_events(types: list[str]) -> None:
    message = cases.check_event_types(types)
    if message:
        raise validation_problem([FieldProblem("events", message)])


async def switch_endpoint(conn: AsyncConnection, row: Any, *, enabled: bool) -> Any:
    """Enable (forgetting the failure streak) or disable by hand (its pending deliveries marked
    failed) an endpoint locked ``FOR UPDATE``; its row as it now is (unchanged if already so)."""
    if enabled and not row.enabled:
        return await cases.enable(conn, row.id)
    if not enabled and row.enabled:
        return await cases.disable(conn, row.id, reason="manual", announce=False)
    return row


async def rotate_endpoint_secret(state: AppState, conn: AsyncConnection, row: Any, *, grace_s: int | None) -> tuple[Any, str]:
    """A new signing secret for an endpoint locked ``FOR UPDATE``, the current one signing too for
    ``grace_s`` (default: the configured grace); the row as it now is and the new secret."""
    grace_s = state.settings.webhooks.rotation_grace_s if grace_s is None else grace_s
    return await cases.rotate_secret(conn, _box(state), row, grace_s=grace_s)


def check_recovery_window(since: dt.datetime, until: dt.datetime | None, *, now: dt.datetime) -> None:
    """422 unless ``since`` is within the last 30 days and ``until`` (if given) after it."""
    if since < now - MAX_RECOVERY_WINDOW or since > now:
        raise validation_problem([FieldProblem("since", "Must be within the last 30 days.")])
    if until is not None and until <= since:
        raise validation_problem([FieldProblem("until", "Must be after since.")])


def recover_work(request: Request[Any, Any, Any], principal: Principal, eid: Any, since: dt.datetime, until: dt.datetime | None) -> Work:
    """Recovery: the endpoint's failed deliveries of events created in [since, until) get a new
    round of attempts (404 for another merchant's endpoint, 409 while it is disabled); answers 202."""

    async def work(conn: AsyncConnection) -> Answer:
        endpoint = await repo.get_endpoint(conn, eid, merchant_id=principal.scope)
        if endpoint is None:
            raise _endpoint_not_found()
        note(request, merchant_id=endpoint.merchant_id)
        if not endpoint.enabled:
            raise Problem(409, "webhook_endpoint_disabled", "The endpoint is disabled; enable it first.")
        count = await delivery_repo.recover_failed(conn, endpoint_id=eid, since=since, until=until, limit=MAX_RECOVERED)
        return Answer(202, _encoder.encode(Recovery(endpoint_id=str(eid), since=since, until=until, deliveries=count)))

    return work


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
        easypay: NamedDependency[AppState],
        data: JSONBody[WebhookEndpointCreate],
        principal: NamedDependency[Principal],
        idempotency_key: IdempotencyKey = None,
    ) -> Response[bytes]:
        _check_url(easypay, data.url)
        _check_events(data.events)
        merchant_id = await target_merchant(easypay, principal, data.merchant_id, what="the endpoint is for")
        note(request, merchant_id=merchant_id)

        async def work(conn: AsyncConnection) -> Answer:
            row, secret = await cases.create_endpoint(
                conn,
                _box(easypay),
                merchant_id=merchant_id,
                url=data.url,
                event_types=data.events,
                description=data.description,
            )
            return Answer(201, _encoder.encode(endpoint_with_secret(row, secret)))

        return await run_idempotent(request, easypay, principal, idempotency_key, work, sealed=True)

    @get("/", summary="List webhook endpoints", opt={"permission": Permission.WEBHOOKS_READ}, responses=problem_responses(401, 403, 404, 422, 429))
    async def list_endpoints(
        self,
        easypay: NamedDependency[AppState],
        principal: NamedDependency[Principal],
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 20,
        starting_after: Annotated[str | None, id_query("An endpoint id: the page after it.")] = None,
        merchant_id: Annotated[str | None, id_query("Admins: one merchant's endpoints.")] = None,
    ) -> WebhookEndpointList:
        scope = list_scope(principal, merchant_id)
        cursor = query_id("starting_after", starting_after, "an endpoint id")
        async with easypay.engine.connect() as conn:
            try:
                page = await repo.list_endpoints(conn, scope, limit=limit, starting_after=cursor)
            except repo.EndpointNotFound:
                raise validation_problem([FieldProblem("starting_after", "No such webhook endpoint.")]) from None
        return list_envelope(WebhookEndpointList, page.map(endpoint_view))

    @get(
        "/{endpoint_id:str}",
        summary="Retrieve a webhook endpoint",
        opt={"permission": Permission.WEBHOOKS_READ},
        responses=problem_responses(401, 403, 404, 429),
    )
    async def get_endpoint(
        self, easypay: NamedDependency[AppState], endpoint_id: FromPath[str], principal: NamedDependency[Principal]
    ) -> WebhookEndpointView:
        async with easypay.engine.connect() as conn:
            row = await repo.get_endpoint(conn, path_id(endpoint_id, _endpoint_not_found()), merchant_id=principal.scope)
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
        easypay: NamedDependency[AppState],
        endpoint_id: FromPath[str],
        data: JSONBody[WebhookEndpointUpdate],
        principal: NamedDependency[Principal],
    ) -> WebhookEndpointView:
        eid = path_id(endpoint_id, _endpoint_not_found())
        if data.url is not None:
            _check_url(easypay, data.url)
        if data.events is not None:
            _check_events(data.events)
        async with easypay.engine.begin() as conn:
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
            if data.enabled is not None:
                row = await switch_endpoint(conn, row, enabled=data.enabled)
        return endpoint_view(row)

    @delete(
        "/{endpoint_id:str}",
        status_code=200,
        summary="Delete a webhook endpoint (and its delivery history)",
        opt={"permission": Permission.WEBHOOKS_MANAGE},
        responses=problem_responses(401, 403, 404, 429),
    )
    async def delete_endpoint(
        self, request: Request[Any, Any, Any], easypay: NamedDependency[AppState], endpoint_id: FromPath[str], principal: NamedDependency[Principal]
    ) -> DeletedEndpoint:
        eid = path_id(endpoint_id, _endpoint_not_found())
        async with easypay.engine.begin() as conn:
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
        easypay: NamedDependency[AppState],
        endpoint_id: FromPath[str],
        principal: NamedDependency[Principal],
        idempotency_key: IdempotencyKey = None,
    ) -> Response[bytes]:
        eid = path_id(endpoint_id, _endpoint_not_found())
        data: RotateSecret = decode_optional(await request.body(), RotateSecret)

        async def work(conn: AsyncConnection) -> Answer:
            row = await repo.get_endpoint(conn, eid, merchant_id=principal.scope, for_update=True)
            if row is None:
                raise _endpoint_not_found()
            note(request, merchant_id=row.merchant_id)
            row, secret = await rotate_endpoint_secret(easypay, conn, row, grace_s=data.grace_period_s)
            return Answer(200, _encoder.encode(endpoint_with_secret(row, secret)))

        return await run_idempotent(request, easypay, principal, idempotency_key, work, sealed=True)

    @get(
        "/{endpoint_id:str}/deliveries",
        summary="Deliveries to this endpoint with their attempts, newest first",
        opt={"permission": Permission.WEBHOOKS_READ},
        responses=problem_responses(401, 403, 404, 422, 429),
    )
    async def list_deliveries(
        self,
        easypay: NamedDependency[AppState],
        endpoint_id: FromPath[str],
        principal: NamedDependency[Principal],
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 20,
        starting_after: Annotated[str | None, id_query("A delivery id: the page after it.")] = None,
        status: Annotated[
            str | None, QueryParameter(description="pending, succeeded or failed", schema_extra={"enum": list(DELIVERY_STATUSES)})
        ] = None,
    ) -> WebhookDeliveryList:
        eid = path_id(endpoint_id, _endpoint_not_found())
        if status is not None and status not in DELIVERY_STATUSES:
            raise validation_problem([FieldProblem("status", "Must be pending, succeeded or failed.")])
        cursor = query_id("starting_after", starting_after, "a delivery id")
        async with easypay.engine.connect() as conn:
            if await repo.get_endpoint(conn, eid, merchant_id=principal.scope) is None:
                raise _endpoint_not_found()
            try:
                page = await delivery_repo.list_deliveries(conn, eid, limit=limit, starting_after=cursor, status=status)
            except LookupError:
                raise validation_problem([FieldProblem("starting_after", "No such delivery.")]) from None
            attempts = await delivery_repo.attempts_of(conn, [r.id for r in page.items], per_delivery=ATTEMPTS_SHOWN)
        return list_envelope(WebhookDeliveryList, page.map(lambda r: delivery_view(r, attempts.get(r.id, []))))

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
        easypay: NamedDependency[AppState],
        endpoint_id: FromPath[str],
        data: JSONBody[Recover],
        principal: NamedDependency[Principal],
        idempotency_key: IdempotencyKey = None,
    ) -> Response[bytes]:
        eid = path_id(endpoint_id, _endpoint_not_found())
        since = parse_time("since", data.since)
        until = parse_time("until", data.until)
        assert since is not None
        check_recovery_window(since, until, now=dt.datetime.now(dt.timezone.utc))
        return await run_idempotent(request, easypay, principal, idempotency_key, recover_work(request, principal, eid, since, until))


def _present_fields(body: bytes) -> set[str]:
    """Which top-level keys a PATCH body names (so ``"description": null`` clears it)."""
    try:
        decoded = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return set()
    return set(decoded) if isinstance(decoded, dict) else set()



__all__ = ["WebhookEndpointController"]
