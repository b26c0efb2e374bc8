"""The one resend loop: send a processor request, and resend the identical request while its
outcome is unknown.

Resending is safe because every request carries the same invoice number and Authorize.net's
``duplicateWindow``: a copy that arrives after the first one ran is answered as a duplicate of it,
never charged again (``docs/authorizenet.md``, "duplicateWindow"). The waits double from ``backoff_s``.

A request that certainly never reached the processor (``NOT_SENT`` before anything could have
been sent) raises ``ProcessorUnavailable``: nothing happened, the job may be retried later. Once a
send may have landed, even a ``NOT_SENT`` is resent rather than given up, since giving up there
could leave a charge the engine does not know about.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from engine.errors import EasyPayError
from engine.processor import Outcome, TransactionResult


class ProcessorUnavailable(EasyPayError):
    """The processor could not be reached at all; nothing was sent. Safe to retry later."""

    def __init__(self, error: str | None = None) -> None:
        super().__init__(error or "processor unreachable")
        #: What the transport said (None when it said nothing).
        self.error = error


async def send_with_resends(
    call: Callable[[], Awaitable[TransactionResult]],
    *,
    resends: int,
    backoff_s: float,
    sleep: Callable[[float], Awaitable[Any]],
    maybe_sent: bool = False,
    before_resend: Callable[[], Awaitable[None]] | None = None,
    resolve_duplicate: Callable[[TransactionResult], Awaitable[TransactionResult | None]] | None = None,
) -> TransactionResult | None:
    """The first answer that is not ``UNKNOWN``, else the last ``UNKNOWN`` answer, else None.

    ``maybe_sent``: an earlier delivery may already have sent this request. ``before_resend`` runs
    before each resend (the charge records "a request may be on its way" there).
    ``resolve_duplicate`` turns a ``DUPLICATE`` answer into what the first request did (None: not
    readable yet, resend).
    """
    last: TransactionResult | None = None
    for attempt in range(resends + 1):
        if attempt:
            await sleep(backoff_s * 2 ** (attempt - 1))
            if before_resend is not None:
                await before_resend()
        sent = await call()
        if sent.outcome == Outcome.NOT_SENT:
            if not maybe_sent:
                raise ProcessorUnavailable(sent.error)
            continue  # an earlier send may have landed: keep resending the identical request
        maybe_sent = True
        if sent.outcome == Outcome.DUPLICATE and resolve_duplicate is not None:
            resolved = await resolve_duplicate(sent)
            if resolved is None:
                continue
            sent = resolved
        last = sent
        if sent.outcome != Outcome.UNKNOWN:
            return sent
    return last


def unanswered(result: TransactionResult | None) -> bool:
    """True when no definitive answer came back (nothing, or only ``UNKNOWN``)."""
    return result is None or result.outcome == Outcome.UNKNOWN
