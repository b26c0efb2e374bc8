"""The periodic jobs of the engine. Each line: name, interval, what it enqueues (and on which queue)."""

from __future__ import annotations

from schedules.registry import REGISTRY, enqueue
from engine.webhooks import dispatch as webhooks
from jobs.names import (
    DISPATCH_WEBHOOKS,
    EXPIRE_AUTHORIZATIONS,
    RECONCILE_DUE,
    RECOVERY_QUEUE,
    SWEEP_PENDING,
    SYNC_SETTLEMENT,
    WEBHOOKS_QUEUE,
)

REGISTRY.add("settlement_sync", lambda s: s.lifecycle.settlement_sync_interval_s, enqueue(SYNC_SETTLEMENT, queue=RECOVERY_QUEUE))
REGISTRY.add("expire_authorizations", lambda s: s.lifecycle.expiry_interval_s, enqueue(EXPIRE_AUTHORIZATIONS, queue=RECOVERY_QUEUE))
REGISTRY.add("reconcile", lambda s: s.lifecycle.reconcile_interval_s, enqueue(RECONCILE_DUE, queue=RECOVERY_QUEUE))
REGISTRY.add("pending_sweep", lambda s: s.lifecycle.pending_sweep_interval_s, enqueue(SWEEP_PENDING, queue=RECOVERY_QUEUE))
REGISTRY.add("webhook_dispatch", webhooks.INTERVAL_S, enqueue(DISPATCH_WEBHOOKS, queue=WEBHOOKS_QUEUE))
