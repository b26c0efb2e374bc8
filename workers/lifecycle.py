"""Actors for captures, voids, refunds, reconciliation and the scheduled batch jobs.

Thin: ids in, one engine call. ``ProcessorUnavailable`` (nothing reached the processor) is
re-raised so Dramatiq retries with backoff; the sweeps pick up anything whose retries ran out.

Reconciliation and the batch jobs are on the ``recovery`` queue (their own pool). A batch run is
single-flight (``engine.single_flight``): a copy enqueued while the previous run is still going
exits at once. A PostgreSQL or Redis blip is waited out (``engine.outages.through_outages``); a
failed run is logged and left to the next scheduled one (never dead-lettered).
"""

from __future__ import annotations

import logging
import uuid
from typing import Any, Awaitable, Callable

import dramatiq

from engine import operations, reconcile, sweeps
from engine.logcontext import bind_context
from engine.outages import through_outages
from engine.job_deps import ProcessingDeps
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
_JOB_OPTIONS: dict[str, Any] = {"queue_name": RECOVERY_QUEUE, "max_retries": 0}


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
    async def once() -> tuple[bool, Any]:
        deps = await runtime.processing_deps()
        return await run_single_flight(deps.jobs.redis, runtime.settings().redis.key_prefix, job, lambda: work(deps))

    try:
        done, outcome = await through_outages(once, what=job)
    except Exception:  # noqa: BLE001 - a bug: logged with its traceback; the next scheduled run tries again
        log.exception("%s failed; the next scheduled run tries again", job)
        return
    if done and outcome is not None and outcome[0]:
        log.info("%s: %s", job, outcome[1])


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
