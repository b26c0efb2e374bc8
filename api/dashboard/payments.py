"""``/dashboard/payments``: the list (the API's filters, keyset pages and tenancy) and one payment
with its refunds, its history and the capture, void and refund forms of ``api.dashboard.actions``."""

from __future__ import annotations

import re
import uuid
from typing import Any

from litestar import Request, get
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncConnection

from api.dashboard.charts import HourlyChart, LatencyChart, hourly_latency, hourly_outcomes
from api.dashboard.guard import current_session, require_session
from api.dashboard.paging import next_page_url
from api.ids import path_id, query_id
from api.problems import Problem, validation_problem, FieldProblem
from api.read_your_writes import reader
from api.schemas import CUSTOMER_ID_PATTERN
from api.state import AppState
from api.tenancy import list_scope
from api.timeparams import parse_time
from engine.auth import Principal
from engine.db import activity, payment_reads
from engine.db import payments as repo
from engine.db import refunds as refund_repo
from engine.db.history import payment_history
from engine.pages import Page
from engine.permissions import Permission
from engine.states import OPERATIONS, PaymentStatus
from engine.views import payment_view, refund_view

#: The payments page's picture covers this many hours (up to the current one).
CHART_HOURS = 24
FILTERS = ("status", "customer_id", "created_gte", "created_lt", "merchant_id")
_CUSTOMER_ID = re.compile(CUSTOMER_ID_PATTERN)
_OPT = {"dashboard_permission": Permission.PAYMENTS_READ, "audit_object": "payment"}
#: A payment waits on something: its charge, a queued capture or void, or a refund.
_IN_FLIGHT = frozenset({PaymentStatus.PENDING.value, PaymentStatus.PROCESSING.value})


def not_found() -> Problem:
    return Problem(404, "payment_not_found", "No such payment.")


def _query(request: Request[Any, Any, Any]) -> dict[str, str]:
    """The filters given (an HTML form sends empty fields: those are absent)."""
    return {name: value for name in (*FILTERS, "limit", "starting_after") if (value := request.query_params.get(name, "").strip())}


def _limit(raw: str | None) -> int:
    if raw is None:
        return 20
    if not raw.isdigit() or not 1 <= int(raw) <= 100:
        raise validation_problem([FieldProblem("limit", "Must be from 1 to 100.")])
    return int(raw)


async def _page(state: AppState, principal: Principal, given: dict[str, str]) -> Page[Any]:
    """The API's list, same checks in the same order (``api.payments.list_payments``)."""
    scope = list_scope(principal, given.get("merchant_id"))
    status = given.get("status")
    if status is not None and status not in PaymentStatus._value2member_map_:
        raise validation_problem([FieldProblem("status", f"Unknown status {status!r}.")])
    customer_id = given.get("customer_id")
    if customer_id is not None and (len(customer_id) > 20 or not _CUSTOMER_ID.match(customer_id)):
        raise validation_problem([FieldProblem("customer_id", "Must be a customer id.")])
    limit = _limit(given.get("limit"))
    cursor = query_id("starting_after", given.get("starting_after"), "a payment id")
    gte, lt = parse_time("created_gte", given.get("created_gte")), parse_time("created_lt", given.get("created_lt"))

    async def fetch_page(conn: AsyncConnection) -> Page[Any]:
        return await payment_reads.list_payments(
            conn, scope, limit=limit, starting_after=cursor, status=status, customer_id=customer_id, created_gte=gte, created_lt=lt
        )

    try:
        return await state.read_router.read(fetch_page, actor=reader(principal))
    except repo.PaymentNotFound:
        raise validation_problem([FieldProblem("starting_after", "No such payment.")]) from None


async def _activity(state: AppState, principal: Principal, merchant_id: str | None) -> tuple[HourlyChart, str | None, LatencyChart]:
    """Payments per hour by outcome over ``CHART_HOURS`` (the caller's merchant, or for an admin the
    filtered one or all), the share of webhook delivery attempts that succeeded (with ``webhooks:read``)
    and the processor's answer times per hour."""
    scope = list_scope(principal, merchant_id)
    window_s = CHART_HOURS * 3600

    async def fetch(conn: AsyncConnection) -> tuple[Any, list[Any], Any, list[Any]]:
        now = await activity.database_now(conn)
        rows = await activity.payments_per_hour(conn, window_s=window_s, merchant_id=scope)
        attempts = await activity.webhook_attempts(conn, window_s=window_s, merchant_id=scope) if principal.can(Permission.WEBHOOKS_READ) else None
        return now, rows, attempts, await activity.processor_latency(conn, window_s=window_s, merchant_id=scope)

    now, rows, attempts, latency = await state.read_router.read(fetch, actor=reader(principal))
    rate = None
    if attempts is not None:
        rate = f"{100 * attempts.succeeded / attempts.attempts:.1f} % of {attempts.attempts} attempts" if attempts.attempts else "no attempts"
    return hourly_outcomes(rows, now=now, hours=CHART_HOURS), rate, hourly_latency(latency, now=now, hours=CHART_HOURS)


@get("/payments", guards=[require_session], opt=_OPT)
async def payment_list(request: Request[Any, Any, Any], easypay: NamedDependency[AppState]) -> Template:
    session = current_session(request)
    principal = session.principal()
    given = _query(request)
    page: Page[Any] = Page.empty()
    problem = None
    chart, webhook_rate, latency = None, None, None
    try:
        page = await _page(easypay, principal, given)
        if "starting_after" not in given:
            chart, webhook_rate, latency = await _activity(easypay, principal, given.get("merchant_id"))
    except Problem as exc:
        problem = exc
    payments = [payment_view(row) for row in page.items]
    next_url = next_page_url("/dashboard/payments", given, page)
    return Template(
        template_name="payments.html",
        context={
            "session": session,
            "payments": payments,
            "merchants": {str(row.id): str(row.merchant_id) for row in page.items},
            "filters": given,
            "statuses": [s.value for s in PaymentStatus],
            "is_admin": principal.scope is None,
            "next_url": next_url,
            "first_page": "starting_after" not in given,
            "chart": chart,
            "webhook_rate": webhook_rate,
            "latency": latency,
            "error": problem.detail if problem else None,
            "field_errors": [f"{e.field}: {e.message}" for e in problem.errors] if problem else [],
        },
        status_code=problem.status if problem else 200,
    )


async def payment_context(request: Request[Any, Any, Any], easypay: AppState, payment_id: uuid.UUID) -> dict[str, Any]:
    """The payment (404 if the caller may not see it), its refunds and its history."""
    session = current_session(request)
    principal = session.principal()

    async def fetch(conn: AsyncConnection) -> tuple[Any, list[Any], list[Any]] | None:
        row = await repo.get_payment(conn, payment_id, merchant_id=principal.scope)
        if row is None:
            return None
        refunds = (await refund_repo.list_refunds(conn, payment_id, limit=100)).items
        return row, list(refunds), await payment_history(conn, payment_id)

    found = await easypay.read_router.read(fetch, actor=reader(principal), missing=lambda found: found is None)
    if found is None:
        raise not_found()
    row, refunds, history = found
    payment = payment_view(row)
    refund_views = [refund_view(r) for r in refunds]
    busy = payment.status in _IN_FLIGHT or payment.pending_operation is not None or any(r.status == "pending" for r in refund_views)
    return {
        "session": session,
        "payment": payment,
        "refunds": refund_views,
        "history": history,
        "busy": busy,
        "can_write": principal.can(Permission.PAYMENTS_WRITE),
        "can_refund": principal.can(Permission.PAYMENTS_REFUND),
        #: What the payment's status allows (``engine.states.OPERATIONS``): the forms shown.
        "operations": {operation.value for operation in OPERATIONS[PaymentStatus(payment.status)]},
        #: One per rendering; each form adds its action, so no two forms share a key.
        "idempotency_key": str(uuid.uuid4()),
    }


@get("/payments/{payment_id:str}", guards=[require_session], opt=_OPT)
async def payment_detail(request: Request[Any, Any, Any], easypay: NamedDependency[AppState], payment_id: FromPath[str]) -> Template:
    context = await payment_context(request, easypay, path_id(payment_id, not_found()))
    context["notice"] = {"capture": "Capture queued.", "void": "Void queued.", "refund": "Refund queued."}.get(
        request.query_params.get("done", "")
    )
    return Template(template_name="payment.html", context=context)


@get("/payments/{payment_id:str}/history", guards=[require_session], opt=_OPT)
async def payment_history_fragment(request: Request[Any, Any, Any], easypay: NamedDependency[AppState], payment_id: FromPath[str]) -> Template:
    """The payment's state, refunds and history alone: what the page re-reads while it is busy."""
    context = await payment_context(request, easypay, path_id(payment_id, not_found()))
    return Template(template_name="_history.html", context=context)
