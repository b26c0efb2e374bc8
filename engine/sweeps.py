"""The sweeps the scheduler runs on the ``recovery`` queue: settlement sync, authorization expiry
and the pending sweep.

**The pending sweep never replaces work that is still queued.** A payment still ``pending`` after
``PENDING_SWEEP_AFTER_S`` may have lost its queue message — or it may simply be waiting behind
thousands of others. Age alone cannot tell the two apart, so the sweep asks the broker: one atomic
pass over the messages it holds on ``payments`` (``JobSender.held_subjects``) — waiting, fetched by
a worker, on a dead worker until it is handed back, or waiting for a retry — and re-enqueues only
the payments for which there is none (the message was lost, dead-lettered, or is past its age
limit). Captures, voids and refunds stale for ``RECONCILE_MIN_AGE_S`` are re-enqueued by the same
rule. Under a backlog the sweep therefore re-enqueues nothing, however often it runs; a stash
marker (``MethodStash.mark_resent``) still limits a payment to one re-enqueue per
``PENDING_SWEEP_AFTER_S``.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import datetime, timedelta, timezone

from sqlalchemy import func

from engine import job_snapshots as snapshots
from engine import method_loss, operations
from engine.db import payments as repo
from engine.db import recovery as recovery_repo
from engine.metrics import record_payment_status
from engine.money import currency_exponent
from engine.job_deps import ProcessingDeps
from engine.outcomes import finish_failed
from engine.processor import TransactionDetails
from engine.states import IllegalTransition, PaymentStatus, Trigger

log = logging.getLogger(__name__)

#: A run starts no new processor lookup after this long (well inside the worker's time limit).
RUN_BUDGET_S = 120.0


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(timezone.utc)


async def sync_settlement(deps: ProcessingDeps) -> int:
    """Record captures the processor has settled (refunds need it); returns how many."""
    async with deps.engine.connect() as conn:
        rows = await recovery_repo.unsettled_captures(conn, limit=deps.lifecycle.batch_size)
    settled = 0
    started_s = time.monotonic()
    for row in rows:
        if time.monotonic() - started_s > RUN_BUDGET_S:
            break
        details = await deps.client.get_transaction_details(row.processor_transaction_id, exponent=currency_exponent(row.currency))
        if isinstance(details, TransactionDetails) and details.status == "settledSuccessfully":
            await operations.mark_settled(deps, row.id)
            settled += 1
    return settled


async def expire_authorizations(deps: ProcessingDeps, *, now: datetime | None = None) -> int:
    """Authorizations older than ``AUTH_EXPIRY_S`` with nothing pending become ``expired``."""
    cutoff = _now(now) - timedelta(seconds=deps.lifecycle.auth_expiry_s)
    async with deps.engine.connect() as conn:
        ids = await recovery_repo.expirable_authorization_ids(conn, cutoff=cutoff, limit=deps.lifecycle.batch_size)
    expired = 0
    for payment_id in ids:
        async with deps.engine.begin() as conn:
            row = await repo.get_payment(conn, payment_id, for_update=True)
            if row is None or row.pending_operation is not None or row.status != PaymentStatus.AUTHORIZED:
                continue
            row = await repo.transition(conn, payment_id, Trigger.EXPIRE, data={"reason": "not captured in time"}, locked=row)
        record_payment_status(row.status)
        await snapshots.write_now(deps.cache, row)
        expired += 1
    return expired


async def sweep_pending(deps: ProcessingDeps, *, now: datetime | None = None) -> dict[str, int]:
    """Re-enqueue work whose queue message is gone (see the module docstring).

    * payments still ``pending``: re-enqueued with the stashed sealed method; when it is gone
      nothing can be charged and the payment fails (it never reached the processor) with
      ``payment_method_expired`` if ``CARD_MESSAGE_TTL_S`` has passed since it was accepted, else
      ``payment_method_lost`` (Redis lost the copy and the message: ``engine.method_loss``);
    * captures/voids and refunds still pending without an unknown outcome: re-enqueued (resending
      them is safe, see ``engine.operations``).

    ``queued`` counts the stale items left alone because the broker still holds their message;
    ``maybe_queued`` the pending payments without a stash copy that may still have one (RabbitMQ,
    its held counter lost with the cache Redis: ``JobSender.vouched_unheld``), left for their
    message until the TTL has passed.
    """
    now = _now(now)
    limit = deps.lifecycle.batch_size
    stale_work = now - timedelta(seconds=deps.lifecycle.reconcile_min_age_s)
    async with deps.engine.connect() as conn:
        pending_ids = await recovery_repo.stale_pending_ids(
            conn, before=now - timedelta(seconds=deps.lifecycle.pending_sweep_after_s), limit=limit
        )
        operation_rows = await recovery_repo.stale_operations(conn, before=stale_work, limit=limit)
        refund_ids = await recovery_repo.stale_refund_ids(conn, before=stale_work, limit=limit)
    candidates = [*pending_ids, *(row.id for row in operation_rows), *refund_ids]
    queued: set[uuid.UUID] = await deps.jobs.held_subjects(candidates) if candidates and deps.jobs is not None else set()
    counts = {"requeued": 0, "expired": 0, "lost": 0, "maybe_queued": 0, "operations": 0, "refunds": 0, "queued": 0}
    without_method: list[uuid.UUID] = []
    for payment_id in pending_ids:
        if payment_id in queued:
            counts["queued"] += 1
            continue
        sealed = await deps.stash.get(payment_id) if deps.stash is not None else None
        if sealed is not None:
            if await deps.stash.mark_resent(payment_id, ttl_s=deps.lifecycle.pending_sweep_after_s):
                await deps.jobs.process_payment(payment_id, sealed, request_id=None)
                log.info("payment %s: its queue message is gone; re-enqueued", payment_id)
                counts["requeued"] += 1
        else:
            without_method.append(payment_id)
    vouched = await deps.jobs.vouched_unheld(without_method) if without_method and deps.jobs is not None else set(without_method)
    for payment_id in without_method:
        outcome = await _fail_pending_without_method(deps, payment_id, now, vouched=payment_id in vouched)
        if outcome is not None:
            counts[outcome] += 1
    for row in operation_rows:
        if row.id in queued:
            counts["queued"] += 1
            continue
        sender = deps.jobs.capture_payment if row.pending_operation == "capture" else deps.jobs.void_payment
        await sender(row.id)
        counts["operations"] += 1
    for refund_id in refund_ids:
        if refund_id in queued:
            counts["queued"] += 1
            continue
        await deps.jobs.process_refund(refund_id)
        counts["refunds"] += 1
    return counts


async def _fail_pending_without_method(deps: ProcessingDeps, payment_id: uuid.UUID, now: datetime, *, vouched: bool) -> str | None:
    """Fail a pending payment whose sealed method is gone: claimed by the sweep, then failed as
    expired or lost (``engine.method_loss``). Returns the count it goes in: ``expired``, ``lost``,
    ``maybe_queued`` (gone before its TTL, but the broker cannot vouch that it holds no message:
    RabbitMQ's held counter went with the cache Redis, and its message still carries the card), or
    None (a worker claimed it meanwhile)."""
    async with deps.engine.connect() as conn:
        row = await repo.get_payment(conn, payment_id)
    if row is None or row.status != PaymentStatus.PENDING:
        return None
    code = method_loss.gone_method_code(row.created_at, ttl_s=deps.card_message_ttl_s, now=now)
    if code == method_loss.LOST and not vouched:
        return "maybe_queued"  # once the TTL has passed, no message of it could be opened either
    try:
        async with deps.engine.begin() as conn:
            await repo.transition(
                conn,
                payment_id,
                Trigger.CLAIM,
                changes={"processing_message_id": "pending-sweep", "processing_started_at": func.now()},
                data={"message_id": "pending-sweep"},
                expected_status=PaymentStatus.PENDING,
            )
    except IllegalTransition:
        return None  # a worker claimed it meanwhile
    detail = (
        "sealed payment method expired before processing"
        if code == method_loss.EXPIRED
        else "sealed payment method and queue message lost before processing (before CARD_MESSAGE_TTL_S)"
    )
    await finish_failed(deps, payment_id, code, detail)
    return "expired" if code == method_loss.EXPIRED else "lost"


__all__ = ["expire_authorizations", "sweep_pending", "sync_settlement"]
