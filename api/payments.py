"""``/v1/payments``: accept (record + enqueue, 202), read (cache first), list (keyset)."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import uuid
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, HeaderParameter, JSONBody, QueryParameter
from sqlalchemy.ext.asyncio import AsyncConnection

from api.ids import id_query, parse_id, path_id, query_id
from api.responses import JsonBytes, list_envelope
from api.problems import FieldProblem, Problem, problem_responses, validation_problem
from api.read_your_writes import reader
from api.schemas import CUSTOMER_ID_PATTERN, PaymentCreate
from api.state import AppState, app_state
from api.tenancy import idempotency_owner, list_scope, target_merchant
from api.audit import note
from api.timeparams import parse_time, time_query
from api.validation import validate_payment
from engine import idempotency
from engine.accept_batch import AcceptRequest
from engine.auth import Principal
from engine.db import payment_reads
from engine.db import payments as repo
from engine.permissions import Permission
from engine.logcontext import current_context, set_context
from engine.metrics import PAYMENTS_ACCEPTED
from engine.pages import Page
from engine.method_secrets import seal_method
from engine.payments import PaymentJob
from engine.states import PaymentStatus
from engine.views import PaymentList, PaymentView, payment_view

log = logging.getLogger(__name__)

MAX_WAIT_S = 30
_IN_FLIGHT = frozenset({PaymentStatus.PENDING.value, PaymentStatus.PROCESSING.value})
_encoder = msgspec.json.Encoder()


class _Progress(msgspec.Struct):
    status: str
    pending_operation: str | None = None

    def in_flight(self) -> bool:
        """Something the payment is waiting on: its charge, or a queued capture or void."""
        return self.status in _IN_FLIGHT or self.pending_operation is not None


#: Reads only what a long poll checks out of a payment object's JSON.
_progress_decoder = msgspec.json.Decoder(_Progress)


def _settled(progress: _Progress, known_status: str | None) -> bool:
    """Whether a long poll can answer now.

    Without ``status``: once nothing is in flight (a payment with its outcome answers at once).
    With the status the client already knows: once the payment has another status that is not in
    flight (a client that saw ``captured`` and queued a refund waits for the refund's outcome).
    """
    if progress.in_flight():
        return False
    return known_status is None or progress.status != known_status


def _not_found() -> Problem:
    return Problem(404, "payment_not_found", "No such payment.")


def _parse_id(payment_id: str) -> uuid.UUID:
    return path_id(payment_id, _not_found())


#: Where ``_snapshot_ahead`` leaves the payment id and its snapshot read (``scope["state"]``).
_AHEAD = "payment_snapshot_ahead"


def _snapshot_ahead(connection: ASGIConnection[Any, Any, Any, Any], state: AppState) -> None:
    """``read_ahead`` of ``GET /v1/payments/{id}`` (``api.auth``): its snapshot read starts in the
    rate-limit hit's round trip. Ownership is checked when the handler takes it (``_read``)."""
    raw = connection.scope["path_params"].get("payment_id", "")
    payment_id = parse_id(raw)
    if payment_id is not None:
        # The id's canonical text is ``raw`` in lower case (``parse_id`` took the 8-4-4-4-12 form only).
        connection.scope["state"][_AHEAD] = (payment_id, state.cache.read_soon(raw.lower()))


class PaymentController(Controller):
    path = "/v1/payments"
    tags = ["payments"]

    @post(
        "/",
        status_code=202,
        summary="Accept a payment",
        description="Validates, records the payment as `pending` and queues the charge. Answers 202 at once.",
        responses={
            202: ResponseSpec(data_container=PaymentView, description="Accepted: recorded and queued.", generate_examples=False),
            **problem_responses(400, 401, 403, 404, 409, 413, 422, 429, 503),
        },
        opt={"permission": Permission.PAYMENTS_WRITE},
    )
    async def create_payment(
        self,
        request: Request[Any, Any, Any],
        easypay: NamedDependency[AppState],
        data: JSONBody[PaymentCreate],
        principal: NamedDependency[Principal],
        idempotency_key: Annotated[
            str | None, HeaderParameter(name="Idempotency-Key", max_length=255, required=False)
        ] = None,
    ) -> JsonBytes:
        request_id = request.scope["state"].get("request_id")
        merchant_id = await target_merchant(easypay, principal, data.merchant_id, what="to charge for")
        note(request, merchant_id=merchant_id)
        validated = validate_payment(
            data,
            merchant_id=merchant_id,
            today=dt.datetime.now(dt.timezone.utc).date(),
            currencies=easypay.settings.processor.currencies,
        )
        if isinstance(validated, list):
            raise validation_problem(validated)
        new, method = validated
        payment_id = uuid.uuid4()
        set_context(payment_id=str(payment_id))
        sealed = seal_method(easypay.sealer, payment_id, method, ttl_s=easypay.settings.card_message_ttl_s)
        request_hash, *earlier_hashes = (
            idempotency.request_fingerprints(easypay.peppers, "POST", request.url.path, await request.body())
            if idempotency_key
            else (b"",)
        )
        job = PaymentJob(
            payment_id,
            sealed,
            request_id=request_id,
            context=current_context(),
            stash=(easypay.stash.key(payment_id), easypay.settings.card_message_ttl_s),
        )
        # ``QueueUnavailable`` (nothing recorded) answers 503 through ``api.problems.ENGINE_PROBLEMS``.
        answer = await easypay.acceptor.accept(
            AcceptRequest(
                new=new,
                payment_id=payment_id,
                job=job,
                request_id=request_id,
                idempotency_key=idempotency_key,
                request_hash=request_hash,
                earlier_hashes=tuple(earlier_hashes),
                idempotency_owner=idempotency_owner(principal),
            )
        )
        headers = {"Location": answer.location} if answer.location else {}
        if answer.replayed:
            headers["Idempotent-Replayed"] = "true"
        else:
            PAYMENTS_ACCEPTED.labels(method=new.payment_method_type).inc()
        return JsonBytes(answer.body, status_code=answer.status, headers=headers)

    @get(
        "/{payment_id:str}",
        summary="Retrieve a payment",
        responses={
            200: ResponseSpec(data_container=PaymentView, description="The payment.", generate_examples=False),
            **problem_responses(401, 403, 404, 422, 429),
        },
        opt={"permission": Permission.PAYMENTS_READ, "read_ahead": _snapshot_ahead},
    )
    async def get_payment(
        self,
        request: Request[Any, Any, Any],
        payment_id: FromPath[str],
        wait: Annotated[
            int,
            QueryParameter(
                ge=0,
                le=MAX_WAIT_S,
                description="Hold up to this many seconds while the payment has something in flight.",
            ),
        ] = 0,
        known_status: Annotated[
            str | None,
            QueryParameter(
                name="status",
                description="With `wait`: the status you already have; hold until it changes.",
                schema_extra={"enum": [s.value for s in PaymentStatus]},
            ),
        ] = None,
    ) -> JsonBytes:
        # The most frequent request resolves no dependency (``easypay`` and ``principal`` are two
        # resolutions and signature parses per request): what they would give, read directly.
        # ``access_guard`` left the principal (this route has a permission).
        easypay = app_state(request.app)
        principal: Principal = request.scope["state"]["principal"]
        ahead = request.scope["state"].pop(_AHEAD, None)  # (the id parsed from this path, its read)
        pid = ahead[0] if ahead is not None else _parse_id(payment_id)
        if known_status is not None and known_status not in PaymentStatus._value2member_map_:
            raise validation_problem([FieldProblem("status", f"Unknown status {known_status!r}.")])
        # The snapshot's JSON bytes are the answer, as stored: nothing is decoded to serve a poll.
        # A long poll waits for a change: every read of it is on the primary.
        body = await _read(easypay, pid, principal, fresh=wait > 0, early=ahead[1] if ahead is not None else None)
        if wait <= 0 or _settled(_progress_decoder.decode(body), known_status):
            return JsonBytes(body)
        # Over the credential's cap the answer is the current easypay at once, as with wait=0: a
        # long-poll may always end before the status changes, so every client already copes.
        holder = f"{principal.actor_type}:{principal.actor_id}"
        if not easypay.long_polls.try_acquire(holder):
            return JsonBytes(body)
        try:
            request.scope["state"]["long_poll"] = True  # counted, not timed (api/metrics.py)
            # The transient pending -> processing hop does not end the wait, so a client waiting on
            # a new payment is answered with its outcome.
            deadline = time.monotonic() + wait
            while (remaining := deadline - time.monotonic()) > 0:
                await easypay.notifier.wait(str(pid), remaining)
                body = await _read(easypay, pid, principal, fresh=True)
                if _settled(_progress_decoder.decode(body), known_status):
                    break
        finally:
            easypay.long_polls.release(holder)
        return JsonBytes(body)

    @get(
        "/",
        summary="List payments, newest first",
        description="Admins list every merchant's payments, or one merchant's with `merchant_id`.",
        responses={
            200: ResponseSpec(data_container=PaymentList, description="A page of payments.", generate_examples=False),
            **problem_responses(401, 403, 404, 422, 429),
        },
        opt={"permission": Permission.PAYMENTS_READ},
    )
    async def list_payments(
        self,
        easypay: NamedDependency[AppState],
        principal: NamedDependency[Principal],
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 20,
        starting_after: Annotated[str | None, id_query("A payment id: the page after it.")] = None,
        status: Annotated[str | None, QueryParameter(schema_extra={"enum": [s.value for s in PaymentStatus]})] = None,
        customer_id: Annotated[str | None, QueryParameter(min_length=1, max_length=20, pattern=CUSTOMER_ID_PATTERN)] = None,
        created_gte: Annotated[str | None, time_query()] = None,
        created_lt: Annotated[str | None, time_query()] = None,
        merchant_id: Annotated[str | None, id_query("Admins: one merchant's payments.")] = None,
    ) -> JsonBytes:
        scope = list_scope(principal, merchant_id)
        if status is not None and status not in PaymentStatus._value2member_map_:
            raise validation_problem([FieldProblem("status", f"Unknown status {status!r}.")])
        cursor = query_id("starting_after", starting_after, "a payment id")
        gte = parse_time("created_gte", created_gte)
        lt = parse_time("created_lt", created_lt)

        async def fetch_page(conn: AsyncConnection) -> Page[Any]:
            return await payment_reads.list_payments(
                conn,
                scope,
                limit=limit,
                starting_after=cursor,
                status=status,
                customer_id=customer_id,
                created_gte=gte,
                created_lt=lt,
            )

        try:
            page = await easypay.read_router.read(fetch_page, actor=reader(principal))
        except repo.PaymentNotFound:
            raise validation_problem([FieldProblem("starting_after", "No such payment.")]) from None
        return JsonBytes(_encoder.encode(list_envelope(PaymentList, page.map(payment_view))))


async def _read(
    state: AppState, payment_id: uuid.UUID, principal: Principal, *, fresh: bool, early: asyncio.Future[Any] | None = None
) -> bytes:
    """The payment object's JSON: the cached snapshot, else from PostgreSQL (then cached).

    ``early``: the snapshot read ``_snapshot_ahead`` started.

    ``fresh``: from the primary on a cache miss; else wherever ``read_router`` says. A row read
    on the replica is not cached: it may be older than the primary's, and the cache keeps what it
    is given until a newer version replaces it.
    """
    merchant_id = principal.scope
    cached = await state.cache.get_encoded(payment_id, merchant_id=merchant_id, early=early)
    if cached is not None:
        return cached

    async def fetch(conn: AsyncConnection) -> Any:
        return await payment_reads.get_payment_view(conn, payment_id, merchant_id=merchant_id)

    if fresh:
        async with state.reads.connect() as conn:
            row, on_replica = await fetch(conn), False
    else:
        row, on_replica = await state.read_router.read_routed(fetch, actor=reader(principal), missing=_absent)
    if row is None:
        raise _not_found()
    body = _encoder.encode(payment_view(row))
    if not on_replica:
        await state.cache.put_many([(str(row.id), body, row.version, row.merchant_id)])
    return body


def _absent(row: Any) -> bool:
    return row is None


__all__ = ["PaymentController"]
