"""Actors for captures, voids, refunds, reconciliation and the scheduled batch jobs.

Thin: ids in, one engine call. ``ProcessorUnavailable`` (nothing reached the processor) is
re-raised so Dramatiq retries with backoff; the sweeps pick up anything whose retries ran out.

Reconciliation and the batch jobs are on the ``recovery`` queue (their own pool). A batch run is
single-flight (``engine.single_flight``): a copy enqueued while the previous run is still going
exits at once. A failed run is logged and left to the next scheduled one (never dead-lettered).
"""

from __future__ import annotations

import logging
import uuid
from typing import Any, Awaitable, Callable

import dramatiq

from engine import operations, reconcile, sweeps
from engine.logcontext import bind_context
from engine.processing import ProcessingDeps
from engine.single_flight import run_single_flight
from workers import runtime
from jobs.names import (
    CAPTURE_PAYMENT,
    EXPIRE_AUTHORIZATIONS,
    PAYMENTS_QUEUE,
    PROCESS_REFUND,
    RETRY,
    RECONCILE_DUE,
    RECONCILE_PAYMENT,
    RECOVERY_QUEUE,
    SWEEP_PENDING,
    SYNC_SETTLEMENT,
    VOID_PAYMENT,
)

log = logging.getLogger(__name__)

_OPTIONS = {"queue_name": PAYMENTS_QUEUE, **RETRY.options()}
#: Batch jobs are not retried: the next scheduler slot runs them again.
_JOB_OPTIONS = {"queue_name": RECOVERY_QUEUE, "max_retries": 0}


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


@dramatiq.actor(actor_name=RECONCILE_PAYMENT, **{**_OPTIONS, "queue_name": RECOVERY_QUEUE})
async def reconcile_payment(payment_id: str) -> None:
    with bind_context(payment_id=payment_id):
        outcome = await reconcile.reconcile_payment(await runtime.processing_deps(), uuid.UUID(payment_id))
        log.info("reconcile job done: %s", outcome)


async def _run_batch(job: str, work: Callable[[ProcessingDeps], Awaitable[Any]]) -> None:
    deps = await runtime.processing_deps()
    try:
        ran, result = await run_single_flight(deps.jobs.redis, runtime.settings().redis.key_prefix, job, lambda: work(deps))
    except Exception as exc:  # noqa: BLE001 - the next scheduled run tries again
        log.warning("%s failed (%s); the next scheduled run tries again", job, type(exc).__name__)
        return
    if ran:
        log.info("%s: %s", job, result)


@dramatiq.actor(actor_name=RECONCILE_DUE, **_JOB_OPTIONS)
async def reconcile_due() -> None:
    await _run_batch(RECONCILE_DUE, reconcile.reconcile_due)


@dramatiq.actor(actor_name=SYNC_SETTLEMENT, **_JOB_OPTIONS)
async def sync_settlement() -> None:
    await _run_batch(SYNC_SETTLEMENT, sweeps.sync_settlement)


@dramatiq.actor(actor_name=EXPIRE_AUTHORIZATIONS, **_JOB_OPTIONS)
async def expire_authorizations() -> None:
    await _run_batch(EXPIRE_AUTHORIZATIONS, sweeps.expire_authorizations)


@dramatiq.actor(actor_name=SWEEP_PENDING, **_JOB_OPTIONS)
async def sweep_pending() -> None:
    await _run_batch(SWEEP_PENDING, sweeps.sweep_pending)
