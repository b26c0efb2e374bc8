"""Actors of the ``payments`` queue. Thin: ids in, one engine call, errors mapped to retries."""

from __future__ import annotations

import logging
import uuid

import dramatiq
from dramatiq.middleware import CurrentMessage

from engine.logcontext import bind_context
from engine.processing import process_payment as charge
from engine.resends import ProcessorUnavailable
from engine.sealing import SealKeyUnknown
from workers import runtime
from jobs.names import PAYMENTS_QUEUE, PROCESS_PAYMENT, REMOVED_ARGUMENT, RETRY

log = logging.getLogger(__name__)

MAX_RETRIES = RETRY.max_retries


@dramatiq.actor(
    actor_name=PROCESS_PAYMENT,
    queue_name=PAYMENTS_QUEUE,
    **RETRY.options(),
)
async def process_payment(payment_id: str, sealed_method: str, request_id: str | None = None) -> None:
    """Charge one payment. The correlation ids come bound from ``options["log_context"]``
    (``workers.observability.LogContext``); ``request_id`` is accepted for messages queued
    before that option existed."""
    message = CurrentMessage.get_current_message()
    message_id = message.message_id if message else "direct-call"
    retries = message.options.get("retries", 0) if message else 0
    with bind_context(request_id=request_id, payment_id=payment_id, message_id=message_id):
        deps = await runtime.processing_deps()
        sealed: str | None = sealed_method
        if sealed_method == REMOVED_ARGUMENT:
            # A retried dead letter (``workers.dead_letters``): only the stash copy can charge.
            sealed = await deps.stash.get(uuid.UUID(payment_id)) if deps.stash is not None else None
            if sealed is None:
                log.warning("retried dead letter: the sealed payment method is gone")
        try:
            result = await charge(
                deps,
                uuid.UUID(payment_id),
                sealed,
                message_id=message_id,
                final_attempt=retries >= MAX_RETRIES,
            )
        except ProcessorUnavailable as exc:
            log.warning("processor unavailable (retry %d of %d): %s", retries, MAX_RETRIES, exc)
            raise
        except SealKeyUnknown as exc:
            log.warning("card key rotation under way (retry %d of %d): %s", retries, MAX_RETRIES, exc)
            raise
        log.info("payment job done: %s", result.value)
