"""``/v1/events``: events as their stored bytes (what every webhook attempt sends), and resending one.

Everything is scoped to the caller's merchant (another merchant's event is a 404).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, QueryParameter
from sqlalchemy.ext.asyncio import AsyncConnection

from api.audit import note
from api.bodies import decode_optional
from api.idempotent import Answer, IdempotencyKey, Work, run_idempotent
from api.ids import id_query, path_id, query_id
from api.problems import FieldProblem, Problem, problem_responses, validation_problem
from api.read_your_writes import reader
from api.responses import list_envelope
from api.state import AppState
from api.tenancy import list_scope
from api.timeparams import parse_time, time_query
from engine.db import events as event_repo
from engine.auth import Principal
from engine.db import webhook_deliveries as repo
from engine.db import webhook_endpoints as endpoint_repo
from engine.events import PUBLIC_EVENT_TYPES, EventView
from engine.pages import Page
from engine.permissions import Permission

_encoder = msgspec.json.Encoder()
_JSON = "application/json"


class EventList(msgspec.Struct, kw_only=True):
    object: Literal["list"] = "list"
    data: list[EventView]
    has_more: bool


class Resend(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    #: Only this endpoint (default: every enabled endpoint subscribed to the event's type).
    endpoint_id: str | None = None


class ResentDelivery(msgspec.Struct, kw_only=True):
    id: str
    endpoint_id: str


class ResendResult(msgspec.Struct, kw_only=True):
    object: Literal["resend"] = "resend"
    event_id: str
    deliveries: list[ResentDelivery]


def _event_not_found() -> Problem:
    return Problem(404, "event_not_found", "No such event.")


def resend_work(request: Request[Any, Any, Any], principal: Principal, eid: uuid.UUID, endpoint_id: uuid.UUID | None) -> Work:
    """A new round of attempts for the event's deliveries (to every enabled endpoint subscribed to
    its type, or to ``endpoint_id`` only); answers 202 with the deliveries requeued."""

    async def work(conn: AsyncConnection) -> Answer:
        event = await event_repo.get_event(conn, eid, merchant_id=principal.scope)
        if event is None:
            raise _event_not_found()
        note(request, merchant_id=event.merchant_id)
        if endpoint_id is not None:
            endpoint = await endpoint_repo.get_endpoint(conn, endpoint_id, merchant_id=event.merchant_id)
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
        return Answer(202, _encoder.encode(result))

    return work


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
        easypay: NamedDependency[AppState],
        principal: NamedDependency[Principal],
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 20,
        starting_after: Annotated[str | None, id_query("An event id: the page after it.")] = None,
        type: Annotated[str | None, QueryParameter(description="One event type.", schema_extra={"enum": sorted(PUBLIC_EVENT_TYPES)})] = None,
        object_id: Annotated[
            str | None, id_query("Only events about this payment or refund (its id).")
        ] = None,
        created_gte: Annotated[str | None, time_query()] = None,
        created_lt: Annotated[str | None, time_query()] = None,
        merchant_id: Annotated[str | None, id_query("Admins: one merchant's events.")] = None,
    ) -> Response[bytes]:
        scope = list_scope(principal, merchant_id)
        if type is not None and type not in PUBLIC_EVENT_TYPES:
            raise validation_problem([FieldProblem("type", f"Unknown event type {type!r}.")])
        cursor = query_id("starting_after", starting_after, "an event id")
        about = query_id("object_id", object_id, "a payment or refund id")
        gte = parse_time("created_gte", created_gte)
        lt = parse_time("created_lt", created_lt)

        async def fetch_page(conn: AsyncConnection) -> Page[Any]:
            return await event_repo.list_events(
                conn, scope, limit=limit, starting_after=cursor, type=type, object_id=about,
                created_gte=gte, created_lt=lt,
            )

        try:
            page = await easypay.read_router.read(fetch_page, actor=reader(principal))
        except event_repo.EventNotFound:
            raise validation_problem([FieldProblem("starting_after", "No such event.")]) from None
        # The stored bytes, as every webhook attempt sends them (``Raw``: copied in, not decoded).
        body = _encoder.encode(list_envelope(EventList, page.map(lambda row: msgspec.Raw(row.body))))
        return Response(body, media_type=_JSON)

    @get(
        "/{event_id:str}",
        summary="Retrieve an event",
        opt={"permission": Permission.PAYMENTS_READ},
        responses={200: ResponseSpec(data_container=EventView, generate_examples=False), **problem_responses(401, 403, 404, 429)},
    )
    async def get_event(
        self, easypay: NamedDependency[AppState], event_id: FromPath[str], principal: NamedDependency[Principal]
    ) -> Response[bytes]:
        eid = path_id(event_id, _event_not_found())

        async def fetch(conn: AsyncConnection) -> Any:
            return await event_repo.get_event(conn, eid, merchant_id=principal.scope)

        # An event a webhook just delivered may not be on the replica yet: missing there, ask the primary.
        row = await easypay.read_router.read(fetch, actor=reader(principal), missing=lambda found: found is None)
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
        easypay: NamedDependency[AppState],
        event_id: FromPath[str],
        principal: NamedDependency[Principal],
        idempotency_key: IdempotencyKey = None,
    ) -> Response[bytes]:
        eid = path_id(event_id, _event_not_found())
        data: Resend = decode_optional(await request.body(), Resend)
        endpoint_id = None
        if data.endpoint_id is not None:
            endpoint_id = path_id(data.endpoint_id, validation_problem([FieldProblem("endpoint_id", "No such webhook endpoint.")]))

        return await run_idempotent(request, easypay, principal, idempotency_key, resend_work(request, principal, eid, endpoint_id))


__all__ = ["EventController", "resend_work"]
