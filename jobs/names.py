"""Names and message options of the queue contract: what a sender and an actor agree on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: Prefix of every Redis key of the broker (Dramatiq's ``namespace``).
NAMESPACE = "easypay"

PAYMENTS_QUEUE = "payments"
PROCESS_PAYMENT = "process_payment"
WEBHOOKS_QUEUE = "webhooks"
#: A batch of deliveries leased by ``easypay webhooks dispatch``, handed to a pool's runner.
DELIVER_WEBHOOKS = "deliver_webhooks"
#: The scheduler's tick (every second): the pool process that gets it claims due deliveries now.
DISPATCH_WEBHOOKS = "dispatch_webhook_deliveries"
#: A delivery message older than this is dropped: its leases have long expired and the
#: deliveries have been claimed again.
WEBHOOK_MESSAGE_MAX_AGE_MS = 3600 * 1000
CAPTURE_PAYMENT = "capture_payment"
VOID_PAYMENT = "void_payment"
PROCESS_REFUND = "process_refund"
RECONCILE_PAYMENT = "reconcile_payment"
#: Reconciliation and the sweeps: their own queue and pool, so a backlog of charges never delays
#: them and they never take the charges' workers.
RECOVERY_QUEUE = "recovery"
#: Batch jobs, one message per scheduler tick (``schedules/``), on ``recovery``.
RECONCILE_DUE = "reconcile_due"
SYNC_SETTLEMENT = "sync_settlement"
EXPIRE_AUTHORIZATIONS = "expire_authorizations"
SWEEP_PENDING = "sweep_pending"
#: A batch-job message older than this is dropped: the next tick sends a fresh one.
JOB_MESSAGE_MAX_AGE_MS = 15 * 60 * 1000
#: A payment message older than this is not processed (the pending sweep re-enqueues the payment).
PAYMENT_MESSAGE_MAX_AGE_MS = 24 * 3600 * 1000


@dataclass(frozen=True)
class RetryPolicy:
    """Dramatiq's retry settings: how often a failed message is retried and how long it waits
    (exponential backoff between ``min_backoff_ms`` and ``max_backoff_ms``)."""

    max_retries: int
    min_backoff_ms: int
    max_backoff_ms: int

    def options(self) -> dict[str, Any]:
        """As keyword arguments of ``dramatiq.actor`` and of the ``Retries`` middleware."""
        return {"max_retries": self.max_retries, "min_backoff": self.min_backoff_ms, "max_backoff": self.max_backoff_ms}


#: The one retry policy of the payment actors (and the broker's default).
RETRY = RetryPolicy(max_retries=10, min_backoff_ms=1000, max_backoff_ms=60_000)

#: What stands in a dead-lettered message for an argument that carried sealed card data
#: (``workers.dead_letters.ScrubSealedArguments``); the actor then reads the method's stash copy.
REMOVED_ARGUMENT = "[removed]"
#: Positions of the arguments that carry sealed card data, per actor.
SEALED_ARGUMENTS: dict[str, tuple[int, ...]] = {PROCESS_PAYMENT: (1,)}
