"""The exceptions the client raises: one tree, rooted at ``EasyPayError``.

API errors are built from the server's problem document (``code``, ``detail``, field ``errors``,
``request_id``); the class is chosen by ``code`` first, then by HTTP status.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from easypay_client.models import FieldError, Payment, ProblemDocument


class EasyPayError(Exception):
    """Base of every error this package raises."""


class ConfigurationError(EasyPayError):
    """No base URL or API key (neither given nor in the environment)."""


class APIConnectionError(EasyPayError):
    """The API could not be reached (connection refused, reset, timed out), retries exhausted."""


class APIError(EasyPayError):
    """The API answered with an error status (a problem document)."""

    def __init__(self, problem: "ProblemDocument", *, headers: dict[str, str] | None = None) -> None:
        self.problem = problem
        self.status: int = problem.status
        self.code: str = problem.code
        self.detail: str | None = problem.detail
        self.request_id: str | None = problem.request_id
        self.errors: list["FieldError"] = list(problem.errors)
        self.headers: dict[str, str] = dict(headers or {})
        fields = "; ".join(f"{e.field}: {e.message}" for e in self.errors)
        text = f"{self.status} {self.code}: {self.detail or problem.title or ''}".rstrip(": ")
        if fields:
            text += f" ({fields})"
        if self.request_id:
            text += f" [request {self.request_id}]"
        super().__init__(text)

    @property
    def fields(self) -> dict[str, str]:
        """Field errors by field name (``payment_method.card.number`` → message)."""
        return {e.field: e.message for e in self.errors}


class BadRequestError(APIError):
    """400: the request could not be read (malformed JSON, a duplicate key…)."""


class AuthenticationError(APIError):
    """401: missing, bad, expired or revoked credentials."""


class PermissionDeniedError(APIError):
    """403: valid credentials without the permission."""


class NotFoundError(APIError):
    """404: no such object (or another merchant's)."""


class ConflictError(APIError):
    """409: the object's state refuses the operation (``payment_not_capturable``…)."""


class IdempotencyKeyInUseError(ConflictError):
    """409 ``idempotency_key_in_use``: the first request with this key is still running."""


class ValidationError(APIError):
    """422: invalid fields, named in ``errors``."""


class IdempotencyKeyReusedError(ValidationError):
    """422 ``idempotency_key_reused``: the same key was sent with another body."""


class RateLimitError(APIError):
    """429: over a rate limit; ``retry_after`` is the server's ``Retry-After`` in seconds."""

    @property
    def retry_after(self) -> float | None:
        return retry_after_seconds(self.headers)


class ServiceUnavailableError(APIError):
    """503: a service the API needs is unreachable right now; retry later."""

    @property
    def retry_after(self) -> float | None:
        return retry_after_seconds(self.headers)


class ServerError(APIError):
    """Any other 5xx."""


class WaitTimeout(EasyPayError):
    """``wait_for`` ran out of time; ``payment`` is the last state seen."""

    def __init__(self, payment: "Payment", timeout_s: float) -> None:
        self.payment = payment
        super().__init__(f"payment {payment.id} still {payment.status} after {timeout_s} s")


class WebhookVerificationError(EasyPayError):
    """A webhook delivery failed verification (signature, timestamp or headers)."""


_BY_CODE: dict[str, type[APIError]] = {
    "idempotency_key_in_use": IdempotencyKeyInUseError,
    "idempotency_key_reused": IdempotencyKeyReusedError,
}
_BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: ValidationError,
    429: RateLimitError,
    503: ServiceUnavailableError,
}


def error_class(status: int, code: str) -> type[APIError]:
    if code in _BY_CODE:
        return _BY_CODE[code]
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    return ServerError if status >= 500 else APIError


def retry_after_seconds(headers: Any) -> float | None:
    """``Retry-After`` in seconds (the form EasyPay sends), or None."""
    raw = headers.get("retry-after") if headers is not None else None
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if value >= 0 else None
