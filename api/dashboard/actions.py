"""Capture, void and refund from the payment page: the API's own work (``api.lifecycle``) under
the API's idempotency, keyed by the form's ``idempotency_key`` (one per rendered form, so a
double submit or a browser resend is answered with the first outcome and queues nothing twice).

Accepted, the page is shown again (303); refused, the payment page says why with the API's
status (409 ``payment_not_capturable``..., 422 for a bad amount)."""

from __future__ import annotations

import uuid
from typing import Any, Callable

from litestar import Request, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Template

from api.dashboard.guard import require_session
from api.dashboard.forms import once_per_form
from api.dashboard.payments import not_found, payment_context
from api.ids import path_id
from api.idempotent import Work
from api.lifecycle import capture_work, refund_work, run_operation, void_work
from api.problems import Problem
from api.state import AppState
from engine.auth import Principal
from engine.cards import find_card_numbers
from engine.permissions import Permission



def _text(form: Any, name: str, max_length: int) -> str | None:
    value = form.get(name)
    if not isinstance(value, str) or not value.strip():
        return None
    value = value.strip()
    if len(value) > max_length:
        raise Problem(422, "validation_error", f"{name} is longer than {max_length} characters.")
    if find_card_numbers(value):  # stored in the clear: never a card number (as the API refuses)
        raise Problem(422, "validation_error", f"{name} must not hold a card number.")
    return value


async def _act(request: Request[Any, Any, Any], easypay: AppState, payment_id: str, done: str, make: Callable[[Principal, uuid.UUID, Any], Work]) -> Any:
    pid = path_id(payment_id, not_found())
    principal: Principal = request.scope["state"]["principal"]
    form = await request.form()
    try:
        await once_per_form(form, lambda key: run_operation(request, easypay, principal, key, pid, make(principal, pid, form)))
    except Problem as exc:
        if exc.status == 404:
            raise
        context = await payment_context(request, easypay, pid)
        context["error"] = exc.detail
        return Template(template_name="payment.html", context=context, status_code=exc.status)
    return Redirect(f"/dashboard/payments/{pid}?done={done}", status_code=303)


_WRITE = {"dashboard_permission": Permission.PAYMENTS_WRITE, "audit_object": "payment"}


@post("/payments/{payment_id:str}/capture", guards=[require_session], opt={**_WRITE, "audit_action": "capture"}, status_code=303)
async def capture(request: Request[Any, Any, Any], easypay: NamedDependency[AppState], payment_id: FromPath[str]) -> Any:
    return await _act(
        request, easypay, payment_id, "capture", lambda principal, pid, form: capture_work(request, easypay, principal, pid, _text(form, "amount", 20))
    )


@post("/payments/{payment_id:str}/void", guards=[require_session], opt={**_WRITE, "audit_action": "void"}, status_code=303)
async def void(request: Request[Any, Any, Any], easypay: NamedDependency[AppState], payment_id: FromPath[str]) -> Any:
    return await _act(request, easypay, payment_id, "void", lambda principal, pid, form: void_work(request, easypay, principal, pid))


@post(
    "/payments/{payment_id:str}/refund",
    guards=[require_session],
    opt={"dashboard_permission": Permission.PAYMENTS_REFUND, "audit_object": "payment", "audit_action": "create_refund"},
    status_code=303,
)
async def refund(request: Request[Any, Any, Any], easypay: NamedDependency[AppState], payment_id: FromPath[str]) -> Any:
    return await _act(
        request,
        easypay,
        payment_id,
        "refund",
        lambda principal, pid, form: refund_work(request, easypay, principal, pid, _text(form, "amount", 20), _text(form, "reason", 255)),
    )
