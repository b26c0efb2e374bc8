"""Capture, void and refunds: record the operation under the payment's row lock, queue it, 202.

Refusals are ``409`` problems with a specific code (``engine.lifecycle.OperationRefused``) and
change nothing. Every POST honours ``Idempotency-Key`` like ``POST /v1/payments``.
"""

from __future__ import annotations

import logging
import uuid
from typing import Annotated, Any, Awaitable, Callable

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody, QueryParameter
from sqlalchemy.ext.asyncio import AsyncConnection

from api.audit import note
from api.idempotent import Answer, IdempotencyKey, Work, run_idempotent
from api.ids import id_query, path_id, query_id
from api.problems import FieldProblem, Problem, as_problem, problem_responses, validation_problem
from api.read_your_writes import reader
from api.responses import list_envelope
from api.schemas import CaptureCreate, RefundCreate
from api.state import AppState
from engine import lifecycle
from engine.auth import Principal
from engine.db import payments as repo
from engine.db import refunds as refund_repo
from engine.money import AmountError
from engine.pages import Page
from engine.views import PaymentView, RefundList, RefundView, payment_view, refund_view

log = logging.getLogger(__name__)

_encoder = msgspec.json.Encoder()


def _payment_id(raw: str) -> uuid.UUID:
    return path_id(raw, Problem(404, "payment_not_found", "No such payment."))


def _queued(enqueue: Callable[[], Awaitable[Any]]) -> Callable[[], Awaitable[None]]:
    """The enqueue as the transaction's last step: any broker failure means "not accepted"."""

    async def before_commit() -> None:
        try:
            await enqueue()
        except Exception as exc:  # noqa: BLE001 - any broker failure means "not accepted"
            log.error("enqueue failed, operation not accepted: %s", type(exc).__name__)
            raise Problem(503, "queue_unavailable", "The operation cannot be queued right now; retry shortly.") from None

    return before_commit


def _accepted(
    state: AppState, body: bytes, location: str, enqueue: Callable[[], Awaitable[Any]], payment: Any = None
) -> Answer:
    """A 202: recorded and queued; the payment's new row is cached once the transaction committed."""

    async def cache_payment() -> None:
        await state.cache.put(payment_view(payment), version=payment.version, merchant_id=payment.merchant_id)

    return Answer(202, body, location, before_commit=_queued(enqueue), after_commit=cache_payment if payment else None)


def capture_work(request: Request[Any, Any, Any], easypay: AppState, principal: Principal, pid: uuid.UUID, amount: str | None) -> Work:
    """Record a capture of ``amount`` (None: all of it) under the payment's lock and queue it."""

    async def work(conn: AsyncConnection) -> Answer:
        row = await lifecycle.request_capture(conn, principal.scope, pid, amount, request_id=request.scope["state"].get("request_id"))
        note(request, merchant_id=row.merchant_id)
        body = _encoder.encode(payment_view(row))
        return _accepted(easypay, body, f"/v1/payments/{pid}", lambda: easypay.jobs.capture_payment(pid), payment=row)

    return work


def void_work(request: Request[Any, Any, Any], easypay: AppState, principal: Principal, pid: uuid.UUID) -> Work:
    """Record a void under the payment's lock and queue it."""

    async def work(conn: AsyncConnection) -> Answer:
        row = await lifecycle.request_void(conn, principal.scope, pid, request_id=request.scope["state"].get("request_id"))
        note(request, merchant_id=row.merchant_id)
        body = _encoder.encode(payment_view(row))
        return _accepted(easypay, body, f"/v1/payments/{pid}", lambda: easypay.jobs.void_payment(pid), payment=row)

    return work


def refund_work(
    request: Request[Any, Any, Any], easypay: AppState, principal: Principal, pid: uuid.UUID, amount: str | None, reason: str | None
) -> Work:
    """Reserve a refund of ``amount`` (None: everything not yet refunded) and queue it."""

    async def work(conn: AsyncConnection) -> Answer:
        row = await lifecycle.request_refund(conn, principal.scope, pid, amount, reason=reason)
        note(request, merchant_id=row.merchant_id)
        return _accepted(easypay, _encoder.encode(refund_view(row)), f"/v1/refunds/{row.id}", lambda: easypay.jobs.process_refund(row.id))

    return work


async def run_operation(
    request: Request[Any, Any, Any], easypay: AppState, principal: Principal, idempotency_key: str | None, payment_id: uuid.UUID, work: Work
) -> Response[bytes]:
    """The operation under idempotency, its refusals as problems (``api.problems.ENGINE_PROBLEMS``),
    raised here as ``Problem``: the dashboard's payment page shows them on the page."""
    try:
        return await run_idempotent(request, easypay, principal, idempotency_key, work)
    except lifecycle.ReconciliationRequired as exc:
        try:
            await easypay.jobs.reconcile_payment(payment_id)  # reconcile first (on-the-fly janitor)
        except Exception as enqueue_exc:  # noqa: BLE001 - the scheduled reconciler runs anyway
            log.warning("could not queue reconciliation of %s: %s", payment_id, type(enqueue_exc).__name__)
        raise as_problem(exc) from None
    except (repo.PaymentNotFound, AmountError, lifecycle.OperationRefused) as exc:
        raise as_problem(exc) from None


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
        easypay: NamedDependency[AppState],
        payment_id: FromPath[str],
        principal: NamedDependency[Principal],
        data: JSONBody[CaptureCreate | None] = None,
        idempotency_key: IdempotencyKey = None,
    ) -> Response[bytes]:
        pid = _payment_id(payment_id)
        amount = data.amount if data is not None else None
        return await run_operation(request, easypay, principal, idempotency_key, pid, capture_work(request, easypay, principal, pid, amount))

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
        easypay: NamedDependency[AppState],
        payment_id: FromPath[str],
        principal: NamedDependency[Principal],
        idempotency_key: IdempotencyKey = None,
    ) -> Response[bytes]:
        pid = _payment_id(payment_id)
        return await run_operation(request, easypay, principal, idempotency_key, pid, void_work(request, easypay, principal, pid))

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
        easypay: NamedDependency[AppState],
        payment_id: FromPath[str],
        principal: NamedDependency[Principal],
        data: JSONBody[RefundCreate | None] = None,
        idempotency_key: IdempotencyKey = None,
    ) -> Response[bytes]:
        pid = _payment_id(payment_id)
        amount = data.amount if data is not None else None
        reason = data.reason if data is not None else None
        work = refund_work(request, easypay, principal, pid, amount, reason)
        return await run_operation(request, easypay, principal, idempotency_key, pid, work)

    @get(
        "/{payment_id:str}/refunds",
        summary="List a payment's refunds, newest first",
        responses=problem_responses(401, 403, 404, 422, 429),
        opt={"permission": "payments:read"},
    )
    async def list_refunds(
        self,
        easypay: NamedDependency[AppState],
        payment_id: FromPath[str],
        principal: NamedDependency[Principal],
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 20,
        starting_after: Annotated[str | None, id_query("A refund id: the page after it.")] = None,
    ) -> RefundList:
        pid = _payment_id(payment_id)
        cursor = query_id("starting_after", starting_after, "a refund id")

        async def fetch_page(conn: AsyncConnection) -> Page[Any] | None:
            if await repo.get_payment(conn, pid, merchant_id=principal.scope) is None:
                return None
            return await refund_repo.list_refunds(conn, pid, limit=limit, starting_after=cursor)

        try:
            found = await easypay.read_router.read(fetch_page, actor=reader(principal), missing=lambda page: page is None)
        except refund_repo.RefundNotFound:
            raise validation_problem([FieldProblem("starting_after", "No such refund of this payment.")]) from None
        if found is None:
            raise Problem(404, "payment_not_found", "No such payment.")
        return list_envelope(RefundList, found.map(refund_view))


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
        self, easypay: NamedDependency[AppState], refund_id: FromPath[str], principal: NamedDependency[Principal]
    ) -> RefundView:
        not_found = Problem(404, "refund_not_found", "No such refund.")
        rid = path_id(refund_id, not_found)

        async def fetch(conn: AsyncConnection) -> Any:
            return await refund_repo.get_refund(conn, rid, merchant_id=principal.scope)

        row = await easypay.read_router.read(fetch, actor=reader(principal), missing=lambda found: found is None)
        if row is None:
            raise not_found
        return refund_view(row)


__all__ = ["PaymentOperationsController", "RefundController", "capture_work", "refund_work", "run_operation", "void_work"]
