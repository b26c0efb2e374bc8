"""Everything the sync and async clients share, written once and free of I/O.

A call is described by a ``Call``; ``Core.exchange(call)`` is a generator that yields what must
happen next — an ``httpx.Request`` to send (the driver sends back the response, or the
``httpx.TransportError`` it raised) or a ``Sleep`` — and returns the decoded result or raises the
typed error. Multi-step operations (``wait_for``) are generators of the same kind, built from
``exchange``. ``Client`` and ``AsyncClient`` only drive these generators with their transport
and their sleep.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable, Generator, Generic, TypeVar

import httpx
import msgspec

from easypay_client import errors
from easypay_client._config import Config
from easypay_client.models import Page, Payment, ProblemDocument

T = TypeVar("T")

#: The largest ``?wait=`` the API accepts.
MAX_WAIT_S = 30
_decoder_cache: dict[Any, msgspec.json.Decoder[Any]] = {}
_encoder = msgspec.json.Encoder()


@dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclass
class Call:
    """One API request: what to send, and what type its answer decodes to (None: raw bytes)."""

    method: str
    path: str
    response_type: Any = None
    params: dict[str, Any] | None = None
    #: JSON body (a dict or Struct); ``None`` sends no body.
    body: Any = None
    idempotency_key: str | None = None
    #: Read timeout for this request (long-polls need more than the default).
    timeout_s: float | None = None


Step = httpx.Request | Sleep
Outcome = httpx.Response | httpx.TransportError
Plan = Generator[Step, Any, T]


@dataclass(frozen=True)
class RetryPolicy:
    """When and how long to wait before sending a request again.

    Retried: connection failures (for a GET, or a POST — which always carries an
    ``Idempotency-Key``, so a resend can never act twice; other methods only when the request
    certainly never reached the server), ``409 idempotency_key_in_use``, ``429`` (after its
    ``Retry-After``), ``502``/``503``/``504``. Never any other 4xx.
    """

    max_retries: int = 4
    base_delay_s: float = 0.25
    max_delay_s: float = 8.0
    #: A ``Retry-After`` longer than this is not waited for: the error is raised instead.
    max_retry_after_s: float = 60.0
    retry_statuses: frozenset[int] = frozenset({502, 503, 504})

    def backoff_s(self, attempt: int) -> float:
        """Exponential backoff with jitter: half fixed, half random (attempt 0 → 0.125-0.25 s)."""
        ceiling = min(self.max_delay_s, self.base_delay_s * (2**attempt))
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def delay_s(self, method: str, attempt: int, outcome: Outcome) -> float | None:
        """Seconds to wait before retry number ``attempt + 1``, or None: do not retry."""
        if attempt >= self.max_retries:
            return None
        if isinstance(outcome, httpx.TransportError):
            safe = method in ("GET", "HEAD", "POST") or isinstance(outcome, (httpx.ConnectError, httpx.ConnectTimeout))
            return self.backoff_s(attempt) if safe else None
        status = outcome.status_code
        if status == 409:
            return self.backoff_s(attempt) if _problem_code(outcome) == "idempotency_key_in_use" else None
        if status == 429 or status in self.retry_statuses:
            retry_after = errors.retry_after_seconds(outcome.headers)
            if retry_after is None:
                return self.backoff_s(attempt)
            if retry_after > self.max_retry_after_s:
                return None
            return retry_after + random.uniform(0, min(1.0, retry_after * 0.1 + 0.05))
        return None


def _problem_code(response: httpx.Response) -> str | None:
    try:
        return str(msgspec.json.decode(response.content, type=ProblemDocument).code)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def _decoder(type_: Any) -> msgspec.json.Decoder[Any]:
    decoder = _decoder_cache.get(type_)
    if decoder is None:
        decoder = _decoder_cache[type_] = msgspec.json.Decoder(type_)
    return decoder


class Core:
    """Request building, the retry loop and error mapping, for one configuration."""

    def __init__(self, config: Config, retry: RetryPolicy | None = None) -> None:
        self.config = config
        self.retry = retry or RetryPolicy(max_retries=config.max_retries)

    def headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": self.config.user_agent}
        if self.config.api_key:
            headers["Authorization"] = f"Bearer {self.config.api_key}"
        return headers

    def build(self, call: Call) -> httpx.Request:
        headers = self.headers()
        content = None
        if call.method == "POST":
            # Generated once per call: every retry of this request carries the same key.
            headers["Idempotency-Key"] = call.idempotency_key or str(uuid.uuid4())
        if call.body is not None:
            content = _encoder.encode(call.body)
            headers["Content-Type"] = "application/json"
        timeout = httpx.Timeout(self.config.timeout_s, read=call.timeout_s or self.config.timeout_s)
        return httpx.Request(
            call.method,
            self.config.base_url + call.path,
            params=_clean_params(call.params),
            content=content,
            headers=headers,
            extensions={"timeout": timeout.as_dict()},
        )

    def exchange(self, call: Call) -> Plan[Any]:
        """Send ``call`` (retrying as the policy says) and return its decoded answer."""
        request = self.build(call)
        attempt = 0
        while True:
            outcome: Outcome = yield request
            delay = self.retry.delay_s(call.method, attempt, outcome)
            if delay is None:
                return self.finish(call, outcome)
            attempt += 1
            yield Sleep(delay)

    def finish(self, call: Call, outcome: Outcome) -> Any:
        if isinstance(outcome, httpx.TransportError):
            raise errors.APIConnectionError(
                f"{call.method} {call.path}: {type(outcome).__name__}: {outcome}".rstrip(": ")
            ) from outcome
        if outcome.status_code >= 400:
            raise api_error(outcome)
        if call.response_type is None:
            return outcome.content
        return _decoder(call.response_type).decode(outcome.content)

    def wait_for(self, payment_id: str, timeout_s: float, status: str | None = None) -> Plan[Payment]:
        """Long-poll ``GET /v1/payments/{id}?wait=`` until the payment has its outcome.

        Done when nothing is in flight (not ``pending``/``processing``, no queued capture or
        void) and, with ``status``, the status differs from it. Raises ``WaitTimeout``.
        """
        deadline = time.monotonic() + timeout_s
        wait_s = 0
        quick_answers = 0
        while True:
            started = time.monotonic()
            payment: Payment = yield from self.exchange(retrieve_payment(payment_id, wait=wait_s, status=status, core=self))
            if not payment.in_flight and (status is None or payment.status != status):
                return payment
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise errors.WaitTimeout(payment, timeout_s)
            if wait_s and time.monotonic() - started < min(wait_s, remaining) / 2:
                # Answered early and unchanged (the server's cap of long-polls per key): back off a little.
                quick_answers += 1
                yield Sleep(min(remaining, self.retry.backoff_s(min(quick_answers, 3))))
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise errors.WaitTimeout(payment, timeout_s)
            wait_s = max(1, min(MAX_WAIT_S, math.ceil(remaining)))


def retrieve_payment(payment_id: str, *, wait: float | None = None, status: str | None = None, core: Core | None = None) -> Call:
    params: dict[str, Any] = {}
    timeout_s = None
    if wait:
        params["wait"] = max(0, min(MAX_WAIT_S, math.ceil(wait)))
        timeout_s = params["wait"] + (core.config.timeout_s if core else 30.0)
        if status is not None:
            params["status"] = status
    return Call("GET", f"/v1/payments/{_segment(payment_id)}", Payment, params=params or None, timeout_s=timeout_s)


def api_error(response: httpx.Response) -> errors.APIError:
    """The typed error for an error response (a problem document, or whatever a proxy sent)."""
    try:
        problem = msgspec.json.decode(response.content, type=ProblemDocument)
    except (msgspec.DecodeError, msgspec.ValidationError):
        problem = ProblemDocument(
            status=response.status_code,
            code=f"http_{response.status_code}",
            detail=response.text[:200] or response.reason_phrase,
            request_id=response.headers.get("x-request-id"),
        )
    if problem.request_id is None:
        problem.request_id = response.headers.get("x-request-id")
    return errors.error_class(problem.status, problem.code)(problem, headers=dict(response.headers))


@dataclass
class Pager(Generic[T]):
    """Keyset pagination state: which page to ask for next, given the last one."""

    make_call: Callable[[str | None], Call]
    starting_after: str | None = None
    done: bool = False
    cursor: Callable[[Any], Any] = field(default=lambda item: item.id)

    def next_call(self) -> Call | None:
        return None if self.done else self.make_call(self.starting_after)

    def take(self, page: Page[T]) -> list[T]:
        if not page.has_more or not page.data:
            self.done = True
        else:
            self.starting_after = str(self.cursor(page.data[-1]))
        return list(page.data)


def _segment(value: str) -> str:
    """A path segment: ids are sent as given, but never able to change the path."""
    from urllib.parse import quote

    return quote(str(value), safe="")


def _clean_params(params: dict[str, Any] | None) -> dict[str, str] | None:
    if not params:
        return None
    out: dict[str, str] = {}
    for key, value in params.items():
        if value is None or value is msgspec.UNSET:
            continue
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, dt.datetime):
            out[key] = time_param(value)
        else:
            out[key] = str(value)
    return out or None


def time_param(value: dt.datetime | str | int) -> str:
    """A time for the API: RFC 3339 with an offset (naive datetimes are refused), or Unix seconds."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError("a datetime sent to the API needs a timezone (e.g. datetime.now(timezone.utc))")
        return value.isoformat()
    return str(value)


def amount_str(value: str | Decimal | int) -> str:
    """An amount as the API's decimal string; floats are refused (money is never a float)."""
    if isinstance(value, bool) or isinstance(value, float):
        raise TypeError("amounts are decimal strings (\"12.50\"), Decimal or int, never float")
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, (int, str)):
        return str(value)
    raise TypeError(f"not an amount: {type(value).__name__}")


def body(**fields: Any) -> dict[str, Any]:
    """A JSON body of the fields that were given (``UNSET`` ones are left out)."""
    return {k: v for k, v in fields.items() if v is not msgspec.UNSET}

