"""Capture, void and refunds: record the operation under the payment's row lock, queue it, 202.

Refusals are ``409`` problems with a specific code (``engine.lifecycle.OperationRefused``) and
change nothing. Every POST honours ``Idempotency-Key`` like ``POST /v1/payments``.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Annotated, Any, Awaitable, Callable

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, HeaderParameter, JSONBody, QueryParameter
from sqlalchemy.ext.asyncio import AsyncConnection

from api.problems import FieldProblem, Problem, problem_responses, validation_problem
from api.schemas import CaptureCreate, RefundCreate
from api.audit import note
from api.state import AppState
from api.tenancy import idempotency_owner
from engine import idempotency, lifecycle
from engine.auth import Principal
from engine.db import payments as repo
from engine.db import refunds as refund_repo
from engine.money import AmountError
from engine.views import PaymentView, RefundList, RefundView, payment_view, refund_view

log = logging.getLogger(__name__)

_encoder = msgspec.json.Encoder()
IdempotencyKey = Annotated[str | None, HeaderParameter(name="Idempotency-Key", max_length=255, required=False)]


def _uuid(raw: str, code: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise Problem(404, code, f"No such {what}.") from None


def _payment_id(raw: str) -> uuid.UUID:
    return _uuid(raw, "payment_not_found", "payment")


@dataclass
class Accepted:
    """What an operation produced inside the transaction."""

    body: bytes
    location: str
    enqueue: Callable[[], Awaitable[Any]]
    #: The payment's new row, cached once the transaction has committed.
    payment: Any = None


Work = Callable[[AsyncConnection], Awaitable[Accepted]]


async def _run_operation(
    request: Request[Any, Any, Any], principal: Principal, idempotency_key: str | None, payment_id: uuid.UUID, work: Work
) -> Response[bytes]:
    """Idempotency, the operation, its enqueue (before commit: 202 means recorded and queued)."""
    state: AppState = request.app.state.easypay
    request_hash = (
        idempotency.request_fingerprint(state.pepper, "POST", request.url.path, await request.body())
        if idempotency_key
        else b""
    )
    try:
        async with state.engine.begin() as conn:
            if idempotency_key:
                stored = await idempotency.claim(
                    conn, merchant_id=idempotency_owner(principal), key=idempotency_key, request_hash=request_hash
                )
                if stored is not None:
                    headers = {"Idempotent-Replayed": "true"}
                    if stored.location:
                        headers["Location"] = stored.location
                    return Response(stored.body, status_code=stored.status, media_type="application/json", headers=headers)
            accepted = await work(conn)
            if accepted.payment is not None:
                note(request, merchant_id=accepted.payment.merchant_id)
            if idempotency_key:
                await idempotency.store(
                    conn,
                    merchant_id=idempotency_owner(principal),
                    key=idempotency_key,
                    response=idempotency.StoredResponse(status=202, body=accepted.body, location=accepted.location),
                )
            try:
                await accepted.enqueue()
            except Exception as exc:  # noqa: BLE001 - any broker failure means "not accepted"
                log.error("enqueue failed, operation not accepted: %s", type(exc).__name__)
                raise Problem(503, "queue_unavailable", "The operation cannot be queued right now; retry shortly.") from None
    except repo.PaymentNotFound:
        raise Problem(404, "payment_not_found", "No such payment.") from None
    except AmountError as exc:
        raise validation_problem([FieldProblem("amount", str(exc))]) from None
    except lifecycle.ReconciliationRequired as exc:
        try:
            await state.jobs.reconcile_payment(payment_id)  # reconcile first (on-the-fly janitor)
        except Exception as enqueue_exc:  # noqa: BLE001 - the scheduled reconciler runs anyway
            log.warning("could not queue reconciliation of %s: %s", payment_id, type(enqueue_exc).__name__)
        raise Problem(409, exc.code, exc.detail) from None
    except lifecycle.OperationRefused as exc:
        raise Problem(409, exc.code, exc.detail) from None
    if accepted.payment is not None:  # after commit: the cache never runs ahead of PostgreSQL
        row = accepted.payment
        await state.cache.put(payment_view(row), version=row.version, merchant_id=row.merchant_id)
    return Response(accepted.body, status_code=202, media_type="application/json", headers={"Location": accepted.location})


_PAYMENT_202 = {
    202: ResponseSpec(data_container=PaymentView, description="Accepted: recorded and queued.", generate_examples=False),
    **problem_responses(401, 403, 404, 409, 422, 429, 503),
}


class PaymentOperationsController(Controller):
    path = "/v1/payments"
    tags = ["payments"]

    @post(
        "/{payment_id:str}/capture",
        status_code=202,
        summary="Capture an authorized payment",
        description="Captures all of the authorization, or `amount` (at most the authorized amount), through the queue. "
        "409 `payment_not_capturable`, `capture_exceeds_authorized`, `operation_in_progress`, `payment_reconciling`.",
        responses=_PAYMENT_202,
        opt={"permission": "payments:write"},
    )
    async def capture(
        self,
        request: Request[Any, Any, Any],
        payment_id: FromPath[str],
        principal: NamedDependency[Principal],
        data: JSONBody[CaptureCreate | None] = None,
        idempotency_key: IdempotencyKey = None,
    ) -> Response[bytes]:
        state: AppState = request.app.state.easypay
        pid = _payment_id(payment_id)
        amount = data.amount if data is not None else None

        async def work(conn: AsyncConnection) -> Accepted:
            row = await lifecycle.request_capture(
                conn, principal.scope, pid, amount, request_id=request.scope["state"].get("request_id")
            )
            body = _encoder.encode(payment_view(row))
            return Accepted(body, f"/v1/payments/{pid}", lambda: state.jobs.capture_payment(pid), payment=row)

        return await _run_operation(request, principal, idempotency_key, pid, work)

    @post(
        "/{payment_id:str}/void",
        status_code=202,
        summary="Void an authorization or an unsettled capture",
        description="409 `payment_not_voidable` (settled, refunded, final...), `operation_in_progress`, `payment_reconciling`.",
        responses=_PAYMENT_202,
        opt={"permission": "payments:write"},
    )
    async def void(
        self,
        request: Request[Any, Any, Any],
        payment_id: FromPath[str],
        principal: NamedDependency[Principal],
        idempotency_key: IdempotencyKey = None,
    ) -> Response[bytes]:
        state: AppState = request.app.state.easypay
        pid = _payment_id(payment_id)

        async def work(conn: AsyncConnection) -> Accepted:
            row = await lifecycle.request_void(conn, principal.scope, pid, request_id=request.scope["state"].get("request_id"))
            body = _encoder.encode(payment_view(row))
            return Accepted(body, f"/v1/payments/{pid}", lambda: state.jobs.void_payment(pid), payment=row)

        return await _run_operation(request, principal, idempotency_key, pid, work)

    @post(
        "/{payment_id:str}/refunds",
        status_code=202,
        summary="Refund a captured payment (partially, repeatedly, or fully)",
        description="Reserves the amount at once: refunds never add up to more than was captured, even concurrently. "
        "Before the capture settles, a full refund voids it and a partial one is refused (409 `payment_not_settled`). "
        "Other 409s: `refund_exceeds_captured`, `payment_not_refundable`, `operation_in_progress`, `payment_reconciling`.",
        responses={
            202: ResponseSpec(data_container=RefundView, description="Accepted: recorded and queued.", generate_examples=False),
            **problem_responses(401, 403, 404, 409, 422, 429, 503),
        },
        opt={"permission": "payments:refund"},
    )
    async def create_refund(
        self,
        request: Request[Any, Any, Any],
        payment_id: FromPath[str],
        principal: NamedDependency[Principal],
        data: JSONBody[RefundCreate | None] = None,
        idempotency_key: IdempotencyKey = None,
    ) -> Response[bytes]:
        state: AppState = request.app.state.easypay
        pid = _payment_id(payment_id)
        amount = data.amount if data is not None else None
        reason = data.reason if data is not None else None

        async def work(conn: AsyncConnection) -> Accepted:
            row = await lifecycle.request_refund(conn, principal.scope, pid, amount, reason=reason)
            note(request, merchant_id=row.merchant_id)
            return Accepted(_encoder.encode(refund_view(row)), f"/v1/refunds/{row.id}", lambda: state.jobs.process_refund(row.id))

        return await _run_operation(request, principal, idempotency_key, pid, work)

    @get(
        "/{payment_id:str}/refunds",
        summary="List a payment's refunds, newest first",
        responses=problem_responses(401, 403, 404, 422, 429),
        opt={"permission": "payments:read"},
    )
    async def list_refunds(
        self,
        request: Request[Any, Any, Any],
        payment_id: FromPath[str],
        principal: NamedDependency[Principal],
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 20,
        starting_after: Annotated[str | None, QueryParameter(description="A refund id: the page after it.")] = None,
    ) -> RefundList:
        state: AppState = request.app.state.easypay
        pid = _payment_id(payment_id)
        cursor = None
        if starting_after is not None:
            try:
                cursor = uuid.UUID(starting_after)
            except ValueError:
                raise validation_problem([FieldProblem("starting_after", "Must be a refund id.")]) from None
        async with state.engine.connect() as conn:
            if await repo.get_payment(conn, pid, merchant_id=principal.scope) is None:
                raise Problem(404, "payment_not_found", "No such payment.")
            try:
                rows, has_more = await refund_repo.list_refunds(conn, pid, limit=limit, starting_after=cursor)
            except refund_repo.RefundNotFound:
                raise validation_problem([FieldProblem("starting_after", "No such refund of this payment.")]) from None
        return RefundList(data=[refund_view(row) for row in rows], has_more=has_more)


class RefundController(Controller):
    path = "/v1/refunds"
    tags = ["refunds"]

    @get(
        "/{refund_id:str}",
        summary="Retrieve a refund",
        responses=problem_responses(401, 403, 404, 429),
        opt={"permission": "payments:read"},
    )
    async def get_refund(
        self, request: Request[Any, Any, Any], refund_id: FromPath[str], principal: NamedDependency[Principal]
    ) -> RefundView:
        state: AppState = request.app.state.easypay
        rid = _uuid(refund_id, "refund_not_found", "refund")
        async with state.engine.connect() as conn:
            row = await refund_repo.get_refund(conn, rid, merchant_id=principal.scope)
        if row is None:
            raise Problem(404, "refund_not_found", "No such refund.")
        return refund_view(row)


__all__ = ["PaymentOperationsController", "RefundController"]
