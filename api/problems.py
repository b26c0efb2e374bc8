"""RFC 9457 problem details: the only place errors become HTTP responses.

Every error body is ``{"type", "title", "status", "detail", "code", "request_id", "errors"}``
with ``Content-Type: application/problem+json``. No stack trace, SQL or card data ever appears.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Callable

import msgspec
from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    MethodNotAllowedException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from api.request_ids import request_id_for
from engine.accept_batch import QueueUnavailable
from engine.db.accounts import CreatorDisabled
from engine.db.payments import PaymentNotFound
from engine.errors import EasyPayError
from engine.idempotency import IdempotencyKeyInUse, IdempotencyKeyReused
from engine.lifecycle import OperationRefused
from engine.money import AmountError
from engine.outages import RETRY_AFTER_S, unreachable_dependency
from engine.passwords import HashingBusy
from engine.webhooks.addresses import UnsafeUrl

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://docs.easypay.dev/errors/"

_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class FieldProblem(msgspec.Struct):
    field: str
    message: str


class ProblemDocument(msgspec.Struct, kw_only=True):
    """The error body (documentation type for the OpenAPI schema)."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    request_id: str | None
    errors: list[FieldProblem]


def problem_responses(*statuses: int) -> dict[int, Any]:
    """OpenAPI response entries for the problem documents a route can answer with.

    400 is always among them: any route can get a body or query it cannot read, and without an
    entry of ours the document would show Litestar's own 400 shape, which the server never sends.
    """
    from litestar.openapi.datastructures import ResponseSpec

    return {
        status: ResponseSpec(
            data_container=ProblemDocument,
            description=_TITLES.get(status, "Error"),
            media_type=PROBLEM_MEDIA_TYPE,
            generate_examples=False,
        )
        for status in sorted({400, *statuses})
    }


class Problem(Exception):
    """Raise from handlers to answer with a problem document."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        errors: list[FieldProblem] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.errors = errors or []
        self.headers = headers or {}


def validation_problem(errors: list[FieldProblem]) -> Problem:
    fields = ", ".join(e.field for e in errors)
    return Problem(422, "validation_error", f"The request has invalid fields: {fields}.", errors=errors)


def _unauthorized() -> Problem:
    return Problem(401, "unauthorized", "Missing or invalid credentials.", headers={"WWW-Authenticate": 'Bearer realm="easypay"'})


#: The one map from engine exceptions to problem documents. A class not listed answers as its
#: nearest listed parent (``ReconciliationRequired`` as ``OperationRefused``); one with no listed
#: parent is a bug, a 500. Context can say more than the class: a list route turns the
#: ``*NotFound`` of an unknown ``starting_after`` cursor into a field error on that parameter.
ENGINE_PROBLEMS: dict[type[EasyPayError], Callable[[Any], Problem]] = {
    IdempotencyKeyReused: lambda exc: Problem(422, exc.code, "This Idempotency-Key was already used with a different request."),
    IdempotencyKeyInUse: lambda exc: Problem(
        409, exc.code, "A request with this Idempotency-Key is still being processed; retry shortly."
    ),
    CreatorDisabled: lambda exc: _unauthorized(),
    PaymentNotFound: lambda exc: Problem(404, "payment_not_found", "No such payment."),
    OperationRefused: lambda exc: Problem(409, exc.code, exc.detail),
    AmountError: lambda exc: validation_problem([FieldProblem("amount", str(exc))]),
    UnsafeUrl: lambda exc: validation_problem([FieldProblem("url", str(exc))]),
    QueueUnavailable: lambda exc: Problem(503, "queue_unavailable", "Payments cannot be queued right now; retry shortly."),
    HashingBusy: lambda exc: Problem(
        503, "busy", "Too many sign-ins are being checked right now; retry shortly.", headers={"Retry-After": "1"}
    ),
}


def engine_problem(exc: EasyPayError) -> Problem | None:
    """The problem ``ENGINE_PROBLEMS`` gives ``exc`` (through its nearest listed class), or None."""
    for cls in type(exc).__mro__:
        make = ENGINE_PROBLEMS.get(cls)
        if make is not None:
            return make(exc)
    return None


def as_problem(exc: EasyPayError) -> Problem:
    """``engine_problem(exc)``, for a caller that turns a listed exception into a ``Problem`` where
    it happens (the dashboard catches ``Problem`` to show it on its own page)."""
    problem = engine_problem(exc)
    if problem is None:
        raise exc
    return problem


def problem_response(request: Request[Any, Any, Any], problem: Problem) -> Response[Any]:
    request_id = request.scope.get("state", {}).get("request_id")
    headers = problem.headers
    if request_id is None:  # the router refused it (404, 405) before the request-id middleware ran
        request_id = request_id_for(request.headers.get("x-request-id"))
        headers = {**headers, "X-Request-ID": request_id}
    body = {
        "type": TYPE_BASE + problem.code,
        "title": _TITLES.get(problem.status, "Error"),
        "status": problem.status,
        "detail": problem.detail,
        "code": problem.code,
        "request_id": request_id,
        "errors": [{"field": e.field, "message": e.message} for e in problem.errors],
    }
    if problem.status == 503 and "Retry-After" not in headers:  # every 503 says when to come back
        headers = {**headers, "Retry-After": str(RETRY_AFTER_S)}
    return Response(body, status_code=problem.status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


_UNKNOWN_FIELD = re.compile(r"unknown field `([^`]+)`")
_MISSING_FIELD = re.compile(r"missing required field `([^`]+)`")


def field_path(key: str | None, message: str) -> str:
    path = "" if key in (None, "", "data") else str(key).replace("[...]", "")
    for pattern in (_UNKNOWN_FIELD, _MISSING_FIELD):
        match = pattern.search(message)
        if match:
            return f"{path}.{match.group(1)}" if path else match.group(1)
    return path or "body"


def _from_validation(exc: ValidationException) -> Problem:
    extra = exc.extra if isinstance(exc.extra, list) else []
    if not extra:
        return Problem(400, "invalid_json", "The request body is not valid JSON.")
    errors = []
    for item in extra:
        message = str(item.get("message", "invalid value"))
        errors.append(FieldProblem(field=field_path(item.get("key"), message), message=message))
    return validation_problem(errors)


def handle_exception(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if isinstance(exc, Problem):
        return problem_response(request, exc)
    if isinstance(exc, ValidationException):
        return problem_response(request, _from_validation(exc))
    if isinstance(exc, EasyPayError) and (problem := engine_problem(exc)) is not None:
        return problem_response(request, problem)
    if isinstance(exc, NotAuthorizedException):
        return problem_response(request, _unauthorized())
    if isinstance(exc, PermissionDeniedException):
        return problem_response(request, Problem(403, "forbidden", "These credentials may not do this."))
    if isinstance(exc, NotFoundException):
        return problem_response(request, Problem(404, "not_found", "No such resource."))
    if isinstance(exc, MethodNotAllowedException):
        allow = {k: v for k, v in (exc.headers or {}).items() if k.lower() == "allow"}
        return problem_response(request, Problem(405, "method_not_allowed", "Method not allowed on this resource.", headers=allow))
    if isinstance(exc, HTTPException) and exc.status_code < 500:
        code = {413: "payload_too_large", 415: "unsupported_media_type"}.get(exc.status_code, "bad_request")
        detail = exc.detail if exc.status_code != 400 else "The request could not be read."
        if exc.status_code == 400:  # only body decoding raises a bare 400 here
            code, detail = "invalid_json", "The request body is not valid JSON."
        return problem_response(request, Problem(exc.status_code, code, detail))
    if (dependency := unreachable_dependency(exc)) is not None:
        log.warning("%s unavailable on %s %s: %s", dependency, request.method, request.url.path, type(exc).__name__)
        return problem_response(
            request,
            Problem(
                503,
                "service_unavailable",
                "A service this request needs is unavailable right now; retry shortly.",
            ),
        )
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem_response(
        request,
        Problem(HTTP_500_INTERNAL_SERVER_ERROR, "internal_error", "Something went wrong on our side; nothing to fix in the request."),
    )
