"""Async Authorize.net client: our own HTTP transport and our own XML (:mod:`engine.processor.wire`).

Why not the official SDK (docs/authorizenet.md, "Why not the SDK"): no HTTP timeout, transport
errors and 4xx/5xx swallowed into ``None``, a process-global environment that is not thread-safe,
card data in DEBUG logs, a parser that breaks on BOM-less bodies, and PyXB bindings that cost
milliseconds per request and seconds per report page.

Failure taxonomy
    * ``NOT_SENT`` — the request certainly never reached Authorize.net: the connection could not
      be made (refused, DNS, TLS) or not in time, a pool slot included
      (:data:`engine.processor.http.NOT_SENT_ERRORS`). These are retried here with exponential
      backoff + jitter, up to ``settings.connect_attempts`` attempts; ``NOT_SENT`` is returned
      once they are exhausted. An unusable endpoint URL is also ``NOT_SENT`` (not retried).
    * ``UNKNOWN`` — anything after the request may have been sent: read/write timeouts, write
      errors, the connection closing before a response, HTTP status outside 2xx, a body that is
      not a readable Authorize.net response. Never retried here and never a decline: resend the
      identical request inside the duplicate window, or reconcile (docs/authorizenet.md,
      "Recovering an unknown outcome").
    * Everything else is the gateway's answer, mapped in :mod:`engine.processor.results`.

Cancellation (``asyncio.CancelledError``) propagates untouched; a caller cancelled while a
charge was in flight must treat it as ``UNKNOWN``.

The transport (:mod:`engine.processor.http`) is one pooled aiohttp session per client; it never
follows redirects and never resends a POST by itself.

Nothing here logs request bodies, card numbers, CVCs, opaque values or the transaction key.
"""

from __future__ import annotations

import logging
import re
import time
from datetime import datetime, timedelta
from typing import Awaitable, Callable, TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt
from tenacity.wait import wait_exponential_jitter

from engine.metrics import PROCESSOR_DURATION, PROCESSOR_REQUESTS
from engine.settings import ProcessorSettings

from . import results
from .http import NOT_SENT_ERRORS, UNSENDABLE_ERRORS, HttpTransport, Send, env_proxy
from .amounts import format_wire_amount
from .types import (
    MAX_CARD_NUMBER,
    MAX_INVOICE_NUMBER,
    MAX_REF_ID,
    BatchSummary,
    Card,
    ChargeRequest,
    Outcome,
    TransactionDetails,
    TransactionResult,
    TransactionSummary,
    check_amount,
    check_currency,
    check_len,
)
from .wire import (
    Built,
    Credentials,
    Document,
    ResponseParseError,
    build_batch_transactions,
    build_capture,
    build_charge,
    build_details,
    build_refund,
    build_settled_batches,
    build_unsettled,
    build_void,
    parse_response,
)

log = logging.getLogger(__name__)

#: Sent with every request (the API answers E00002 to any other content type).
_HEADERS = {"Content-Type": "application/xml"}

_TRANS_ID = re.compile(r"[0-9]{1,30}")
_LAST4 = re.compile(r"(?:[Xx*]*)([0-9]{4})")
#: getSettledBatchList answers at most this span between its two dates (docs/authorizenet.md).
MAX_SETTLEMENT_SPAN = timedelta(days=31)

T = TypeVar("T")


def _describe(exc: BaseException) -> str:
    """Exception type and message; aiohttp's messages describe the transport, not the payload."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _check_transaction_id(transaction_id: str, name: str = "transaction_id") -> None:
    if not isinstance(transaction_id, str) or not _TRANS_ID.fullmatch(transaction_id) or transaction_id == "0":
        raise ValueError(f"{name} must be a non-zero numeric string")


def _check_page(limit: int, offset: int) -> None:
    if not 1 <= limit <= 1000 or not 1 <= offset <= 100_000:
        raise ValueError("limit must be 1..1000 and offset 1..100000")


class ProcessorClient:
    """One instance per process (or event loop); holds one pooled HTTP session (keep-alive).

    ``transport`` replaces the HTTP layer (tests): ``(url, body, headers) -> (status, body)``,
    raising the errors of :mod:`engine.processor.http`.
    """

    def __init__(
        self,
        settings: ProcessorSettings,
        *,
        transport: Send | None = None,
        connect_backoff_initial_s: float = 0.2,
        connect_backoff_max_s: float = 2.0,
        connect_backoff_jitter_s: float = 0.2,
    ) -> None:
        if not settings.endpoint_url:
            raise ValueError("ProcessorSettings.endpoint_url is empty")
        self._url = settings.endpoint_url
        self._creds = Credentials(settings.login_id, settings.transaction_key)
        self._duplicate_window_s = settings.duplicate_window_s
        self._attempts = max(1, settings.connect_attempts)
        self._backoff = (connect_backoff_initial_s, connect_backoff_max_s, connect_backoff_jitter_s)
        self._http: HttpTransport | None = None
        if transport is None:
            self._http = HttpTransport(
                connect_timeout_s=settings.connect_timeout_s,
                read_timeout_s=settings.read_timeout_s,
                proxy=env_proxy(self._url),
            )
            transport = self._http
        self._send: Send = transport

    def __repr__(self) -> str:
        return f"ProcessorClient(endpoint_url={self._url!r}, login_id={self._creds.login_id!r})"

    async def __aenter__(self) -> "ProcessorClient":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()

    # ----------------------------------------------------------------------------------------
    # Transactions

    async def charge(self, request: ChargeRequest) -> TransactionResult:
        """authCaptureTransaction (``capture=True``) or authOnlyTransaction, with duplicateWindow.

        A card number longer than the schema's 16 characters is answered locally with ERROR
        (``reason_code`` None, ``error`` says why) instead of being sent to certain rejection.
        """
        if isinstance(request.payment, Card) and len(request.payment.number) > MAX_CARD_NUMBER:
            result = TransactionResult(
                outcome=Outcome.ERROR,
                error=f"rejected locally, not sent: Authorize.net accepts card numbers of at most {MAX_CARD_NUMBER} digits",
            )
            log.warning("authorize.net charge invoice=%s %s", request.invoice_number, result.error)
            return result
        built = build_charge(self._creds, request, self._duplicate_window_s)
        return await self._transact(built, request.invoice_number)

    async def capture(
        self,
        transaction_id: str,
        amount_minor: int | None,
        currency: str,
        exponent: int,
        *,
        invoice_number: str | None = None,
        ref_id: str | None = None,
    ) -> TransactionResult:
        """priorAuthCaptureTransaction; ``amount_minor=None`` captures the full authorization."""
        _check_transaction_id(transaction_id)
        check_currency(currency, exponent)
        check_len("invoice_number", invoice_number, MAX_INVOICE_NUMBER)
        check_len("ref_id", ref_id, MAX_REF_ID)
        amount_text = None
        if amount_minor is not None:
            check_amount(amount_minor)
            amount_text = format_wire_amount(amount_minor, exponent)
        built = build_capture(self._creds, transaction_id, amount_text, currency, invoice_number, ref_id)
        return await self._transact(built, invoice_number)

    async def void(self, transaction_id: str, *, ref_id: str | None = None) -> TransactionResult:
        _check_transaction_id(transaction_id)
        check_len("ref_id", ref_id, MAX_REF_ID)
        return await self._transact(build_void(self._creds, transaction_id, ref_id), None)

    async def refund(
        self,
        transaction_id: str,
        amount_minor: int,
        currency: str,
        exponent: int,
        card_last4: str,
        *,
        invoice_number: str | None = None,
        ref_id: str | None = None,
    ) -> TransactionResult:
        """refundTransaction against a settled transaction: cardNumber = last 4, expiration "XXXX".

        ``card_last4`` may also be the gateway's masked form ("XXXX1111"). When an
        ``invoice_number`` is given (unique per refund), duplicateWindow is sent too, so an
        identical resend after an UNKNOWN outcome is answered as a duplicate instead of refunding
        twice; without one, equal partial refunds must not be blocked for hours.
        """
        _check_transaction_id(transaction_id)
        check_amount(amount_minor)
        check_currency(currency, exponent)
        check_len("invoice_number", invoice_number, MAX_INVOICE_NUMBER)
        check_len("ref_id", ref_id, MAX_REF_ID)
        match = _LAST4.fullmatch(card_last4) if isinstance(card_last4, str) else None
        if match is None:
            raise ValueError("card_last4 must be the card's last 4 digits")
        built = build_refund(
            self._creds,
            transaction_id,
            format_wire_amount(amount_minor, exponent),
            currency,
            match.group(1),
            invoice_number,
            ref_id,
            self._duplicate_window_s if invoice_number is not None else None,
        )
        return await self._transact(built, invoice_number)

    # ----------------------------------------------------------------------------------------
    # Reporting

    async def get_transaction_details(
        self, transaction_id: str, *, exponent: int = 2
    ) -> TransactionDetails | TransactionResult:
        """Details of one transaction, or a TransactionResult (UNKNOWN/NOT_SENT/ERROR) explaining
        why they could not be read. ``exponent`` converts the decimal amounts to minor units."""
        _check_transaction_id(transaction_id)
        built = build_details(self._creds, transaction_id)
        return await self._exchange(built, lambda doc: results.transaction_details(doc, exponent))

    async def list_unsettled(
        self, *, limit: int = 1000, offset: int = 1, exponent: int = 2
    ) -> list[TransactionSummary] | TransactionResult:
        """One page of getUnsettledTransactionList, newest first. ``offset`` is the 1-based page."""
        _check_page(limit, offset)
        built = build_unsettled(self._creds, limit, offset)
        return await self._exchange(built, lambda doc: results.unsettled_list(doc, exponent))

    async def list_settled_batches(
        self, *, first: datetime | None = None, last: datetime | None = None
    ) -> list[BatchSummary] | TransactionResult:
        """getSettledBatchList between two timezone-aware moments, at most 31 days apart.

        Without dates the gateway answers the last 24 hours.
        """
        for moment in (first, last):
            if moment is not None and moment.tzinfo is None:
                raise ValueError("settlement dates must be timezone-aware")
        if first is not None and last is not None and not timedelta(0) <= last - first <= MAX_SETTLEMENT_SPAN:
            raise ValueError("last must follow first by at most 31 days")
        built = build_settled_batches(self._creds, first, last)
        return await self._exchange(built, results.settled_batches)

    async def list_batch_transactions(
        self, batch_id: str, *, limit: int = 1000, offset: int = 1, exponent: int = 2
    ) -> list[TransactionSummary] | TransactionResult:
        """One page of getTransactionList for a settled batch, newest first (1-based ``offset``)."""
        _check_transaction_id(batch_id, "batch_id")
        _check_page(limit, offset)
        built = build_batch_transactions(self._creds, batch_id, limit, offset)
        return await self._exchange(built, lambda doc: results.batch_transaction_list(doc, exponent))

    # ----------------------------------------------------------------------------------------
    # Transport

    async def _transact(self, built: Built, invoice_number: str | None) -> TransactionResult:
        started = time.monotonic()
        result = await self._exchange(built, results.transaction_result)
        log.info(
            "authorize.net %s invoice=%s outcome=%s trans_id=%s reason=%s message=%s elapsed_ms=%d%s",
            built.operation,
            invoice_number,
            result.outcome.value,
            result.transaction_id,
            result.reason_code,
            result.message_code,
            (time.monotonic() - started) * 1000,
            f" error={result.error}" if result.error else "",
        )
        return result

    async def _exchange(
        self, built: Built, interpret: Callable[[Document], T]
    ) -> T | TransactionResult:
        """One API call, measured: latency by operation, count by operation and outcome."""
        started = time.perf_counter()
        result = await self._exchange_unmeasured(built, interpret)
        PROCESSOR_DURATION.labels(operation=built.operation).observe(time.perf_counter() - started)
        outcome = result.outcome.value if isinstance(result, TransactionResult) else "ok"
        PROCESSOR_REQUESTS.labels(operation=built.operation, outcome=outcome).inc()
        return result

    async def _exchange_unmeasured(
        self, built: Built, interpret: Callable[[Document], T]
    ) -> T | TransactionResult:
        try:
            status, content = await self._post_with_retries(built)
        except NOT_SENT_ERRORS as exc:
            return TransactionResult(
                outcome=Outcome.NOT_SENT,
                error=f"not sent after {self._attempts} attempt(s): {_describe(exc)}",
            )
        except UNSENDABLE_ERRORS as exc:
            return TransactionResult(outcome=Outcome.NOT_SENT, error=f"not sent: {_describe(exc)}")
        except Exception as exc:  # anything once the request may be on the wire
            log.warning("authorize.net %s outcome unknown: %s", built.operation, _describe(exc))
            return TransactionResult(outcome=Outcome.UNKNOWN, error=_describe(exc))

        if not 200 <= status < 300:
            error = f"HTTP {status} from processor"
            log.warning("authorize.net %s outcome unknown: %s", built.operation, error)
            return TransactionResult(outcome=Outcome.UNKNOWN, error=error)
        try:
            return interpret(parse_response(content))
        except ResponseParseError as exc:
            error = f"{exc} (HTTP {status}, {len(content)} bytes)"
        except Exception as exc:  # a bug in interpretation must not turn into a decline
            log.exception("authorize.net %s: could not interpret response", built.operation)
            error = f"could not interpret response: {type(exc).__name__}"
        log.warning("authorize.net %s outcome unknown: %s", built.operation, error)
        return TransactionResult(outcome=Outcome.UNKNOWN, error=error)

    async def _post_with_retries(self, built: Built) -> tuple[int, bytes]:
        try:  # the common case, answered on the first attempt, builds no retry state
            return await self._post_once(built.body)
        except NOT_SENT_ERRORS as exc:
            if self._attempts == 1:
                raise
            first_error = exc
        initial, maximum, jitter = self._backoff
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._attempts),
            wait=wait_exponential_jitter(multiplier=initial, max=maximum, jitter=jitter),
            retry=retry_if_exception_type(NOT_SENT_ERRORS),
            before_sleep=self._log_retry(built.operation),
            reraise=True,
        )
        failed_once = [first_error]

        async def attempt() -> tuple[int, bytes]:
            if failed_once:  # attempt 1 already ran above: replay its failure to tenacity
                raise failed_once.pop()
            return await self._post_once(built.body)

        return await retrying(attempt)

    async def _post_once(self, body: bytes) -> tuple[int, bytes]:
        return await self._send(self._url, body, _HEADERS)

    def _log_retry(self, operation: str) -> Callable[[RetryCallState], Awaitable[None] | None]:
        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            log.info(
                "authorize.net %s not sent (attempt %d/%d: %s); retrying in %.2fs",
                operation,
                state.attempt_number,
                self._attempts,
                _describe(exc) if exc else "?",
                state.next_action.sleep if state.next_action else 0.0,
            )

        return before_sleep
