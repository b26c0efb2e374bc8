"""Actors for captures, voids, refunds, reconciliation and the scheduled batch jobs.

Thin: ids in, one engine call. ``ProcessorUnavailable`` (nothing reached the processor) is
re-raised so Dramatiq retries with backoff; the sweeps pick up anything whose retries ran out.
"""

from __future__ import annotations

import logging
import uuid

import dramatiq

from engine import operations, reconcile
from engine.logcontext import bind_context
from workers import runtime
from jobs.names import (
    CAPTURE_PAYMENT,
    EXPIRE_AUTHORIZATIONS,
    PAYMENTS_QUEUE,
    PROCESS_REFUND,
    RETRY,
    RECONCILE_DUE,
    RECONCILE_PAYMENT,
    SWEEP_PENDING,
    SYNC_SETTLEMENT,
    VOID_PAYMENT,
)

log = logging.getLogger(__name__)

_OPTIONS = {"queue_name": PAYMENTS_QUEUE, **RETRY.options()}
#: Batch jobs are not retried: the next scheduler slot runs them again.
_JOB_OPTIONS = {"queue_name": PAYMENTS_QUEUE, "max_retries": 0}


@dramatiq.actor(actor_name=CAPTURE_PAYMENT, **_OPTIONS)
async def capture_payment(payment_id: str) -> None:
    with bind_context(payment_id=payment_id):
        result = await operations.execute_capture(await runtime.processing_deps(), uuid.UUID(payment_id))
        log.info("capture job done: %s", result.value)


@dramatiq.actor(actor_name=VOID_PAYMENT, **_OPTIONS)
async def void_payment(payment_id: str) -> None:
    with bind_context(payment_id=payment_id):
        result = await operations.execute_void(await runtime.processing_deps(), uuid.UUID(payment_id))
        log.info("void job done: %s", result.value)


@dramatiq.actor(actor_name=PROCESS_REFUND, **_OPTIONS)
async def process_refund(refund_id: str) -> None:
    with bind_context(refund_id=refund_id):
        result = await operations.execute_refund(await runtime.processing_deps(), uuid.UUID(refund_id))
        log.info("refund job done: %s", result.value)


@dramatiq.actor(actor_name=RECONCILE_PAYMENT, **_OPTIONS)
async def reconcile_payment(payment_id: str) -> None:
    with bind_context(payment_id=payment_id):
        outcome = await reconcile.reconcile_payment(await runtime.processing_deps(), uuid.UUID(payment_id))
        log.info("reconcile job done: %s", outcome)


@dramatiq.actor(actor_name=RECONCILE_DUE, **_JOB_OPTIONS)
async def reconcile_due() -> None:
    log.info("reconcile_due: %s", await reconcile.reconcile_due(await runtime.processing_deps()))


@dramatiq.actor(actor_name=SYNC_SETTLEMENT, **_JOB_OPTIONS)
async def sync_settlement() -> None:
    log.info("sync_settlement: %d settled", await reconcile.sync_settlement(await runtime.processing_deps()))


@dramatiq.actor(actor_name=EXPIRE_AUTHORIZATIONS, **_JOB_OPTIONS)
async def expire_authorizations() -> None:
    log.info("expire_authorizations: %d expired", await reconcile.expire_authorizations(await runtime.processing_deps()))


@dramatiq.actor(actor_name=SWEEP_PENDING, **_JOB_OPTIONS)
async def sweep_pending() -> None:
    log.info("sweep_pending: %s", await reconcile.sweep_pending(await runtime.processing_deps()))
