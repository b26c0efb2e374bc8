"""A job's cache snapshots of the payment it works on: written now, or deferred a moment.

The charge job claims a payment (``processing``) and, almost always within milliseconds, records
its outcome. The claim's snapshot is therefore deferred by ``DEFER_S``: an outcome written
sooner supersedes it, and it would only have cost a cache write and a change notification that
no reader could act on. PostgreSQL has the claim at once; the cache shows ``pending`` meanwhile,
as it would for a claim made that much later. A deferred snapshot is written whatever happens to
the job meanwhile (an exception, a retry later): the claim stands, so the cache must show it.
"""

from __future__ import annotations

import asyncio
import uuid

from engine.cache import PaymentCache
from engine.db.records import PaymentRecord
from engine.views import payment_view

#: Longer than most charges take (an answer in 250 ms is common): only a slower one writes its
#: claim's snapshot. Was 0.05 s, which wrote two snapshots per payment at 200 ms.
DEFER_S = 0.25

#: Deferred snapshots by payment (Dramatiq runs every actor of a process on one event loop).
_deferred: dict[uuid.UUID, asyncio.TimerHandle] = {}
#: Writes started by a deferred snapshot (kept referenced until done).
_writing: set[asyncio.Task[None]] = set()


def pending(payment_id: uuid.UUID) -> bool:
    """Whether a deferred snapshot of the payment is still due."""
    return payment_id in _deferred


def write_soon(cache: PaymentCache, row: PaymentRecord) -> None:
    """Write ``row``'s snapshot in ``DEFER_S`` unless ``write_now`` writes a newer one first."""
    _drop(row.id)

    def write() -> None:
        _deferred.pop(row.id, None)
        task = asyncio.ensure_future(_put(cache, row))
        _writing.add(task)
        task.add_done_callback(_writing.discard)

    _deferred[row.id] = asyncio.get_running_loop().call_later(DEFER_S, write)


async def write_now(cache: PaymentCache, row: PaymentRecord) -> None:
    """Write ``row``'s snapshot; a deferred older one of the same payment is dropped (the cache
    keeps the newest version anyway, so a deferred write already under way is harmless)."""
    _drop(row.id)
    await _put(cache, row)


def _drop(payment_id: uuid.UUID) -> None:
    deferred = _deferred.pop(payment_id, None)
    if deferred is not None:
        deferred.cancel()


async def _put(cache: PaymentCache, row: PaymentRecord) -> None:
    await cache.put(payment_view(row), version=row.version, merchant_id=row.merchant_id)
